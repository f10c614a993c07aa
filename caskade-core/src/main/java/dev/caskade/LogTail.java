package dev.caskade;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * Reads the committed log of a store directory that another process (or another open instance) is writing,
 * straight from its data segments: the change feed of a store this process does not own, for shipping it
 * elsewhere. It never takes the store's {@code LOCK} and never writes, truncates or deletes anything.
 *
 * <p>The rules it reads by ({@code docs/format.md} has the layout):
 *
 * <ul>
 *   <li>A commit is the entries sharing one revision; it is complete once its entry flagged LAST is whole and every
 *       entry's CRC checks. Only complete commits are delivered, in revision order, each exactly once for a caller
 *       that passes the last revision it got back as the next {@code after}.
 *   <li>In the newest data segment, an incomplete, zero or CRC-failing tail is not written yet: the writer appends
 *       into pre-extended, zero-filled space through a memory mapping, so bytes appear in no promised order until
 *       the commit is whole. The read stops there and the next call tries again. In any older (sealed) data segment
 *       the same bytes are damage: {@link CorruptionException} naming the file and offset.
 *   <li>Every call lists the directory again: new segments appear, and the writer's merge deletes old data segments
 *       and adds merged ones, which are skipped (they are not history). Segments already opened stay open, so a
 *       merge that deletes them does not take history away mid-read (an open file outlives its name); they are
 *       closed once they are behind {@code after}.
 *   <li>History that is gone (merged away before it could be opened: a gap between data segments, believed only
 *       after a second listing, since a listing may miss a file created while it runs) or a directory that now holds
 *       another store
 *       (its files were replaced, or {@code after} is beyond everything in it) is a {@link CompactedException}: the
 *       caller starts over from a snapshot.
 * </ul>
 *
 * <p>A commit read here is on the writer's disk only as far as its durability promised: under {@link
 * Durability#SYNC} a commit can be read a moment before its fsync, so a power loss could take back a commit already
 * read (a process crash cannot: the page cache survives it). Thread-safe; one caller at a time reads.
 */
public final class LogTail implements AutoCloseable {
    /** Data segments kept open at most; more are opened again by name when reached. */
    static final int MAX_OPEN = 64;

    private final Path dir;
    /** The directory's identity: a directory replaced by another one is another store. */
    private Object dirKey;
    /** Every segment seen, by id: headers never change, so each is read once. */
    private final TreeMap<Long, Known> known = new TreeMap<>();
    /** The directory turned out to hold another store; the next read with history to continue is told so. */
    private boolean replaced;

    private boolean closed;
    /** The last commit boundary read: the next read usually starts exactly there. */
    private long cursorSegment = -1;

    private long cursorOffset;
    private long cursorRevision;
    private ByteBuffer buffer;

    /** One segment file: its header, and for a data segment the open file and what is verified of it. */
    private static final class Known {
        final long id;
        final Segment.Kind kind;
        final long base;
        final Path path;
        final Object fileKey;
        FileChannel channel;
        /** In the latest listing; a data segment that is not may still be read through its open channel. */
        boolean listed = true;
        /** Every commit below this offset is complete; the last of them has {@link #verifiedRevision}. */
        long verifiedEnd = Segment.HEADER;

        long verifiedRevision;

        Known(Segment.Header h, Path path, Object fileKey) {
            this.id = h.id();
            this.kind = h.kind();
            this.base = h.base();
            this.path = path;
            this.fileKey = fileKey;
            this.verifiedRevision = h.base();
        }

        void verified(long end, long revision) {
            if (end > verifiedEnd) {
                verifiedEnd = end;
                verifiedRevision = revision;
            }
        }

        void closeChannel() {
            FileChannel ch = channel;
            channel = null;
            if (ch != null) {
                try {
                    ch.close();
                } catch (IOException ignored) {
                    // a read-only file: nothing to lose
                }
            }
        }
    }

    private LogTail(Path dir) {
        this.dir = dir;
    }

