package dev.caskade.s3;

import dev.caskade.Entry;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.concurrent.Executor;

/**
 * A snapshot object: every live key of a store at one revision, in key order, in {@link BlockCodec} blocks.
 *
 * <pre>
 * header fields  u64 revision | u64 timestamp (commit time of that revision, epoch ms) | u64 createdAt (epoch ms)
 * record         u64 revision | u64 expiresAt | u32 key length | u32 value length | key | value
 * </pre>
 *
 * Each key keeps the revision of its last change, so a restored store answers compare-and-set exactly as the
 * source did; the timestamp lets restore-by-time choose a snapshot without reading the log.
 */
final class SnapshotCodec {
    static final byte[] MAGIC = "CSKS".getBytes(StandardCharsets.US_ASCII);
    static final int RECORD_HEADER = 24;

    private SnapshotCodec() {}

    /** What a snapshot object's header says. */
    record Header(long revision, long timestamp, long createdAt) {}

    /** One key of a snapshot. */
    record Item(byte[] key, byte[] value, long revision, long expiresAt) {}

    /** Writes the entries (in key order) and returns how many. */
    static long write(OutputStream out, Header h, Iterator<Entry> entries, int blockBytes) throws IOException {
        return write(out, h, entries, blockBytes, null, 0);
    }

    /** As {@link #write(OutputStream, Header, Iterator, int)}, compressing blocks on {@code pool} (null: inline). */
    static long write(OutputStream out, Header h, Iterator<Entry> entries, int blockBytes, Executor pool, int inFlight)
            throws IOException {
        ByteBuffer f =
                BlockCodec.le(24).putLong(h.revision()).putLong(h.timestamp()).putLong(h.createdAt());
        BlockCodec.Writer w = new BlockCodec.Writer(out, MAGIC, f.flip(), blockBytes, pool, inFlight);
        byte[] buf = new byte[256];
        while (entries.hasNext()) {
            Entry e = entries.next();
            int n = RECORD_HEADER + e.key().length + e.value().length;
            if (buf.length < n) buf = new byte[Math.max(n, buf.length * 2)];
            ByteBuffer b = ByteBuffer.wrap(buf).order(ByteOrder.LITTLE_ENDIAN);
            b.putLong(e.revision())
                    .putLong(e.expiresAt())
                    .putInt(e.key().length)
                    .putInt(e.value().length);
            b.put(e.key()).put(e.value());
            w.record(buf, 0, n);
        }
        w.finish();
        return w.records();
    }

    static Header header(BlockCodec.Reader r) {
        ByteBuffer f = r.fields();
        if (f.remaining() < 24) throw new CorruptObjectException("short snapshot header", "?", 8);
        return new Header(f.getLong(), f.getLong(), f.getLong());
    }

    static BlockCodec.Reader reader(InputStream in, String object) throws IOException {
        return new BlockCodec.Reader(in, MAGIC, object);
    }

    /** Decodes the records of one raw block. */
    static void items(byte[] raw, String object, long blockOffset, java.util.function.Consumer<Item> sink) {
        ByteBuffer b = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
        while (b.hasRemaining()) {
            if (b.remaining() < RECORD_HEADER) throw new CorruptObjectException("short record", object, blockOffset);
            long rev = b.getLong();
            long exp = b.getLong();
            int kl = b.getInt();
            int vl = b.getInt();
            if (kl <= 0 || vl < 0 || (long) kl + vl > b.remaining()) {
                throw new CorruptObjectException("bad record lengths", object, blockOffset);
            }
            byte[] k = new byte[kl];
            byte[] v = new byte[vl];
            b.get(k).get(v);
            sink.accept(new Item(k, v, rev, exp));
        }
    }
}
