package dev.caskade.bench;

import java.util.List;
import java.util.Map;

/** Just enough JSON writing for the reopen results (maps, lists, strings, numbers, null): no library needed. */
final class Json {
    private Json() {}

    static String write(Object value) {
        StringBuilder out = new StringBuilder();
        write(out, value, "");
        return out.toString();
    }

    private static void write(StringBuilder out, Object value, String indent) {
        switch (value) {
            case null -> out.append("null");
            case Number n -> out.append(n);
            case Boolean b -> out.append(b);
            case String s -> string(out, s);
            case Map<?, ?> map -> {
                out.append("{");
                String inner = indent + "  ";
                boolean first = true;
                for (Map.Entry<?, ?> e : map.entrySet()) {
                    out.append(first ? "\n" : ",\n").append(inner);
                    string(out, String.valueOf(e.getKey()));
                    out.append(": ");
                    write(out, e.getValue(), inner);
                    first = false;
                }
                out.append(first ? "}" : "\n" + indent + "}");
            }
            case List<?> list -> {
                out.append("[");
                for (int i = 0; i < list.size(); i++) {
                    if (i > 0) out.append(", ");
                    write(out, list.get(i), indent);
                }
                out.append("]");
            }
            default -> string(out, value.toString());
        }
    }

    private static void string(StringBuilder out, String s) {
        out.append('"');
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
                    else out.append(c);
                }
            }
        }
        out.append('"');
    }
}
