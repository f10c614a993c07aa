package dev.caskade;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;

/**
 * Walks the commits of one segment file that another process may be writing, through positional reads of a
 * {@link FileChannel}, never a mapping: the writer cuts the zeros off the end of its active segment when it seals
 * it, and a mapped page past the end of a file faults, while a read just returns less.
 *
 * <p>In a data segment a commit is the run of entries sharing one revision, ending with the entry flagged LAST;
 * it counts only once every entry of it is whole and its CRC checks, and revisions only go up. In a merged
 * segment every entry stands alone. What happens at the first bytes that are not such a commit depends on where
 * they are:
 *
 * <ul>
 *   <li>in the newest data segment they are not written yet (the writer is mid-append into pre-extended,
 *       zero-filled space): {@link #next} returns false and a later scan from {@link #position} may find more;
 *   <li>anywhere else an all-zero rest of the file is the end (as open treats it), and anything else is damage:
 *       {@link CorruptionException} naming the file and offset.
 * </ul>
 */
final class SegmentScan {
    /** Bytes read at a time; more when one commit needs it. */
    static final int CHUNK = 64 << 10;

    private final FileChannel channel;
    private final Path path;
    private final boolean grouped;
    private final boolean newest;
    /** File bytes [bufStart, bufStart + buf.limit()). */
    private ByteBuffer buf;

    private long bufStart = -1;
    /** Where the next commit starts: the end of the last complete one. */
    private long pos;
    /** The revision of the last complete commit before {@link #pos}. */
    private long lastRevision;

    private long commitStart;
    private long commitEnd;
    private long revision;
    private long timestamp;

    /**
     * A scan of {@code channel} (the file {@code path}) from {@code from}, a commit boundary, where the last
     * commit before it had revision {@code lastRevision} (the segment's base at its first entry).
     *
     * @param grouped a data segment: entries form commits in revision order
     * @param newest the newest data segment: a bad tail is not written yet rather than damage
     * @param reuse a buffer from an earlier scan to read into, or null
     */
    SegmentScan(
            FileChannel channel,
            Path path,
            boolean grouped,
            boolean newest,
            long from,
            long lastRevision,
            ByteBuffer reuse) {
        this.channel = channel;
        this.path = path;
        this.grouped = grouped;
        this.newest = newest;
        this.pos = from;
        this.lastRevision = lastRevision;
        this.buf = reuse == null ? ByteBuffer.allocate(CHUNK) : reuse;
        buf.order(ByteOrder.LITTLE_ENDIAN).limit(0);
    }

    /**
     * Moves to the next complete commit. False at the end: of what is written so far in the newest data segment,
     * of the segment otherwise.
     *
     * @throws CorruptionException on damage outside the tail of the newest data segment
     */
    boolean next() throws IOException {
        long p = pos;
        long q = p;
        long rev = -1;
        long ts = 0;
        while (true) {
            int avail = fill(p, q, EntryCodec.HEADER);
            EntryCodec.Problem problem;
            if (avail < EntryCodec.HEADER) {
                problem = EntryCodec.Problem.SHORT;
            } else {
                problem = EntryCodec.check(buf, at(q), at(q) + avail);
                if (problem == EntryCodec.Problem.SHORT) {
                    // the lengths are plausible (check looked at them): read the whole entry
                    int at = at(q);
                    int size = EntryCodec.HEADER + buf.getInt(at + 30) + buf.getInt(at + 34);
                    avail = fill(p, q, size);
                    problem = avail < size ? EntryCodec.Problem.SHORT : EntryCodec.check(buf, at(q), at(q) + avail);
                }
            }
            String why = problem == EntryCodec.Problem.CHECKSUM ? "checksum mismatch" : "bad entry (" + problem + ")";
            EntryCodec.Header h = null;
            if (problem == EntryCodec.Problem.NONE) {
                h = EntryCodec.header(buf, at(q));
                if (grouped && (rev < 0 ? h.revision() <= lastRevision : h.revision() != rev)) {
                    problem = EntryCodec.Problem.BAD_HEADER;
                    why = "revision " + h.revision() + " out of order after " + (rev < 0 ? lastRevision : rev);
                }
            }
            if (problem != EntryCodec.Problem.NONE) return stop(p, q, why);
            if (rev < 0) {
                rev = h.revision();
                ts = h.timestamp();
            }
            q += h.size();
            if (!grouped || h.last()) {
                commitStart = p;
                commitEnd = q;
                revision = rev;
                timestamp = ts;
                pos = q;
                lastRevision = grouped ? rev : Math.max(lastRevision, rev);
                return true;
            }
        }
    }

