package dev.caskade;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * One key touched by a commit, as the change feed reports it.
 *
 * @param type what happened to the key
 * @param key the key bytes
 * @param value the new value for {@link ChangeType#PUT}; empty for deletes and expiries
 * @param expiresAt epoch milliseconds of the new value's expiry; 0 when none
 */
public record Change(ChangeType type, byte[] key, byte[] value, long expiresAt) {

    /** The key decoded as UTF-8. */
    public String keyString() {
        return new String(key, StandardCharsets.UTF_8);
    }

    /** The value decoded as UTF-8. */
    public String valueString() {
        return new String(value, StandardCharsets.UTF_8);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Change c
                && type == c.type
                && expiresAt == c.expiresAt
                && Arrays.equals(key, c.key)
                && Arrays.equals(value, c.value);
    }

    @Override
    public int hashCode() {
        return 31 * type.hashCode() + Arrays.hashCode(key);
    }

    @Override
    public String toString() {
        return type + " " + keyString() + (type == ChangeType.PUT ? "=" + valueString() : "");
    }
}
