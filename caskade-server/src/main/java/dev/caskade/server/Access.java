package dev.caskade.server;

import java.util.Locale;

/**
 * What a {@link Rule} lets a user do with the keys under its prefix. Each level includes the ones before it:
 * {@code write} can read, {@code admin} can write.
 */
public enum Access {
    /** Nothing: a rule with it carves a prefix out of a broader one. */
    NONE,
    /** Read keys, list and watch them. */
    READ,
    /** Also put, delete, expire. */
    WRITE,
    /** Also the server-wide commands (FLUSHDB, CLIENT KILL, ...) when held over the whole key space. */
    ADMIN;

    /** True if this level allows what {@code needed} allows. */
    public boolean includes(Access needed) {
        return compareTo(needed) >= 0;
    }

    /** {@code none}, {@code read}, {@code write} or {@code admin}, in any case. */
    public static Access parse(String text) {
        for (Access a : values()) {
            if (a.name().equalsIgnoreCase(text)) return a;
        }
        throw new IllegalArgumentException("access must be one of none, read, write, admin: '" + text + "'");
    }

    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }
}
