package dev.caskade;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.zip.CRC32C;

/**
 * One log file. Only the active segment is ever written; once sealed it is read through a read-only
 * mapping. Reference counted: the store holds one reference, and readers, snapshots and history readers
 * take one while they use the file, so merge can retire it and the file goes away only when the last
 * user lets go.
 *
 * <pre>
 * Segment header, 32 bytes, little-endian:
 *  0  4  magic "CSKD"
 *  4  u16 version (1)
 *  6  u16 kind: 0 data (written by commits, in revision order), 1 merged (written by merge)
 *  8  u64 id: orders segments and names the file
 * 16  u64 base: data: the last revision before this segment began (revisions never go back, even after
 *             merge dropped every entry that carried them); merged: the revision it compacts up to
 * 24  u32 reserved (0)
 * 28  u32 crc32c of bytes [0, 28)
 * </pre>
 */
final class Segment {
    static final int HEADER = 32;
    static final int MAGIC = 0x444b5343; // "CSKD" read little-endian
    static final short VERSION = 1;

    enum Kind {
        DATA,
        MERGED
    }

    final long id;
    final Kind kind;
    final long base;
    final Path path;
    private volatile FileChannel channel;
    private volatile boolean closed;
    /** View for reads without a system call: the reserved region while active, exact once sealed. */
    private volatile MappedByteBuffer map;
    /**
     * While active, the same mapping, written to: an append is a memory copy, not a system call. The pages are the
     * file's page cache, so a process crash loses nothing written and an fdatasync makes it durable exactly like
     * written pages.
     */
    private volatile MappedByteBuffer writable;

    private volatile boolean sealed;
    /** Bytes written, header included: every entry below it is whole. */
    private volatile long size;
    /** Bytes of entries no key points to any more. */
    final AtomicLong deadBytes = new AtomicLong();
    /** Highest revision and newest commit time in the segment, for retention. */
    volatile long maxRevision;

    volatile long maxTimestamp;
    private final AtomicInteger refs = new AtomicInteger(1);
    private volatile boolean retired;
    /** Opened by a read-only view: the file is never written, truncated or reopened for writing. */
    private final boolean readOnly;

    private Segment(long id, Kind kind, long base, Path path, FileChannel channel, long size, boolean readOnly) {
        this.id = id;
        this.kind = kind;
        this.base = base;
        this.path = path;
        this.channel = channel;
        this.size = size;
        this.maxRevision = base;
        this.readOnly = readOnly;
    }

    /** What a segment's 32-byte header says. */
    record Header(long id, Kind kind, long base) {}

    static String fileName(long id) {
        return String.format("%020d.seg", id);
    }

    static Path hintPath(Path segmentPath) {
        String n = segmentPath.getFileName().toString();
        return segmentPath.resolveSibling(n.substring(0, n.length() - 4) + ".hint");
    }

    /**
     * Creates a new, empty segment file with its header, fsynced. With {@code reserve > 0} (the active
     * segment) the file is extended, sparsely, to that size and mapped, so reads of the newest data need
     * no system call; the zeros after the last entry are not data and are cut off when it is sealed.
     */
    static Segment create(Path dir, long id, Kind kind, long base, String suffix, long reserve) throws IOException {
        Path p = dir.resolve(fileName(id) + suffix);
        FileChannel ch =
                FileChannel.open(p, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ, StandardOpenOption.WRITE);
        try {
            ByteBuffer h = header(id, kind, base);
            while (h.hasRemaining()) ch.write(h, h.position());
            ch.force(true);
        } catch (IOException e) {
            ch.close();
            throw e;
        }
        Segment seg = new Segment(id, kind, base, p, ch, HEADER, false);
        if (reserve > HEADER) seg.activate(reserve);
        return seg;
    }

    /**
     * Makes this the active segment: drops anything after the last entry, extends the file (sparsely) to
     * {@code reserve} bytes and maps it for reading.
     */
    void activate(long reserve) throws IOException {
        channel.truncate(size);
        if (reserve > size) channel.write(ByteBuffer.allocate(1), reserve - 1);
        channel.force(true);
        MappedByteBuffer m = channel.map(FileChannel.MapMode.READ_WRITE, 0, Math.max(size, reserve));
        writable = m;
        map = m;
    }

    static ByteBuffer header(long id, Kind kind, long base) {
        ByteBuffer h = ByteBuffer.allocate(HEADER).order(ByteOrder.LITTLE_ENDIAN);
        h.putInt(MAGIC)
                .putShort(VERSION)
                .putShort((short) kind.ordinal())
                .putLong(id)
                .putLong(base)
                .putInt(0);
        CRC32C crc = new CRC32C();
        crc.update(h.array(), 0, 28);
        h.putInt((int) crc.getValue());
        return h.flip();
    }

