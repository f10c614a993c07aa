package dev.caskade.client;

import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * One write made through a {@link LocalReplica}: what is sent to the server, and its place in the replica's outbox.
 *
 * @param sequence its number in the outbox (1, 2, ...: the order of sending; its idempotency key is {@code <replica
 *     id>-<sequence>}), 0 for a write sent directly (without {@link ClientOptions#offlineWrites()})
 * @param kind what it does
 * @param key the key
 * @param value the value to put (empty for a delete)
 * @param ttl the time to live of a put, in whole seconds, or null
 * @param expectedRevision for a compare-and-set: the revision the key must be at (0: absent); else 0
 */
public record OfflineWrite(long sequence, Kind kind, byte[] key, byte[] value, Duration ttl, long expectedRevision) {

    /** What a write does. */
    public enum Kind {
        PUT,
        DELETE,
        COMPARE_AND_SET
    }

    public String keyString() {
        return new String(key, StandardCharsets.UTF_8);
    }

    public String valueString() {
        return new String(value, StandardCharsets.UTF_8);
    }

    @Override
    public String toString() {
        return "OfflineWrite[#" + sequence + " " + kind + " " + keyString()
                + (kind == Kind.DELETE ? "" : "=" + valueString())
                + (kind == Kind.COMPARE_AND_SET ? " if at " + expectedRevision : "")
                + (ttl == null ? "" : " ttl " + ttl) + "]";
    }
}