    /**
     * Starts reading the store in {@code dir}. Takes no lock.
     *
     * @throws CaskadeException when {@code dir} is not a store directory (no {@code LOCK} and no segment)
     * @throws CorruptionException when a segment header is damaged
     */
    public static LogTail open(Path dir) {
        Objects.requireNonNull(dir, "dir");
        if (!Files.isDirectory(dir)) throw new CaskadeException("not a store directory (no such directory): " + dir);
        LogTail t = new LogTail(dir);
        try {
            boolean segments = !LogView.segmentFiles(dir).isEmpty();
            if (!segments && !Files.exists(dir.resolve("LOCK"))) {
                throw new CaskadeException("not a store directory (no LOCK and no segments): " + dir);
            }
            t.refresh();
            return t;
        } catch (IOException e) {
            t.close();
            throw new CaskadeException("cannot read store: dir=" + dir + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            t.close();
            throw e;
        }
    }

    /** The directory read. */
    public Path directory() {
        return dir;
    }

    /**
     * Delivers to {@code sink} the complete commits with revision in ({@code after}, {@code upTo}], in revision
     * order, each with every change it made; stops once roughly {@code maxBytes} of entries were delivered (always
     * at least one commit if one is available), at the end of what is written, or after {@code upTo}. A caller that
     * passes the returned revision as the next {@code after} gets every commit exactly once.
     *
     * @return the revision of the last commit delivered, or {@code after} if nothing new is written yet
     * @throws CompactedException when history after {@code after} is no longer in the data segments, or the
     *     directory now holds another store; {@link CompactedException#oldest()} is {@link #oldest()}
     * @throws CorruptionException on damage anywhere but the tail of the newest data segment
     */
    public synchronized long read(long after, long upTo, long maxBytes, Consumer<WatchEvent.Commit> sink) {
        if (after < 0) throw new IllegalArgumentException("after must not be negative: " + after);
        if (upTo < after) throw new IllegalArgumentException("upTo " + upTo + " is below after " + after);
        Objects.requireNonNull(sink, "sink");
        try {
            refresh();
            if (replaced) {
                replaced = false;
                if (after > 0) throw new CompactedException(after, oldestListed());
            }
            return upTo == after ? after : deliver(after, upTo, maxBytes, sink, false);
        } catch (CompactedException e) {
            replaced = false; // the caller starts over: that is the news a replaced directory has to tell
            throw e;
        } catch (IOException e) {
            throw new CaskadeException("cannot read store: dir=" + dir + ": " + e.getMessage(), e);
        }
    }

    /**
     * The read itself. A gap in the chain of data segments means history was merged away, or that the listing
     * missed a segment being created while the directory was read (a listing only promises the files that exist
     * throughout it): so before it says so, it lists again, once ({@code relisted}).
     */
    private long deliver(long after, long upTo, long maxBytes, Consumer<WatchEvent.Commit> sink, boolean relisted)
            throws IOException {
        List<Known> chain = dataSegments(false);
        if (chain.isEmpty() && after == 0) return 0; // the writer has not created its first segment yet
        int start = -1;
        for (int i = 0; i < chain.size(); i++) if (chain.get(i).base <= after) start = i;
        if (start < 0) throw new CompactedException(after, oldestListed());
        for (int i = 0; i < start; i++) forget(chain.get(i)); // wholly behind after
        long delivered = after;
        long bytes = 0;
        long lastRevision = 0;
        for (int i = start; i < chain.size(); i++) {
            Known s = chain.get(i);
            boolean newest = i == chain.size() - 1;
            long from = Segment.HEADER;
            if (i == start) {
                // resume from the furthest commit boundary known at or below after
                lastRevision = s.base;
                if (s.verifiedRevision <= after && s.verifiedEnd > from) {
                    from = s.verifiedEnd;
                    lastRevision = s.verifiedRevision;
                }
                if (cursorSegment == s.id && cursorRevision <= after && cursorOffset > from) {
                    from = cursorOffset;
                    lastRevision = cursorRevision;
                }
            } else if (s.base < lastRevision) {
                throw new CorruptionException(
                        "segment starts at revision " + s.base + ", below the previous segment's last commit "
                                + lastRevision,
                        s.path,
                        16);
            } else if (s.base > lastRevision) {
                // the segments between were merged away before they could be opened, or not listed yet
                if (delivered > after) return delivered;
                return gap(after, upTo, maxBytes, sink, relisted);
            }
            FileChannel ch = channel(s);
            if (ch == null) {
                if (delivered > after) return delivered;
                return gap(after, upTo, maxBytes, sink, relisted);
            }
            SegmentScan scan = new SegmentScan(ch, s.path, true, newest, from, lastRevision, buffer);
            try {
                while (scan.next()) {
                    long r = scan.revision();
                    s.verified(scan.commitEnd(), r);
                    if (r > upTo) return delivered;
                    cursorSegment = s.id;
                    cursorOffset = scan.commitEnd();
                    cursorRevision = r;
                    if (r <= after) continue;
                    sink.accept(commit(scan));
                    delivered = r;
                    bytes += scan.commitEnd() - scan.commitStart();
                    if (bytes >= maxBytes) return delivered;
                }
            } finally {
                buffer = scan.buffer();
            }
            lastRevision = scan.lastRevision();
            if (newest && lastRevision < after) {
                // after is beyond every commit in the directory: not the store the caller read before
                throw new CompactedException(after, oldestListed());
            }
        }
        return delivered;
    }

    /** History after {@code after} looks gone: list the directory again and read once more, then give up. */
    private long gap(long after, long upTo, long maxBytes, Consumer<WatchEvent.Commit> sink, boolean relisted)
            throws IOException {
        if (relisted || replaced) throw new CompactedException(after, oldestListed());
        refresh();
        if (replaced) throw new CompactedException(after, oldestListed());
        return deliver(after, upTo, maxBytes, sink, true);
    }

    private static WatchEvent.Commit commit(SegmentScan scan) {
        List<Change> changes = new ArrayList<>();
        scan.entries((b, at, offset, h) -> changes.add(new Change(
                EntryCodec.changeType(h.type()), EntryCodec.key(b, at, h), EntryCodec.value(b, at, h), h.expiresAt())));
        return new WatchEvent.Commit(scan.revision(), scan.timestamp(), List.copyOf(changes));
    }

    /** The revision of the newest complete commit in the files right now; 0 for an empty store. */
    public synchronized long revision() {
        try {
            refresh();
            List<Known> data = dataSegments(true);
            if (data.isEmpty()) return 0;
            Known n = data.get(data.size() - 1);
            FileChannel ch = channel(n);
            if (ch == null) return n.verifiedRevision;
            SegmentScan scan = new SegmentScan(ch, n.path, true, true, n.verifiedEnd, n.verifiedRevision, buffer);
            try {
                while (scan.next()) n.verified(scan.commitEnd(), scan.revision());
            } finally {
                buffer = scan.buffer();
            }
            return n.verifiedRevision;
        } catch (IOException e) {
            throw new CaskadeException("cannot read store: dir=" + dir + ": " + e.getMessage(), e);
        }
    }

    /**
     * The smallest {@code after} that {@link #read} accepts now: the history after it is still in the data segments
     * on disk (the base revision of the oldest one; 0 for an empty store).
     */
    public synchronized long oldest() {
        try {
            refresh();
            return oldestListed();
        } catch (IOException e) {
            throw new CaskadeException("cannot read store: dir=" + dir + ": " + e.getMessage(), e);
        }
    }

    /** Closes every file it holds. Idempotent. */
    @Override
    public synchronized void close() {
        closed = true;
        for (Known k : known.values()) k.closeChannel();
        known.clear();
    }

    private long oldestListed() {
        for (Known k : known.values()) if (k.kind == Segment.Kind.DATA && k.listed) return k.base;
        return 0;
    }

    /** The data segments in id order: those on disk now, and (unless {@code listedOnly}) those still held open. */
    private List<Known> dataSegments(boolean listedOnly) {
        List<Known> data = new ArrayList<>();
        for (Known k : known.values()) {
            if (k.kind == Segment.Kind.DATA && (k.listed || !listedOnly)) data.add(k);
        }
        return data;
    }

    /** Drops a data segment that is wholly behind what the caller has read. */
    private void forget(Known k) {
        k.closeChannel();
        if (!k.listed) known.remove(k.id);
        if (cursorSegment == k.id) cursorSegment = -1;
    }

    /** The open file of a data segment, opened again by name if needed; null when it is gone. */
    private FileChannel channel(Known k) throws IOException {
        if (k.channel != null && k.channel.isOpen()) return k.channel;
        k.channel = null; // closed under us (an interrupt closes a channel for everyone)
        if (!k.listed) return null;
        FileChannel ch;
        try {
            ch = FileChannel.open(k.path, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            k.listed = false;
            return null;
        }
        Object key = fileKey(k.path);
        if (k.fileKey != null && key != null && !k.fileKey.equals(key)) {
            ch.close();
            reset();
            return null;
        }
        k.channel = ch;
        return ch;
    }

    /**
     * Lists the directory: reads the header of every new segment, notes which are gone, and detects a directory
     * that now holds another store (then every file is forgotten and {@link #replaced} is set).
     */
    private void refresh() throws IOException {
        if (closed) throw new IllegalStateException("log tail is closed: " + dir);
        for (int attempt = 0; ; attempt++) {
            Object dk;
            try {
                dk = Files.readAttributes(dir, BasicFileAttributes.class).fileKey();
            } catch (NoSuchFileException e) {
                throw new CaskadeException("store directory is gone: " + dir, e);
            }
            if (dirKey == null) dirKey = dk;
            if (dk != null && !dk.equals(dirKey)) {
                reset();
                dirKey = dk;
            }
            TreeMap<Long, Path> files = LogView.segmentFiles(dir);
            boolean suspect = false;
            for (Iterator<Known> it = known.values().iterator(); it.hasNext(); ) {
                Known k = it.next();
                k.listed = files.containsKey(k.id);
                if (k.listed && k.channel != null && k.fileKey != null) {
                    Object key = fileKey(k.path);
                    if (key == null) {
                        k.listed = false; // deleted since the listing
                    } else if (!key.equals(k.fileKey)) {
                        suspect = true; // same name, another file: the writer never reuses a segment's name
                    }
                }
                if (!k.listed && (k.kind == Segment.Kind.MERGED || k.channel == null)) {
                    k.closeChannel();
                    it.remove();
                }
            }
            long newestFile = files.isEmpty() ? -1 : files.lastKey();
            for (Map.Entry<Long, Path> e : files.entrySet()) {
                if (!known.containsKey(e.getKey())) add(e.getKey(), e.getValue(), e.getKey() == newestFile);
            }
            // the writer never deletes its newest data segment: one still held but gone, newer than all on disk,
            // means the directory was emptied and refilled
            long newestListed = -1;
            for (Known k : known.values()) if (k.kind == Segment.Kind.DATA && k.listed) newestListed = k.id;
            for (Known k : known.values()) {
                if (k.kind == Segment.Kind.DATA && !k.listed && k.id > newestListed) suspect = true;
            }
            if (!suspect) return;
            // a segment created and one deleted while the directory was being listed can look the same: list
            // again before concluding; once it is certain, forget everything and list the new store
            if (attempt >= 1) reset();
            if (attempt >= 3) return;
        }
    }

    /** Reads the header of a segment file seen for the first time. */
    private void add(long id, Path p, boolean newestFile) throws IOException {
        FileChannel ch;
        try {
            ch = FileChannel.open(p, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            return; // merged away already
        }
        try {
            if (newestFile && ch.size() < Segment.HEADER) {
                ch.close(); // the writer is creating it: its header comes next
                return;
            }
            Segment.Header h = Segment.readHeader(ch, p);
            if (h.id() != id) throw new CorruptionException("segment id " + h.id() + " does not match its name", p, 8);
            Known k = new Known(h, p, fileKey(p));
            known.put(id, k);
            if (k.kind == Segment.Kind.DATA && openChannels() < MAX_OPEN) {
                k.channel = ch;
            } else {
                ch.close();
            }
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    private int openChannels() {
        int n = 0;
        for (Known k : known.values()) if (k.channel != null) n++;
        return n;
    }

    /** Forgets every file: the directory holds another store now. */
    private void reset() {
        for (Known k : known.values()) k.closeChannel();
        known.clear();
        cursorSegment = -1;
        replaced = true;
    }

    private static Object fileKey(Path p) throws IOException {
        try {
            return Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS)
                    .fileKey();
        } catch (NoSuchFileException e) {
            return null;
        }
    }
}
