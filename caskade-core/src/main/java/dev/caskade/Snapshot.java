package dev.caskade;

import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;

/**
 * A consistent, read-only view of a store at one revision, taken by {@link Caskade#snapshot()}. Writes
 * after it are invisible to it; merge does not disturb it. While it is open the store keeps the old
 * versions and files it needs, so close it when done. Thread-safe.
 */
public final class Snapshot implements AutoCloseable {
    private final Caskade db;
    private final long revision;
    private final List<Segment> held;
    private final AtomicBoolean closed = new AtomicBoolean();

    Snapshot(Caskade db, long revision, List<Segment> held) {
        this.db = db;
        this.revision = revision;
        this.held = held;
    }

    /** The revision this view shows: every commit up to it, none after. */
    public long revision() {
        return revision;
    }

    /** The value of {@code key} at this snapshot's revision. */
    public Optional<Entry> get(String key) {
        return get(Batch.utf8(key));
    }

    /** The value of {@code key} at this snapshot's revision. */
    public Optional<Entry> get(byte[] key) {
        checkOpen();
        return db.getAt(key, revision);
    }

    /** Keys starting with {@code prefix} at this revision, in key order. */
    public Stream<Entry> scan(String prefix) {
        return scan(Batch.utf8(prefix));
    }

    /** Keys starting with {@code prefix} at this revision, in key order. */
    public Stream<Entry> scan(byte[] prefix) {
        return range(prefix, KeyDir.prefixEnd(prefix));
    }

    /**
     * Keys starting with {@code prefix} that sort after {@code after} (null: from the first), at this revision, in
     * key order: one page after another, each resuming after the last key of the previous one.
     */
    public Stream<Entry> scan(byte[] prefix, byte[] after) {
        byte[] from = prefix;
        if (after != null) {
            byte[] next = Arrays.copyOf(after, after.length + 1); // the smallest key greater than after
            if (Arrays.compareUnsigned(next, from) > 0) from = next;
        }
        return range(from, KeyDir.prefixEnd(prefix));
    }

    /** Keys in [{@code from}, {@code to}) at this revision (null: open), in key order. */
    public Stream<Entry> range(byte[] from, byte[] to) {
        checkOpen();
        return db.entriesAt(revision, from, to);
    }

    /** The {@link Digest} of the live keys under {@code prefix} at this snapshot's revision. */
    public Digest digest(byte[] prefix) {
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK lacks SHA-256", e);
        }
        ByteBuffer len = ByteBuffer.allocate(4); // big-endian, as the digest's definition says
        long keys = 0;
        try (Stream<Entry> s = scan(prefix)) {
            for (Iterator<Entry> it = s.iterator(); it.hasNext(); ) {
                Entry e = it.next();
                sha.update(len.clear().putInt(e.key().length).array());
                sha.update(e.key());
                sha.update(len.clear().putInt(e.value().length).array());
                sha.update(e.value());
                keys++;
            }
        }
        return new Digest(revision, keys, HexFormat.of().formatHex(sha.digest()));
    }

    private void checkOpen() {
        if (closed.get()) throw new IllegalStateException("snapshot is closed");
    }

    /**
     * Keeps merge outputs alive for this view too: versions it needs may have been moved into them, and a
     * later merge may retire them while it is still open.
     */
    synchronized void hold(List<Segment> outputs) {
        if (closed.get()) return;
        for (Segment s : outputs) if (s.acquire()) held.add(s);
    }

    /** Releases the old versions and files this view kept alive. Idempotent. */
    @Override
    public void close() {
        synchronized (this) {
            if (!closed.compareAndSet(false, true)) return;
        }
        db.release(this, held);
    }
}
