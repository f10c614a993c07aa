package dev.caskade.s3;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import tools.jackson.core.JacksonException;

/**
 * The single-writer lease of a destination ({@code lease.json}): fencing, so that two processes shipping to one
 * prefix are detected instead of interleaving their generations. Taken and renewed with conditional writes
 * (create-if-absent, replace-if-unchanged) where the store enforces them; elsewhere with write-then-read-back,
 * which still catches a second writer within one renewal.
 *
 * <p>Each takeover raises the epoch, so a writer that was paused past its lease sees the new holder at its next
 * renewal and stops shipping.
 */
final class Lease {
    /** What {@code lease.json} holds. */
    record Record(String owner, String writer, String source, long epoch, long expiresAt) {}

    /** The outcome of a renewal. */
    sealed interface State {
        /** This writer holds the lease until the given time. */
        record Held(long epoch, Instant until) implements State {}

        /** Another live writer holds it. */
        record Fenced(Record holder) implements State {}
    }

    private final ObjectStore store;
    private final String owner;
    private final String writer;
    private final String source;
    private final Duration ttl;
    private final Clock clock;
    private String etag;
    private long epoch;
    private long renewedAt = Long.MIN_VALUE;
    private State last;

    Lease(ObjectStore store, String owner, String writer, String source, Duration ttl, Clock clock) {
        this.store = store;
        this.owner = owner;
        this.writer = writer;
        this.source = source;
        this.ttl = ttl;
        this.clock = clock;
    }

    /** Renews when a third of the lease has passed (or when forced); otherwise answers from memory. */
    State renew(boolean force) {
        long now = clock.millis();
        if (!force && last instanceof State.Held && now - renewedAt < ttl.toMillis() / 3) return last;
        Optional<ObjectStore.Versioned> cur = store.getVersioned(Layout.LEASE);
        Record mine;
        if (cur.isPresent()) {
            Record held = parse(cur.get().data());
            if (held != null && !held.owner().equals(owner) && held.expiresAt() > now && !predecessor(held)) {
                etag = null;
                return last = new State.Fenced(held);
            }
            long nextEpoch = held == null ? 1 : held.owner().equals(owner) ? held.epoch() : held.epoch() + 1;
            mine = new Record(owner, writer, source, nextEpoch, now + ttl.toMillis());
            if (!store.putIfMatch(Layout.LEASE, json(mine), cur.get().etag())) return renew(true);
        } else {
            mine = new Record(owner, writer, source, 1, now + ttl.toMillis());
            if (!store.putIfAbsent(Layout.LEASE, json(mine))) return renew(true);
        }
        if (!store.conditionalWrites()) {
            // no enforced preconditions: read back, the last writer wins and the other sees it
            Optional<ObjectStore.Versioned> back = store.getVersioned(Layout.LEASE);
            Record r = back.map(v -> parse(v.data())).orElse(null);
            if (r == null || !r.owner().equals(owner)) {
                return last = new State.Fenced(r == null ? mine : r);
            }
        }
        epoch = mine.epoch();
        renewedAt = now;
        return last = new State.Held(epoch, Instant.ofEpochMilli(mine.expiresAt()));
    }

    /**
     * Whether a live-looking lease was left by an earlier shipper of this very directory on this host, killed
     * before it could release it. The shipper holds {@code DIR/replication/<key>.lock} (an OS lock), so no other
     * live shipper of this directory to this destination exists on this host: waiting out the lease would only
     * stall a restart.
     */
    private boolean predecessor(Record held) {
        return held.source() != null
                && held.source().equals(source)
                && host(held.writer()).equals(host(writer));
    }

    private static String host(String writer) {
        if (writer == null) return "";
        int colon = writer.lastIndexOf(':');
        return colon < 0 ? writer : writer.substring(0, colon);
    }

    /** Gives the lease up (on a clean stop) so that a successor need not wait for it to expire. */
    void release() {
        try {
            Optional<ObjectStore.Versioned> cur = store.getVersioned(Layout.LEASE);
            if (cur.isEmpty()) return;
            Record held = parse(cur.get().data());
            if (held == null || !held.owner().equals(owner)) return;
            Record gone = new Record(owner, writer, source, held.epoch(), 0);
            store.putIfMatch(Layout.LEASE, json(gone), cur.get().etag());
        } catch (RuntimeException e) {
            // best effort: the lease expires by itself
        }
        last = null;
    }

    long epoch() {
        return epoch;
    }

    private static byte[] json(Record r) {
        return Lineage.JSON.writeValueAsBytes(r);
    }

    private static Record parse(byte[] b) {
        try {
            return Lineage.JSON.readValue(b, Record.class);
        } catch (JacksonException e) {
            return null; // an unreadable lease is treated as absent and replaced
        }
    }
}
