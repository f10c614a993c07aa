package dev.caskade;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Objects;

/**
 * Operations committed together by {@link Caskade#commit(Batch)}: all of them under one revision, or none.
 * Preconditions ({@link #expect}) make it an optimistic transaction. A batch that is not committed is
 * simply discarded. Not thread-safe; build it on one thread.
 */
public final class Batch {
    /** One operation of a batch. */
    sealed interface Op {
        byte[] key();
    }

    record Put(byte[] key, byte[] value, Duration ttl) implements Op {}

    record Delete(byte[] key) implements Op {}

    /**
     * A precondition: key {@code key} must be at {@code revision} (0 = absent) when the batch commits. Public for
     * {@link Upstream}, which checks it at a follower's primary.
     */
    public record Expect(byte[] key, long revision) {}

    private final List<Op> ops = new ArrayList<>();
    private final List<Expect> expects = new ArrayList<>();

    private Batch() {}

    /** A new, empty batch. */
    public static Batch create() {
        return new Batch();
    }

    /** Adds a put. */
    public Batch put(String key, String value) {
        return put(utf8(key), utf8(value));
    }

    /** Adds a put. */
    public Batch put(byte[] key, byte[] value) {
        ops.add(new Put(copy(key, "key"), copy(value, "value"), null));
        return this;
    }

    /** Adds a put whose key expires after {@code ttl}. */
    public Batch put(String key, String value, Duration ttl) {
        return put(utf8(key), utf8(value), ttl);
    }

    /** Adds a put whose key expires after {@code ttl}. */
    public Batch put(byte[] key, byte[] value, Duration ttl) {
        Caskade.checkTtl(ttl);
        ops.add(new Put(copy(key, "key"), copy(value, "value"), ttl));
        return this;
    }

    /** Adds a delete. Deleting an absent key is allowed and changes nothing. */
    public Batch delete(String key) {
        return delete(utf8(key));
    }

    /** Adds a delete. Deleting an absent key is allowed and changes nothing. */
    public Batch delete(byte[] key) {
        ops.add(new Delete(copy(key, "key")));
        return this;
    }

    /** Requires {@code key} to be at {@code revision} when the batch commits; 0 means it must not exist. */
    public Batch expect(String key, long revision) {
        return expect(utf8(key), revision);
    }

    /** Requires {@code key} to be at {@code revision} when the batch commits; 0 means it must not exist. */
    public Batch expect(byte[] key, long revision) {
        if (revision < 0) throw new IllegalArgumentException("expected revision must not be negative: " + revision);
        expects.add(new Expect(copy(key, "key"), revision));
        return this;
    }

    /** Number of operations (puts and deletes, not preconditions). */
    public int size() {
        return ops.size();
    }

    /** True when the batch holds no operation. */
    public boolean isEmpty() {
        return ops.isEmpty();
    }

    /** Drops every operation and precondition, so the batch can be reused. */
    public Batch clear() {
        ops.clear();
        expects.clear();
        return this;
    }

    List<Op> ops() {
        return Collections.unmodifiableList(ops);
    }

    List<Expect> expects() {
        return Collections.unmodifiableList(expects);
    }

    static byte[] utf8(String s) {
        return Objects.requireNonNull(s, "key and value must not be null").getBytes(StandardCharsets.UTF_8);
    }

    private static byte[] copy(byte[] b, String what) {
        return Objects.requireNonNull(b, what + " must not be null").clone();
    }
}