    /**
     * Opens an existing segment and checks its header. A file too short for a header, or whose header is
     * damaged, throws {@link CorruptionException} at offset 0.
     */
    static Segment open(Path p) throws IOException {
        return open(p, false);
    }

    /**
     * Opens an existing segment for reading only (a read-only view of a store another process writes): the
     * channel cannot write, and nothing here ever truncates or extends the file.
     */
    static Segment openReadOnly(Path p) throws IOException {
        return open(p, true);
    }

    private static Segment open(Path p, boolean readOnly) throws IOException {
        FileChannel ch = readOnly
                ? FileChannel.open(p, StandardOpenOption.READ)
                : FileChannel.open(p, StandardOpenOption.READ, StandardOpenOption.WRITE);
        try {
            long len = ch.size();
            Header h = readHeader(ch, p);
            return new Segment(h.id(), h.kind(), h.base(), p, ch, len, readOnly);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    /**
     * Reads and checks the header of the segment file {@code p} through {@code ch}. A file too short for a
     * header, or whose header is damaged, throws {@link CorruptionException} at offset 0.
     */
    static Header readHeader(FileChannel ch, Path p) throws IOException {
        ByteBuffer h = ByteBuffer.allocate(HEADER).order(ByteOrder.LITTLE_ENDIAN);
        if (ch.size() < HEADER) throw new CorruptionException("segment header missing", p, 0);
        while (h.hasRemaining()) {
            if (ch.read(h, h.position()) < 0) break;
        }
        if (h.hasRemaining()) throw new CorruptionException("segment header missing", p, 0);
        CRC32C crc = new CRC32C();
        crc.update(h.array(), 0, 28);
        if (h.getInt(0) != MAGIC || h.getShort(4) != VERSION || h.getInt(28) != (int) crc.getValue()) {
            throw new CorruptionException("segment header damaged", p, 0);
        }
        int kind = h.getShort(6);
        if (kind < 0 || kind > 1) throw new CorruptionException("segment kind unknown", p, 6);
        return new Header(h.getLong(8), Kind.values()[kind], h.getLong(16));
    }

    long size() {
        return size;
    }

    /** The open file, for reads that must not map it (see {@link SegmentScan}). */
    FileChannel channel() {
        return channel;
    }

    boolean sealed() {
        return sealed;
    }

    /** Appends bytes at the end; the caller serialises writers. On failure the tail is cut back. */
    void append(ByteBuffer bytes) throws IOException {
        long start = size;
        int from = bytes.position();
        MappedByteBuffer w = writable;
        int len = bytes.remaining();
        if (w != null && start + len <= w.capacity()) {
            try {
                w.put((int) start, bytes, from, len);
            } catch (InternalError e) {
                // the JVM's answer to SIGBUS: no block could be allocated under a sparse page (disk full). The log
                // fails the store; the bytes past size are a torn tail for the next open to cut
                throw new IOException("write to mapped segment failed (disk full?): " + path + " at " + start, e);
            }
            bytes.position(from + len);
            size = start + len;
            return;
        }
        boolean interrupted = false;
        try {
            for (int attempt = 0; ; attempt++) {
                try {
                    long pos = start + (bytes.position() - from);
                    while (bytes.hasRemaining()) pos += channel.write(bytes, pos);
                    size = pos;
                    return;
                } catch (ClosedChannelException e) {
                    // positional writes are idempotent: reopen and write the rest again
                    interrupted |= Thread.interrupted();
                    if (attempt >= 3) throw e;
                    reopen(e);
                }
            }
        } catch (IOException e) {
            try {
                channel.truncate(start);
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        } finally {
            if (interrupted) Thread.currentThread().interrupt();
        }
    }

    /**
     * An interrupt of any thread inside a FileChannel call closes the channel for every thread (NIO's
     * rule). A database must not die because a caller's thread was interrupted, so I/O that finds the
     * channel closed under it reopens it and retries, unless the segment itself was closed.
     */
    private synchronized void reopen(ClosedChannelException cause) throws IOException {
        if (closed) throw cause;
        if (channel.isOpen()) return;
        channel = readOnly
                ? FileChannel.open(path, StandardOpenOption.READ)
                : FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
    }

    /** Sets where the entries end without touching the file (open, before {@link #activate}). */
    void setSize(long newSize) {
        size = newSize;
    }

    /** Cuts the file back to {@code newSize} (torn tail on open). */
    void truncate(long newSize) throws IOException {
        channel.truncate(newSize);
        channel.force(true);
        size = newSize;
    }

    void force() throws IOException {
        boolean interrupted = false;
        try {
            for (int attempt = 0; ; attempt++) {
                try {
                    channel.force(false);
                    return;
                } catch (ClosedChannelException e) {
                    interrupted |= Thread.interrupted();
                    if (attempt >= 3) throw e;
                    reopen(e);
                }
            }
        } finally {
            if (interrupted) Thread.currentThread().interrupt();
        }
    }

    /** Makes the segment read-only: fsynced, cut to its entries, and mapped for reads. */
    void seal() throws IOException {
        writable = null;
        force();
        if (channel.size() != size) {
            channel.truncate(size);
            channel.force(true);
        }
        map = channel.map(FileChannel.MapMode.READ_ONLY, 0, size);
        sealed = true;
    }

    /**
     * For a read-only view: the entries end at {@code end}, and [0, end) is mapped for reads. The file is not
     * touched. Only bytes below {@code end} are mapped: the writer may still cut the zeros after its last entry,
     * and touching a mapped page past the end of a file faults. {@code sealed} is false for the newest data
     * segment, which the writer may still append to (so its hint, if any, need not describe this view of it).
     */
    void mapReadOnly(long end, boolean sealed) throws IOException {
        size = end;
        map = channel.map(FileChannel.MapMode.READ_ONLY, 0, end);
        this.sealed = sealed;
    }

    /**
     * The bytes of [0, limit) for sequential reading: the mapping when sealed, else a fresh read. The
     * buffer's position is meaningless; use absolute gets.
     */
    ByteBuffer bytes(long limit) {
        MappedByteBuffer m = map;
        if (m != null && m.capacity() >= limit) return m.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        // a commit larger than the reserve grew the active file past its mapping
        ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(limit)).order(ByteOrder.LITTLE_ENDIAN);
        readFully(b, 0);
        return b.clear();
    }

    /**
     * The {@code len} bytes at {@code offset}: a view of the mapping when it covers them (no copy, no
     * system call), else a fresh read. Only for the caller's thread.
     */
    ByteBuffer view(long offset, int len) {
        MappedByteBuffer m = map;
        if (m != null && offset + len <= Math.min(m.capacity(), size)) {
            return m.slice(Math.toIntExact(offset), len).order(ByteOrder.LITTLE_ENDIAN);
        }
        return read(offset, len);
    }

    /** Reads {@code len} bytes at {@code offset} into a new buffer. */
    ByteBuffer read(long offset, int len) {
        MappedByteBuffer m = map;
        ByteBuffer b = ByteBuffer.allocate(len).order(ByteOrder.LITTLE_ENDIAN);
        if (m != null && offset + len <= Math.min(m.capacity(), size)) {
            m.get(Math.toIntExact(offset), b.array(), 0, len);
            return b;
        }
        if (!readFully(b, offset)) throw new CorruptionException("entry extends past end of file", path, offset);
        return b.clear();
    }

    /** Positional read into the whole of {@code b}; false at end of file. Survives interrupts. */
    private boolean readFully(ByteBuffer b, long offset) {
        boolean interrupted = false;
        try {
            for (int attempt = 0; ; attempt++) {
                try {
                    while (b.hasRemaining()) {
                        if (channel.read(b, offset + b.position()) < 0) return false;
                    }
                    return true;
                } catch (ClosedChannelException e) {
                    interrupted |= Thread.interrupted();
                    if (attempt >= 3) throw new UncheckedIOException("read failed: " + path + " offset=" + offset, e);
                    reopen(e);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("read failed: " + path + " offset=" + offset, e);
        } finally {
            if (interrupted) Thread.currentThread().interrupt();
        }
    }

    /** Takes a reference; false when the segment is already gone. */
    boolean acquire() {
        for (; ; ) {
            int r = refs.get();
            if (r <= 0) return false;
            if (refs.compareAndSet(r, r + 1)) return true;
        }
    }

    /** Drops a reference; the last one closes the file (and deletes it when retired). */
    void release() {
        if (refs.decrementAndGet() == 0) {
            closeQuietly();
            if (retired) {
                try {
                    Files.deleteIfExists(path);
                    Files.deleteIfExists(hintPath(path));
                } catch (IOException ignored) {
                    // a leftover file is harmless: the merge record deletes it on next open
                }
            }
        }
    }

    /** Marks the segment superseded by merge and drops the store's reference. */
    void retire() {
        retired = true;
        release();
    }

    void closeQuietly() {
        closed = true;
        try {
            channel.close();
        } catch (IOException ignored) {
            // closing a read-mostly file cannot lose data
        }
        map = null;
    }

    @Override
    public String toString() {
        return "segment " + id + " (" + kind + ", " + size + " bytes)";
    }
}
