package dev.caskade.s3;

import dev.caskade.Change;
import dev.caskade.ChangeType;
import dev.caskade.WatchEvent;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A log object: a run of consecutive commits, in revision order, in {@link BlockCodec} blocks.
 *
 * <pre>
 * header fields  u64 from | u64 to (first and last revision covered) | u64 first commit time | u64 last commit time
 * record         u64 revision | u64 timestamp | u32 change count | changes
 * change         u8 type (1 put, 2 delete, 3 expire) | u64 expiresAt | u32 key length | u32 value length | key | value
 * </pre>
 *
 * The header repeats the range of the object's name (a renamed or misplaced object is caught) and the commit
 * times, so restore-by-time can skip an object after reading 60 bytes of it.
 */
final class LogCodec {
    static final byte[] MAGIC = "CSKL".getBytes(StandardCharsets.US_ASCII);

    private LogCodec() {}

    /** What a log object's header says. */
    record Header(long from, long to, long firstTimestamp, long lastTimestamp) {}

    /** Encodes commits with revisions in [from, to]; from may be below the first commit's revision. */
    static byte[] encode(long from, long to, List<WatchEvent.Commit> commits, int blockBytes) {
        if (commits.isEmpty()) throw new IllegalArgumentException("a log object needs at least one commit");
        long firstTs = commits.getFirst().timestamp();
        long lastTs = commits.getLast().timestamp();
        ByteArrayOutputStream out = new ByteArrayOutputStream(64 * 1024);
        try {
            ByteBuffer f =
                    BlockCodec.le(32).putLong(from).putLong(to).putLong(firstTs).putLong(lastTs);
            BlockCodec.Writer w = new BlockCodec.Writer(out, MAGIC, f.flip(), blockBytes);
            byte[] buf = new byte[4096];
            for (WatchEvent.Commit c : commits) {
                if (c.revision() < from || c.revision() > to) {
                    throw new IllegalArgumentException(
                            "commit " + c.revision() + " outside [" + from + ", " + to + "]");
                }
                int n = 20;
                for (Change ch : c.changes()) n += 17 + ch.key().length + ch.value().length;
                if (buf.length < n) buf = new byte[Math.max(n, buf.length * 2)];
                ByteBuffer b = ByteBuffer.wrap(buf).order(ByteOrder.LITTLE_ENDIAN);
                b.putLong(c.revision())
                        .putLong(c.timestamp())
                        .putInt(c.changes().size());
                for (Change ch : c.changes()) {
                    b.put(code(ch.type()))
                            .putLong(ch.expiresAt())
                            .putInt(ch.key().length)
                            .putInt(ch.value().length);
                    b.put(ch.key()).put(ch.value());
                }
                w.record(buf, 0, n);
            }
            w.finish();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    static BlockCodec.Reader reader(InputStream in, String object) throws IOException {
        return new BlockCodec.Reader(in, MAGIC, object);
    }

    static Header header(BlockCodec.Reader r, String object) {
        ByteBuffer f = r.fields();
        if (f.remaining() < 32) throw new CorruptObjectException("short log header", object, 8);
        return new Header(f.getLong(), f.getLong(), f.getLong(), f.getLong());
    }

    /** Decodes the commits of one raw block. */
    static List<WatchEvent.Commit> commits(byte[] raw, String object, long blockOffset) {
        List<WatchEvent.Commit> out = new ArrayList<>();
        ByteBuffer b = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
        while (b.hasRemaining()) {
            if (b.remaining() < 20) throw new CorruptObjectException("short commit", object, blockOffset);
            long rev = b.getLong();
            long ts = b.getLong();
            int count = b.getInt();
            if (count <= 0 || count > b.remaining() / 17) {
                throw new CorruptObjectException("bad change count " + count, object, blockOffset);
            }
            List<Change> changes = new ArrayList<>(count);
            for (int i = 0; i < count; i++) {
                if (b.remaining() < 17) throw new CorruptObjectException("short change", object, blockOffset);
                ChangeType type = type(b.get(), object, blockOffset);
                long exp = b.getLong();
                int kl = b.getInt();
                int vl = b.getInt();
                if (kl <= 0 || vl < 0 || (long) kl + vl > b.remaining()) {
                    throw new CorruptObjectException("bad change lengths", object, blockOffset);
                }
                byte[] k = new byte[kl];
                byte[] v = new byte[vl];
                b.get(k).get(v);
                changes.add(new Change(type, k, v, exp));
            }
            out.add(new WatchEvent.Commit(rev, ts, List.copyOf(changes)));
        }
        return out;
    }

    private static byte code(ChangeType t) {
        return switch (t) {
            case PUT -> 1;
            case DELETE -> 2;
            case EXPIRE -> 3;
        };
    }

    private static ChangeType type(byte b, String object, long offset) {
        return switch (b) {
            case 1 -> ChangeType.PUT;
            case 2 -> ChangeType.DELETE;
            case 3 -> ChangeType.EXPIRE;
            default -> throw new CorruptObjectException("bad change type " + b, object, offset);
        };
    }
}