    /** At the first bytes after {@code p} that do not make a complete commit (the bad entry is at {@code q}). */
    private boolean stop(long p, long q, String why) throws IOException {
        if (newest) return false; // not written yet: the writer is mid-append, or a crash left a torn tail
        boolean restZero = zerosFrom(q);
        if (restZero && q == p) return false;
        if (restZero) throw new CorruptionException("incomplete commit in sealed segment", path, p);
        throw new CorruptionException(why, path, q);
    }

    /** True when every byte from {@code from} to the end of the file is zero (or there is none). */
    private boolean zerosFrom(long from) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(CHUNK);
        long at = from;
        while (true) {
            b.clear();
            int n = channel.read(b, at);
            if (n <= 0) return true;
            for (int i = 0; i < n; i++) if (b.get(i) != 0) return false;
            at += n;
        }
    }

    /**
     * Makes the file bytes [off, off + n) readable in the buffer while keeping [keep, off) there too (the
     * commit read so far); returns how many of those n bytes the file has now.
     */
    private int fill(long keep, long off, int n) throws IOException {
        long end = bufStart + buf.limit();
        if (bufStart >= 0 && keep >= bufStart && off + n <= end) return n;
        long want = off + n - keep;
        if (want > Integer.MAX_VALUE - 16) throw new CorruptionException("commit too large to read", path, keep);
        // bytes of [keep, end) already read are kept, not read again, and a growing commit doubles the buffer:
        // a commit of many entries costs one pass over it, not one pass per entry
        boolean reuse = bufStart >= 0 && keep >= bufStart && keep <= end;
        int kept = reuse ? (int) (end - keep) : 0;
        long grown = want <= CHUNK ? CHUNK : Math.max(want + CHUNK, 2L * kept);
        int len = (int) Math.min(Integer.MAX_VALUE - 16, grown);
        ByteBuffer next = buf.capacity() >= len ? buf : ByteBuffer.allocate(len).order(ByteOrder.LITTLE_ENDIAN);
        if (kept > 0) {
            ByteBuffer old = buf.duplicate();
            old.limit((int) (end - bufStart)).position((int) (keep - bufStart));
            if (next == buf) {
                buf.limit(old.limit()).position(old.position());
                buf.compact(); // [keep, end) to the front; position = kept
            } else {
                next.clear();
                next.put(old);
            }
        } else {
            next.clear();
        }
        buf = next;
        buf.limit(len);
        long at = keep + kept;
        while (buf.hasRemaining()) {
            int r = channel.read(buf, at);
            if (r <= 0) break;
            at += r;
        }
        buf.flip();
        bufStart = keep;
        return (int) Math.max(0, Math.min(n, bufStart + buf.limit() - off));
    }

    private int at(long fileOffset) {
        return (int) (fileOffset - bufStart);
    }

    /** Where the next commit would start: the end of the last complete commit read. */
    long position() {
        return pos;
    }

    /** The revision of the last complete commit read (or the one given at the start). */
    long lastRevision() {
        return lastRevision;
    }

    long commitStart() {
        return commitStart;
    }

    long commitEnd() {
        return commitEnd;
    }

    /** The current commit's revision. */
    long revision() {
        return revision;
    }

    /** The current commit's timestamp (epoch ms). */
    long timestamp() {
        return timestamp;
    }

    /** The buffer, to hand to the next scan. */
    ByteBuffer buffer() {
        return buf;
    }

    /** One entry of the current commit, still in the scan's buffer. */
    interface EntryVisitor {
        void visit(ByteBuffer b, int at, long offset, EntryCodec.Header h);
    }

    /** Visits the entries of the current commit in order. */
    void entries(EntryVisitor v) {
        for (long p = commitStart; p < commitEnd; ) {
            int at = at(p);
            EntryCodec.Header h = EntryCodec.header(buf, at);
            v.visit(buf, at, p, h);
            p += h.size();
        }
    }
}
