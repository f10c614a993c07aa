package dev.caskade;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.LongConsumer;

/**
 * The segments of one store: appends to the active segment, seals and rolls it, and makes appends durable.
 * Appends and rolls are serialised by the caller's commit lock.
 *
 * <p>Positions in the log are counted as an LSN: bytes appended since open, across segments. A commit
 * is durable once {@link #durableLsn} covers its end. {@link #awaitDurable} is group commit: the first
 * waiter fsyncs everything written so far, and every commit that was written meanwhile shares that fsync.
 */
final class Log {
    final Path dir;
    private final CaskadeOptions options;
    private volatile List<Segment> segments;
    private volatile Segment active;
    private long nextId;
    private volatile long writtenLsn;
    /** Commits appended since open, and how many the last fsync covered: group commit's memory. */
    private volatile long writtenCommits;

    private long syncedCommits;
    private long lastGroup = 1;
    /** fsyncs done by group commit since open (a metric: commits per fsync is the grouping factor). */
    volatile long fsyncs;

    private final ReentrantLock syncLock = new ReentrantLock();
    private final Condition synced = syncLock.newCondition();
    private volatile long durableLsn;
    private boolean syncing;
    private volatile Throwable failure;
    private final LongConsumer onDurable;
    /** A failpoint for tests: the next fsync fails with this instead of running. */
    private volatile IOException nextSyncFailure;

    private final ExecutorService background;

