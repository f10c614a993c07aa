package dev.caskade.server;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/**
 * The decoded parameters of a query string. Values stay bytes, because a prefix or key may be any bytes
 * once percent-decoded.
 */
record HttpQuery(Map<String, byte[]> params) {

    static HttpQuery parse(String raw) {
        Map<String, byte[]> params = new HashMap<>();
        if (raw != null && !raw.isEmpty()) {
            for (String pair : raw.split("&")) {
                if (pair.isEmpty()) continue;
                int eq = pair.indexOf('=');
                String name = new String(decode(eq < 0 ? pair : pair.substring(0, eq), true), StandardCharsets.UTF_8);
                byte[] value = eq < 0 ? new byte[0] : decode(pair.substring(eq + 1), true);
                params.putIfAbsent(name, value);
            }
        }
        return new HttpQuery(Map.copyOf(params));
    }

    /** Percent-decodes {@code s}; in a query '+' means a space, in a path it is itself. */
    static byte[] decode(String s, boolean plusIsSpace) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '%') {
                if (i + 2 >= s.length()) throw HttpFailure.badRequest("bad percent-encoding in " + s);
                int hi = Character.digit(s.charAt(i + 1), 16);
                int lo = Character.digit(s.charAt(i + 2), 16);
                if (hi < 0 || lo < 0) throw HttpFailure.badRequest("bad percent-encoding in " + s);
                out.write(hi << 4 | lo);
                i += 2;
            } else if (c == '+' && plusIsSpace) {
                out.write(' ');
            } else if (c < 0x80) {
                out.write(c);
            } else {
                out.writeBytes(String.valueOf(c).getBytes(StandardCharsets.UTF_8));
            }
        }
        return out.toByteArray();
    }

    byte[] bytes(String name, byte[] otherwise) {
        return params.getOrDefault(name, otherwise);
    }

    Optional<String> string(String name) {
        return Optional.ofNullable(params.get(name)).map(b -> new String(b, StandardCharsets.UTF_8));
    }

    long number(String name, long otherwise, long min, long max) {
        Optional<String> s = string(name);
        if (s.isEmpty()) return otherwise;
        try {
            long v = Long.parseLong(s.get());
            if (v < min || v > max) throw HttpFailure.badRequest(name + " must be in [" + min + ", " + max + "]");
            return v;
        } catch (NumberFormatException e) {
            throw HttpFailure.badRequest(name + " is not a number: " + s.get());
        }
    }

    boolean flag(String name) {
        return string(name)
                .map(v -> switch (v) {
                    case "true", "1", "" -> true;
                    case "false", "0" -> false;
                    default -> throw HttpFailure.badRequest(name + " must be true or false");
                })
                .orElse(false);
    }
}
