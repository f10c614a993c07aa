package dev.caskade.cli;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import java.util.Optional;

/** Just enough JSON writing for the CLI's output: flat objects, strings, numbers, booleans, arrays. */
final class Json {
    private final StringBuilder text = new StringBuilder("{");

    private Json() {}

    static Json object() {
        return new Json();
    }

    Json add(String name, String value) {
        name(name);
        if (value == null) text.append("null");
        else quote(value, text);
        return this;
    }

    Json add(String name, long value) {
        name(name);
        text.append(value);
        return this;
    }

    Json add(String name, boolean value) {
        name(name);
        text.append(value);
        return this;
    }

    /** {@code "name":"text"} when the bytes are valid UTF-8, otherwise {@code "name_base64":"..."}. */
    Json addBytes(String name, byte[] value) {
        Optional<String> s = utf8(value);
        return s.isPresent()
                ? add(name, s.get())
                : add(name + "_base64", Base64.getEncoder().encodeToString(value));
    }

    /** A member whose value is already JSON text (an array, a nested object). */
    Json addRaw(String name, String json) {
        name(name);
        text.append(json);
        return this;
    }

    private void name(String name) {
        if (text.length() > 1) text.append(',');
        quote(name, text);
        text.append(':');
    }

    @Override
    public String toString() {
        return text + "}";
    }

    /** A JSON array of elements that are already JSON text. */
    static String array(List<String> elements) {
        return "[" + String.join(",", elements) + "]";
    }

    /** {@code s} as a JSON string literal. */
    static String quote(String s) {
        StringBuilder b = new StringBuilder(s.length() + 2);
        quote(s, b);
        return b.toString();
    }

    private static void quote(String s, StringBuilder out) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case '\b' -> out.append("\\b");
                case '\f' -> out.append("\\f");
                default -> {
                    if (Character.isHighSurrogate(c)
                            && i + 1 < s.length()
                            && Character.isLowSurrogate(s.charAt(i + 1))) {
                        out.append(c).append(s.charAt(++i)); // a valid pair: the character as it is
                    } else if (c < 0x20 || Character.isSurrogate(c)) {
                        // control characters must be escaped; a lone surrogate cannot be encoded in UTF-8
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }

    /** The bytes decoded as UTF-8, or empty when they are not valid UTF-8. */
    static Optional<String> utf8(byte[] bytes) {
        try {
            return Optional.of(StandardCharsets.UTF_8
                    .newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes))
                    .toString());
        } catch (CharacterCodingException e) {
            return Optional.empty();
        }
    }
}
