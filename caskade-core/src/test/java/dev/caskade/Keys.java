package dev.caskade;

import java.nio.charset.StandardCharsets;

/** Byte-key helpers for tests: unsigned prefix checks and a readable rendering of binary keys. */
final class Keys {
    private Keys() {}

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static boolean startsWith(byte[] key, byte[] prefix) {
        if (key.length < prefix.length) return false;
        for (int i = 0; i < prefix.length; i++) {
            if (key[i] != prefix[i]) return false;
        }
        return true;
    }

    /** Printable ASCII as is, every other byte as \xNN; null as "null" (an open range bound). */
    static String show(byte[] b) {
        if (b == null) return "null";
        StringBuilder sb = new StringBuilder("\"");
        for (byte x : b) {
            int u = x & 0xff;
            if (u >= 0x20 && u < 0x7f && u != '\\' && u != '"') sb.append((char) u);
            else sb.append(String.format("\\x%02x", u));
        }
        return sb.append('"').toString();
    }

    static String show(Entry e) {
        return show(e.key()) + "=" + (e.value().length <= 16 ? show(e.value()) : "<" + e.value().length + " bytes>")
                + "@" + e.revision() + (e.expiresAt() == 0 ? "" : " exp=" + e.expiresAt());
    }

    static String show(Change c) {
        return c.type() + " " + show(c.key())
                + (c.type() == ChangeType.PUT ? "=<" + c.value().length + " bytes>" : "")
                + (c.expiresAt() == 0 ? "" : " exp=" + c.expiresAt());
    }
}