    Log(Path dir, CaskadeOptions options, List<Segment> segments, Segment active, long nextId, LongConsumer onDurable) {
        this.dir = dir;
        this.options = options;
        this.segments = List.copyOf(segments);
        this.active = active;
        this.nextId = nextId;
        this.onDurable = onDurable;
        this.background = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "caskade-hints " + dir.getFileName());
            t.setDaemon(true);
            return t;
        });
    }

    List<Segment> segments() {
        return segments;
    }

    Segment active() {
        return active;
    }

    long writtenLsn() {
        return writtenLsn;
    }

    Throwable failure() {
        return failure;
    }

    void fail(Throwable t) {
        if (failure == null) failure = t;
    }

    /** The segment the next commit of {@code len} bytes goes to, rolling first if it would overflow. */
    Segment prepare(int len, long revisionBefore) throws IOException {
        Segment a = active;
        if (a.size() > Segment.HEADER && a.size() + len > options.segmentBytes()) a = roll(revisionBefore);
        return a;
    }

    /** Appends one encoded commit to {@code seg}; returns the LSN of its end. Under the commit lock. */
    long append(Segment seg, ByteBuffer commit) throws IOException {
        int len = commit.remaining();
        seg.append(commit);
        writtenCommits++;
        writtenLsn += len;
        return writtenLsn;
    }

    /** Seals the active segment and starts a new one. Under the commit lock. */
    Segment roll(long revisionBefore) throws IOException {
        Segment old = active;
        old.seal();
        Segment s = Segment.create(dir, nextId++, Segment.Kind.DATA, revisionBefore, "", options.segmentBytes());
        fsyncDirectory();
        List<Segment> next = new ArrayList<>(segments);
        next.add(s);
        segments = List.copyOf(next);
        active = s;
        writeHintLater(old);
        return s;
    }

    long takeId() {
        return nextId++;
    }

    /** Swaps merge inputs for merge outputs. Under the commit lock. */
    void replace(List<Segment> inputs, List<Segment> outputs) {
        List<Segment> next = new ArrayList<>(segments);
        next.removeAll(inputs);
        next.addAll(outputs);
        next.sort(Comparator.comparingLong(s -> s.id));
        segments = List.copyOf(next);
    }

    void writeHintLater(Segment s) {
        if (!s.acquire()) return;
        background.execute(() -> {
            try {
                writeHint(s);
            } catch (IOException | RuntimeException e) {
                // a missing hint only costs a scan at the next open
            } finally {
                s.release();
            }
        });
    }

    /** Writes the hint file of a sealed segment by reading it back. */
    static void writeHint(Segment s) throws IOException {
        long size = s.size();
        ByteBuffer b = s.bytes(size);
        List<HintFile.Item> items = new ArrayList<>();
        long maxTs = 0;
        int pos = Segment.HEADER;
        int open = -1;
        while (pos < size) {
            if (EntryCodec.check(b, pos, (int) size) != EntryCodec.Problem.NONE) {
                throw new CorruptionException("bad entry while writing hint", s.path, pos);
            }
            EntryCodec.Header h = EntryCodec.header(b, pos);
            items.add(
                    new HintFile.Item(EntryCodec.key(b, pos, h), h.revision(), h.expiresAt(), pos, h.size(), h.type()));
            maxTs = Math.max(maxTs, h.timestamp());
            if (open < 0) open = pos;
            if (s.kind != Segment.Kind.DATA || h.last()) open = -1;
            pos += h.size();
        }
        if (open >= 0) {
            // a commit repair dropped as incomplete: a hint would bring its first entries back at the next open
            throw new CorruptionException("segment ends inside a commit, no hint written", s.path, open);
        }
        HintFile.write(Segment.hintPath(s.path), s.id, size, maxTs, items);
    }

    void fsyncDirectory() throws IOException {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        }
    }

    /**
     * Returns once everything up to {@code lsn} is on disk, fsyncing as the leader of a group if nobody
     * else is. Throws {@link FatalException} if an fsync failed (now or before).
     */
    void awaitDurable(long lsn) {
        syncLock.lock();
        try {
            while (durableLsn < lsn) {
                if (failure != null) throw fatal();
                if (syncing) {
                    synced.awaitUninterruptibly();
                    continue;
                }
                syncing = true;
                syncLock.unlock();
                gather();
                long commits = writtenCommits;
                long target = writtenLsn;
                Segment seg = active;
                Throwable err = null;
                try {
                    IOException injected = nextSyncFailure;
                    if (injected != null) {
                        nextSyncFailure = null;
                        throw injected;
                    }
                    seg.force();
                } catch (IOException | RuntimeException e) {
                    err = e;
                }
                if (err == null) {
                    try {
                        onDurable.accept(target);
                    } catch (RuntimeException e) {
                        // a listener problem must not stall committers
                    }
                }
                syncLock.lock();
                syncing = false;
                if (err != null) {
                    fail(err);
                } else {
                    durableLsn = Math.max(durableLsn, target);
                    lastGroup = Math.max(1, commits - syncedCommits);
                    fsyncs++;
                    syncedCommits = commits;
                }
                synced.signalAll();
            }
        } finally {
            syncLock.unlock();
        }
        // the fsync that covered this caller may have run before its commit's event was queued (the leader reads
        // the written LSN outside the commit lock): publish what is durable now, not at the next fsync
        try {
            onDurable.accept(durableLsn);
        } catch (RuntimeException e) {
            // a listener problem must not fail a durable commit
        }
    }

    /**
     * Waits a little before an fsync when the last one was shared by many committers, until about as many
     * have written again or {@link #GATHER_NANOS} passed. Writers released by the previous fsync need a
     * moment to come back; without this the next fsync would cover only the first of them (PostgreSQL's
     * commit_delay, made adaptive). A lone writer (a group of one) never waits.
     */
    private void gather() {
        long want = lastGroup * 3 / 4;
        if (want < 2) return;
        long base = syncedCommits; // only leaders change it, and we are the leader
        long deadline = System.nanoTime() + GATHER_NANOS;
        while (writtenCommits - base < want && System.nanoTime() < deadline) {
            java.util.concurrent.locks.LockSupport.parkNanos(20_000);
        }
    }

    /** Longest wait for a group to form: about one fsync on this class of disk. */
    private static final long GATHER_NANOS = 200_000;

    /** One fsync of everything written so far (interval durability and close). */
    void syncNow() {
        long target = writtenLsn;
        awaitDurable(target);
    }

    void failNextSync(IOException e) {
        nextSyncFailure = e;
    }

    FatalException fatal() {
        return new FatalException(
                "store refuses writes after a failed write or fsync; reopen to recover: " + dir, failure);
    }

    /** Seals the active segment with its hint, so the next open reads hints only. */
    void closeWithHint() throws IOException {
        background.shutdown();
        try {
            background.awaitTermination(1, TimeUnit.MINUTES);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        Segment a = active;
        a.force();
        if (failure == null && a.size() > Segment.HEADER) {
            a.seal();
            writeHint(a);
        }
    }

    void closeFiles() {
        background.shutdownNow();
        for (Segment s : segments) s.closeQuietly();
    }

    /** Bytes of every segment and hint file. */
    long diskBytes() {
        long n = 0;
        for (Segment s : segments) {
            n += s.size();
            try {
                Path h = Segment.hintPath(s.path);
                if (Files.exists(h)) n += Files.size(h);
            } catch (java.nio.file.NoSuchFileException e) {
                // deleted between the two calls (merge, or the writer of a read-only view): counts as gone
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return n;
    }
}
