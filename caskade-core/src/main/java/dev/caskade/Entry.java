package dev.caskade;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Arrays;
import java.util.Optional;

/**
 * One live key as a read sees it.
 *
 * @param key the key bytes
 * @param value the value bytes
 * @param revision the revision of the commit that wrote this value
 * @param expiresAt epoch milliseconds after which the key is gone; 0 means it never expires
 */
public record Entry(byte[] key, byte[] value, long revision, long expiresAt) {

    /** The key decoded as UTF-8. */
    public String keyString() {
        return new String(key, StandardCharsets.UTF_8);
    }

    /** The value decoded as UTF-8. */
    public String valueString() {
        return new String(value, StandardCharsets.UTF_8);
    }

    /** When the key expires, or empty when it never does. */
    public Optional<Instant> expiry() {
        return expiresAt == 0 ? Optional.empty() : Optional.of(Instant.ofEpochMilli(expiresAt));
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Entry e
                && revision == e.revision
                && expiresAt == e.expiresAt
                && Arrays.equals(key, e.key)
                && Arrays.equals(value, e.value);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(key) + Long.hashCode(revision);
    }

    @Override
    public String toString() {
        return "Entry[" + keyString() + "=" + valueString() + ", revision=" + revision
                + (expiresAt == 0 ? "" : ", expiresAt=" + expiresAt) + "]";
    }
}
