package dev.caskade.server;

import dev.caskade.Batch;
import dev.caskade.Caskade;
import dev.caskade.Entry;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;

/**
 * A staged view of the store for one command or one EXEC. Reads see the writes staged before them and remember
 * the revision they saw; {@link #commit} writes everything as one {@link Batch} whose preconditions are those
 * revisions, so a read-modify-write either applies to exactly what it read or fails with a conflict (and is
 * retried by the caller).
 */
final class RespTransaction {
    private final Function<byte[], Optional<Entry>> reader;
    private final long now;
    private final Map<ByteBuffer, Long> expects = new LinkedHashMap<>();
    /** Staged writes in order; an empty Optional is a delete. */
    private final Map<ByteBuffer, Optional<Entry>> writes = new LinkedHashMap<>();

    RespTransaction(Function<byte[], Optional<Entry>> reader, long now) {
        this.reader = reader;
        this.now = now;
    }

    /** The wall clock (epoch ms) this transaction runs at. */
    long now() {
        return now;
    }

    Optional<Entry> get(byte[] key) {
        ByteBuffer k = ByteBuffer.wrap(key);
        Optional<Entry> staged = writes.get(k);
        if (staged != null) return staged.filter(e -> e.expiresAt() == 0 || e.expiresAt() > now);
        Optional<Entry> found = reader.apply(key);
        expects.putIfAbsent(k, found.map(Entry::revision).orElse(0L));
        return found;
    }

    /** Stages a put; {@code expiresAt} is epoch ms, 0 = never. */
    void put(byte[] key, byte[] value, long expiresAt) {
        writes.put(ByteBuffer.wrap(key), Optional.of(new Entry(key, value, 0, expiresAt)));
    }

    void delete(byte[] key) {
        writes.put(ByteBuffer.wrap(key), Optional.empty());
    }

    /** Adds a precondition that is not a read of this transaction (a WATCH). */
    void expect(byte[] key, long revision) {
        expects.put(ByteBuffer.wrap(key), revision);
    }

    boolean hasWrites() {
        return !writes.isEmpty();
    }

    /**
     * Commits the staged writes with every remembered revision as a precondition, without waiting for an fsync
     * (the handler holds the reply until the commit is durable).
     *
     * @throws dev.caskade.ConflictException when something read has changed since
     */
    long commit(Caskade db) {
        if (writes.isEmpty()) return db.revision();
        Batch batch = Batch.create();
        expects.forEach((k, rev) -> batch.expect(bytes(k), rev));
        writes.forEach((k, staged) -> {
            if (staged.isEmpty()) {
                batch.delete(bytes(k));
                return;
            }
            Entry e = staged.get();
            if (e.expiresAt() == 0) {
                batch.put(e.key(), e.value());
            } else if (e.expiresAt() > now) {
                batch.put(e.key(), e.value(), Duration.ofMillis(e.expiresAt() - now));
            } else {
                batch.delete(e.key()); // an expiry in the past deletes, as in Redis
            }
        });
        return db.commitNoWait(batch);
    }

    private static byte[] bytes(ByteBuffer k) {
        return k.array();
    }
}
