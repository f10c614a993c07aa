package dev.caskade.cli;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * One line typed at the shell, split into words the way redis-cli splits them: blanks separate words;
 * {@code "..."} holds blanks and the escapes {@code \n \r \t \b \a \" \\} and {@code \xHH} (any byte, so values
 * are binary-safe); {@code '...'} holds everything literally but {@code \'}. Words are bytes.
 */
record ShellLine(List<byte[]> words) {

    /** Splits {@code line}; unbalanced quotes and a quote glued to the next word are errors. */
    static ShellLine parse(String line) {
        List<byte[]> words = new ArrayList<>();
        int i = 0;
        int n = line.length();
        while (true) {
            while (i < n && Character.isWhitespace(line.charAt(i))) i++;
            if (i == n) return new ShellLine(List.copyOf(words));
            ByteArrayOutputStream word = new ByteArrayOutputStream();
            char quote = 0;
            while (true) {
                if (i == n) {
                    if (quote != 0) throw new IllegalArgumentException("unbalanced quotes");
                    break;
                }
                char c = line.charAt(i);
                if (quote == '"') {
                    if (c == '\\' && i + 1 < n) {
                        char e = line.charAt(i + 1);
                        if (e == 'x' && i + 3 < n && hex(line, i + 2)) {
                            word.write(Character.digit(line.charAt(i + 2), 16) << 4
                                    | Character.digit(line.charAt(i + 3), 16));
                            i += 4;
                            continue;
                        }
                        switch (e) {
                            case 'n' -> word.write('\n');
                            case 'r' -> word.write('\r');
                            case 't' -> word.write('\t');
                            case 'b' -> word.write('\b');
                            case 'a' -> word.write(7);
                            default -> { // the character itself: \" and \\ among them
                                int cp = line.codePointAt(i + 1);
                                word.writeBytes(Character.toString(cp).getBytes(StandardCharsets.UTF_8));
                                i += Character.charCount(cp) - 1;
                            }
                        }
                        i += 2;
                        continue;
                    }
                    if (c == '"') {
                        closeQuote(line, i);
                        quote = 0;
                        i++;
                        break;
                    }
                } else if (quote == '\'') {
                    if (c == '\\' && i + 1 < n && line.charAt(i + 1) == '\'') {
                        word.write('\'');
                        i += 2;
                        continue;
                    }
                    if (c == '\'') {
                        closeQuote(line, i);
                        quote = 0;
                        i++;
                        break;
                    }
                } else {
                    if (Character.isWhitespace(c)) break;
                    if (c == '"' || c == '\'') {
                        quote = c;
                        i++;
                        continue;
                    }
                }
                int cp = line.codePointAt(i);
                word.writeBytes(Character.toString(cp).getBytes(StandardCharsets.UTF_8));
                i += Character.charCount(cp);
            }
            words.add(word.toByteArray());
        }
    }

    private static boolean hex(String s, int at) {
        return Character.digit(s.charAt(at), 16) >= 0 && Character.digit(s.charAt(at + 1), 16) >= 0;
    }

    private static void closeQuote(String line, int at) {
        if (at + 1 < line.length() && !Character.isWhitespace(line.charAt(at + 1))) {
            throw new IllegalArgumentException("a closing quote must be followed by a blank");
        }
    }

    /** The word at {@code index} as UTF-8 text. */
    String text(int index) {
        return new String(words.get(index), StandardCharsets.UTF_8);
    }

    int size() {
        return words.size();
    }

    /**
     * {@code bytes} as the shell prints a value: as they are when they are UTF-8 text without control characters,
     * else double-quoted with escapes, which the shell reads back as the same bytes.
     */
    static String display(byte[] bytes) {
        var text = Json.utf8(bytes);
        if (text.isPresent() && text.get().codePoints().noneMatch(c -> c < 0x20 && c != '\t' || c == 0x7f)) {
            return text.get();
        }
        return quote(bytes);
    }

    /** {@code bytes} in double quotes, escaped so that {@link #parse} gives them back. */
    static String quote(byte[] bytes) {
        StringBuilder sb = new StringBuilder("\"");
        String text = Json.utf8(bytes).orElse(null);
        if (text != null) {
            text.codePoints().forEach(c -> escape(c, sb));
        } else {
            for (byte b : bytes) {
                int c = b & 0xff;
                if (c >= 0x80) sb.append(String.format("\\x%02x", c));
                else escape(c, sb);
            }
        }
        return sb.append('"').toString();
    }

    private static void escape(int c, StringBuilder sb) {
        switch (c) {
            case '"' -> sb.append("\\\"");
            case '\\' -> sb.append("\\\\");
            case '\n' -> sb.append("\\n");
            case '\r' -> sb.append("\\r");
            case '\t' -> sb.append("\\t");
            default -> {
                if (c < 0x20 || c == 0x7f) sb.append(String.format("\\x%02x", c));
                else sb.appendCodePoint(c);
            }
        }
    }
}
