package dev.caskade.client;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * A transaction for {@link CaskadeClient#txn}: if every compare holds (the key's revision equals the given one, 0 =
 * absent), the success ops commit, else the failure ops; either way as one atomic commit.
 *
 * <pre>{@code
 * Txn.create().compare("stock/1", rev).success(Txn.put("stock/1", "9"), Txn.delete("hold/1"))
 *             .failure(Txn.put("log/miss", "1"));
 * }</pre>
 *
 * <p>Keys and values may be any bytes (those that are not UTF-8 travel as base64). Not thread-safe: build it on one
 * thread.
 */
public final class Txn {

    /** One operation of a branch. */
    public sealed interface Op {
        byte[] key();
    }

    /**
     * Puts {@code value} under {@code key}.
     *
     * @param ttl time to live (whole milliseconds, at least 1), or null
     */
    public record Put(byte[] key, byte[] value, Duration ttl) implements Op {
        public Put {
            key = checkedKey(key);
            value = Objects.requireNonNull(value, "value").clone();
            if (ttl != null && (ttl.toMillis() < 1 || ttl.toNanos() % 1_000_000 != 0))
                throw new IllegalArgumentException("a TTL must be a positive whole number of milliseconds: " + ttl);
        }
    }

    /** Deletes {@code key} (nothing happens if it is absent). */
    public record Delete(byte[] key) implements Op {
        public Delete {
            key = checkedKey(key);
        }
    }

    /** A key's revision must equal {@code revision} (0: the key must be absent). */
    public record Compare(byte[] key, long revision) {
        public Compare {
            key = checkedKey(key);
            if (revision < 0) throw new IllegalArgumentException("a compare revision must not be negative");
        }
    }

    private final List<Compare> compares = new ArrayList<>();
    private final List<Op> success = new ArrayList<>();
    private final List<Op> failure = new ArrayList<>();

    private Txn() {}

    public static Txn create() {
        return new Txn();
    }

    public static Op put(String key, String value) {
        return put(bytes(key), bytes(value));
    }

    public static Op put(byte[] key, byte[] value) {
        return new Put(key, value, null);
    }

    public static Op put(String key, String value, Duration ttl) {
        return new Put(bytes(key), bytes(value), Objects.requireNonNull(ttl, "ttl"));
    }

    public static Op put(byte[] key, byte[] value, Duration ttl) {
        return new Put(key, value, Objects.requireNonNull(ttl, "ttl"));
    }

    public static Op delete(String key) {
        return new Delete(bytes(key));
    }

    public static Op delete(byte[] key) {
        return new Delete(key);
    }

    /** Adds a condition: {@code key} is at {@code revision} (0: absent). */
    public Txn compare(String key, long revision) {
        return compare(bytes(key), revision);
    }

    public Txn compare(byte[] key, long revision) {
        compares.add(new Compare(key, revision));
        return this;
    }

    /** Adds ops to run when every compare holds. */
    public Txn success(Op... ops) {
        for (Op op : ops) success.add(Objects.requireNonNull(op, "op"));
        return this;
    }

    /** Adds ops to run when a compare fails. */
    public Txn failure(Op... ops) {
        for (Op op : ops) failure.add(Objects.requireNonNull(op, "op"));
        return this;
    }

    public List<Compare> compares() {
        return List.copyOf(compares);
    }

    public List<Op> success() {
        return List.copyOf(success);
    }

    public List<Op> failure() {
        return List.copyOf(failure);
    }

    private static byte[] bytes(String s) {
        return Objects.requireNonNull(s).getBytes(StandardCharsets.UTF_8);
    }

    private static byte[] checkedKey(byte[] key) {
        Objects.requireNonNull(key, "key");
        if (key.length == 0) throw new IllegalArgumentException("empty key");
        return key.clone();
    }
}
