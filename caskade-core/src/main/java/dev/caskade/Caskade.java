package dev.caskade;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Optional;
import java.util.Queue;
import java.util.Set;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;

/**
 * An open store: a Bitcask log that is at once the key-value store, its write-ahead log and its change
 * feed. Every commit takes the next global revision; reads go through an in-memory key directory to one
 * positioned read; {@link #watch} replays the log from any retained revision and then follows live commits.
 *
 * <p>Thread-safe: any number of threads may read and write. Only one open instance may hold a directory.
 *
 * <pre>{@code
 * try (Caskade db = Caskade.open(Path.of("data"))) {
 *     long rev = db.put("user/1", "alice");
 *     db.get("user/1").ifPresent(e -> System.out.println(e.valueString()));
 * }
 * }</pre>
 */
public final class Caskade implements AutoCloseable {
    private static final int MAX_REAP = 1_000;

    final Path dir;
    final CaskadeOptions options;
    final KeyDir keyDir = new KeyDir();
    final Log log;
    final WatchHub hub;
    final ReentrantLock commitLock = new ReentrantLock();
    final ReentrantLock mergeLock = new ReentrantLock();
    private final LockFile lock;
    private final Recovery recovery;
    private final boolean sync;
    private volatile long revision;
    volatile long compactedRevision;
    private volatile boolean closed;
    private final Queue<Pending> pending = new ConcurrentLinkedQueue<>();
    /** Under SYNC: every revision up to this is on disk. Only the fsync leader raises it, in order. */
    private volatile long durableRevision;
    /** {@link #whenDurable} callers, by revision; guarded by itself. */
    private final java.util.PriorityQueue<DurableWaiter> durableWaiters =
            new java.util.PriorityQueue<>(java.util.Comparator.comparingLong(DurableWaiter::revision));

    private volatile Thread syncer;

    private record DurableWaiter(long revision, CompletableFuture<Long> future) {}
    /** Open snapshots by revision, with their count: decides whether writes keep old versions. */
    private final ConcurrentSkipListMap<Long, Integer> snapshots = new ConcurrentSkipListMap<>();

    final Set<Snapshot> openSnapshots = java.util.concurrent.ConcurrentHashMap.newKeySet();

    private final TreeSet<Expiry> expiries = new TreeSet<>();
    private final ScheduledExecutorService maintenance;
    private ByteBuffer encodeBuffer = ByteBuffer.allocateDirect(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
    final AtomicLong merges = new AtomicLong();
    /** Times merge compacted past a file pin that exceeded the budget ({@link Stats#pinsDropped()}). */
    final AtomicLong pinsDropped = new AtomicLong();

    final List<java.util.function.BooleanSupplier> pendingRecordCleanups = new ArrayList<>();

    /**
     * A commit to publish to watches: under SYNC it waits here for its fsync. The event itself is built
     * only if some watch is open at publish time.
     */
    private record Pending(long lsn, long revision, long timestamp, List<Op> ops) {
        WatchEvent.Commit event() {
            List<Change> changes = new ArrayList<>(ops.size());
            for (Op op : ops) {
                // copies: the key array is the key directory's own, the value may be the caller's
                changes.add(new Change(
                        EntryCodec.changeType(op.type()),
                        op.key().clone(),
                        op.value().clone(),
                        op.expiresAt()));
            }
            return new WatchEvent.Commit(revision, timestamp, List.copyOf(changes));
        }
    }

    /** A key with a time-to-live, ordered by expiry, for the reaper. */
    private record Expiry(long at, long revision, byte[] key) implements Comparable<Expiry> {
        @Override
        public int compareTo(Expiry o) {
            int c = Long.compare(at, o.at);
            if (c == 0) c = Long.compare(revision, o.revision);
            return c != 0 ? c : Arrays.compareUnsigned(key, o.key);
        }
    }

    /** What kind of call a commit serves: it decides what a no-op or a conflict returns. */
    private enum Mode {
        WRITE,
        DELETE,
        CAS
    }

    /** One operation of a commit, as written to the log. */
    private record Op(byte type, byte[] key, byte[] value, long expiresAt) {}

    /** {@code lock} is null for a read-only view ({@link #openReadOnly}). */
    private Caskade(Path dir, CaskadeOptions options, LockFile lock) throws IOException {
        this.dir = dir;
        this.options = options;
        this.lock = lock;
        this.sync = options.durability() instanceof Durability.Sync;
        LogReader.Loaded loaded =
                lock == null ? LogView.load(dir, options, keyDir) : LogReader.load(dir, options, keyDir);
        this.recovery = loaded.recovery();
        this.revision = loaded.revision();
        this.durableRevision = revision;
        this.compactedRevision = loaded.compactedRevision();
        this.hub = new WatchHub(revision);
        this.log = new Log(dir, options, loaded.segments(), loaded.active(), loaded.nextId(), this::publishDurable);
        for (Segment s : loaded.segments()) {
            if (lock != null && s.sealed() && s.kind == Segment.Kind.DATA && !Files.exists(Segment.hintPath(s.path))) {
                log.writeHintLater(s);
            }
        }
        for (Iterator<Map.Entry<byte[], Loc>> it = keyDir.entries(); it.hasNext(); ) {
            Map.Entry<byte[], Loc> e = it.next();
            if (e.getValue().expiresAt() != 0) {
                expiries.add(new Expiry(e.getValue().expiresAt(), e.getValue().revision, e.getKey()));
            }
        }
        this.maintenance = Executors.newScheduledThreadPool(2, r -> {
            Thread t = new Thread(r, "caskade-maintenance " + dir.getFileName());
            t.setDaemon(true);
            return t;
        });
        if (options.reapInterval().toMillis() > 0) {
            long ms = options.reapInterval().toMillis();
            maintenance.scheduleWithFixedDelay(this::reapQuietly, ms, ms, TimeUnit.MILLISECONDS);
        }
        if (options.mergeCheckInterval().toMillis() > 0) {
            long ms = options.mergeCheckInterval().toMillis();
            maintenance.scheduleWithFixedDelay(
                    () -> quietly(() -> Merge.run(this, false)), ms, ms, TimeUnit.MILLISECONDS);
        }
        if (options.durability() instanceof Durability.Interval(Duration period)) {
            long ms = Math.max(1, period.toMillis());
            maintenance.scheduleWithFixedDelay(() -> quietly(log::syncNow), ms, ms, TimeUnit.MILLISECONDS);
        }
    }

    /** Opens (or creates) the store in {@code dir} with default options. */
    public static Caskade open(Path dir) {
        return open(dir, CaskadeOptions.defaults());
    }

    /**
     * Opens (or creates) the store in {@code dir}. Recovers from the log: a torn tail of the newest segment
     * is cut off and reported in {@link #recovery()}; damage elsewhere throws {@link CorruptionException}
     * unless {@link CaskadeOptions#repairing()} is set.
     *
     * @throws LockedException when another process or open instance holds the directory
     * @throws CaskadeException when the directory holds a {@link Loader}'s unfinished load
     */
    public static Caskade open(Path dir, CaskadeOptions options) {
        try {
            Files.createDirectories(dir);
            LockFile lock = LockFile.acquire(dir);
            try {
                if (Files.exists(dir.resolve(Loader.MARKER))) {
                    throw new CaskadeException("store directory holds an unfinished bulk load (a " + Loader.MARKER
                            + " marker): restore again, which clears it: dir=" + dir);
                }
                return new Caskade(dir, options, lock);
            } catch (IOException | RuntimeException | Error e) {
                lock.close();
                throw e;
            }
        } catch (IOException e) {
            throw new CaskadeException("cannot open store: dir=" + dir + ": " + e.getMessage(), e);
        }
    }

    /** Opens a read-only view of the store in {@code dir}; see {@link #openReadOnly(Path, CaskadeOptions)}. */
    public static Caskade openReadOnly(Path dir) {
        return openReadOnly(dir, CaskadeOptions.defaults());
    }

    /**
     * Opens a read-only view of the store in {@code dir} as it is at this moment, without taking its lock, so
     * another process (or open instance) may be writing and merging it meanwhile. Nothing in the directory is
     * written, truncated or deleted, now or at {@link #close()}: no {@code *.tmp} cleanup, no finishing of merge
     * records (segments a record names are ignored), no torn-tail cut (the newest segment is read up to its last
     * complete commit), no hint files, and no background merge, reaper or syncer. Reads ({@code get}, {@code
     * scan}, {@code snapshot}, {@code watch} history, {@code revision}, {@code stats}, {@code verify}) see the
     * store at the revision of the open; later commits are not seen until it is opened again. Every write and
     * {@link #merge()} throws {@link IllegalStateException}. Of {@code options} only the clock (for TTLs), the
     * watch buffer and the limits matter. If the writer's merge moves files while the view is taken, it is taken
     * again, a few times, before it fails.
     *
     * @throws CaskadeException when {@code dir} is not a store directory, or its files kept changing
     * @throws CorruptionException on damage outside the tail of the newest data segment
     */
    public static Caskade openReadOnly(Path dir, CaskadeOptions options) {
        if (!Files.isDirectory(dir)) throw new CaskadeException("not a store directory (no such directory): " + dir);
        CaskadeOptions quiet = options.withDurability(Durability.NONE)
                .withReapInterval(Duration.ZERO)
                .withMerge(
                        options.mergeFragmentation(),
                        options.mergeDeadBytes(),
                        options.mergeBytesPerSecond(),
                        Duration.ZERO);
        IOException changed = null;
        for (int attempt = 0; attempt < 8; attempt++) {
            try {
                return new Caskade(dir, quiet, null);
            } catch (java.nio.file.NoSuchFileException | LogView.Changed e) {
                changed = e; // the writer's merge moved files under us: take the view again
                java.util.concurrent.locks.LockSupport.parkNanos((5L << attempt) * 1_000_000L);
            } catch (IOException e) {
                throw new CaskadeException("cannot open store read-only: dir=" + dir + ": " + e.getMessage(), e);
            }
        }
        throw new CaskadeException(
                "cannot open store read-only: its files kept changing (a merge running?): dir=" + dir, changed);
    }

    /** True for a view opened with {@link #openReadOnly}: it holds no lock and refuses writes. */
    public boolean isReadOnly() {
        return lock == null;
    }

    /**
     * Opens the store in {@code dir}, checks it with {@link #verify()} and closes it. A store too damaged
     * to open gives a report holding that problem instead of an exception.
     */
    public static VerifyReport verify(Path dir) {
        if (!Files.isDirectory(dir)) {
            return new VerifyReport(0, 0, 0, 0, List.of("not a store directory: " + dir));
        }
        try (Caskade db = open(dir)) {
            return db.verify();
        } catch (CorruptionException e) {
            return new VerifyReport(0, 0, 0, 0, List.of(e.getMessage()));
        }
    }

    // ---- writes

    /** Writes {@code key}; returns the commit's revision. */
    public long put(String key, String value) {
        return put(Batch.utf8(key), Batch.utf8(value));
    }

    /** Writes {@code key}; returns the commit's revision. */
    public long put(byte[] key, byte[] value) {
        // the value is not copied: it is encoded before put returns, and an event copies it then
        return commit(List.of(new Op(EntryCodec.PUT, key.clone(), value, 0)), List.of(), Mode.WRITE);
    }

    /** Writes {@code key} to expire after {@code ttl}; returns the commit's revision. */
    public long put(String key, String value, Duration ttl) {
        return put(Batch.utf8(key), Batch.utf8(value), ttl);
    }

    /** Writes {@code key} to expire after {@code ttl}; returns the commit's revision. */
    public long put(byte[] key, byte[] value, Duration ttl) {
        checkTtl(ttl);
        long at = expiry(ttl);
        return commit(List.of(new Op(EntryCodec.PUT, key.clone(), value.clone(), at)), List.of(), Mode.WRITE);
    }

    /** Deletes {@code key}; returns the revision of the delete, or 0 when the key did not exist. */
    public long delete(String key) {
        return delete(Batch.utf8(key));
    }

    /** Deletes {@code key}; returns the revision of the delete, or 0 when the key did not exist. */
    public long delete(byte[] key) {
        return commit(List.of(new Op(EntryCodec.DELETE, key.clone(), new byte[0], 0)), List.of(), Mode.DELETE);
    }

    /**
     * Commits every operation of {@code batch} atomically under one revision, which it returns. A batch
     * whose operations change nothing (deletes of absent keys) writes nothing and returns {@link
     * #revision()}.
     *
     * @throws ConflictException when a precondition from {@link Batch#expect} does not hold; nothing is
     *     written
     */
    public long commit(Batch batch) {
        return commit(ops(batch), batch.expects(), Mode.WRITE, true);
    }

    /**
     * Commits {@code batch} like {@link #commit(Batch)}, but never waits for an fsync: the commit is applied and
     * visible when this returns, and {@link #whenDurable(long)} says when it is on disk. Under {@link
     * Durability#SYNC} this lets a server answer many clients from a few threads: it holds each reply until its
     * revision is durable, and all the commits written meanwhile share one fsync. Under other durabilities it is
     * the same as {@code commit}.
     *
     * @throws ConflictException when a precondition from {@link Batch#expect} does not hold; nothing is
     *     written
     */
    public long commitNoWait(Batch batch) {
        return commit(ops(batch), batch.expects(), Mode.WRITE, false);
    }

    /**
     * Completes with {@code revision} once every commit up to it is on disk as {@link Durability#SYNC} promises
     * it; at once under other durabilities, which promise no more than the commit itself. Completes
     * exceptionally with {@link FatalException} if the fsync fails, and with {@link IllegalStateException} if
     * the store closes without making it durable.
     */
    public CompletableFuture<Long> whenDurable(long revision) {
        if (revision > this.revision) {
            throw new IllegalArgumentException(
                    "revision " + revision + " is not committed yet (latest is " + this.revision + ")");
        }
        if (!sync || revision <= durableRevision) return CompletableFuture.completedFuture(revision);
        CompletableFuture<Long> f = new CompletableFuture<>();
        synchronized (durableWaiters) {
            durableWaiters.add(new DurableWaiter(revision, f));
        }
        if (log.failure() != null || closed) {
            settleWaiters();
        } else {
            Thread t = syncer;
            if (t == null) t = startSyncer();
            java.util.concurrent.locks.LockSupport.unpark(t);
        }
        return f;
    }

    /**
     * The latest revision that is as durable as the store's {@link Durability} promises: under {@link
     * Durability#SYNC} the last one an fsync covered, otherwise {@link #revision()}.
     */
    public long durableRevision() {
        return sync ? durableRevision : revision;
    }

    private synchronized Thread startSyncer() {
        if (syncer == null) {
            Thread t = new Thread(this::syncLoop, "caskade-sync " + dir.getFileName());
            t.setDaemon(true);
            syncer = t;
            t.start();
        }
        return syncer;
    }

    /** Fsyncs for {@link #whenDurable} waiters whenever some are waiting; group commit batches them. */
    private void syncLoop() {
        while (!closed) {
            long want;
            synchronized (durableWaiters) {
                DurableWaiter head = durableWaiters.peek();
                want = head == null ? 0 : head.revision();
            }
            if (want == 0 || want <= durableRevision || log.failure() != null) {
                settleWaiters();
                java.util.concurrent.locks.LockSupport.parkNanos(this, 100_000_000L);
                continue;
            }
            try {
                log.syncNow();
            } catch (RuntimeException e) {
                settleWaiters();
                java.util.concurrent.locks.LockSupport.parkNanos(this, 1_000_000L);
            }
        }
        settleWaiters();
    }

    /** Completes the waiters whose revision is durable, and fails all of them once none can ever be. */
    private void settleWaiters() {
        long durable = durableRevision;
        Throwable failure = log.failure();
        List<DurableWaiter> done = new ArrayList<>();
        synchronized (durableWaiters) {
            for (DurableWaiter w = durableWaiters.peek(); w != null; w = durableWaiters.peek()) {
                if (w.revision() > durable && failure == null && !closed) break;
                done.add(durableWaiters.poll());
            }
        }
        for (DurableWaiter w : done) {
            if (w.revision() <= durable) {
                w.future().complete(w.revision());
            } else if (failure != null) {
                w.future().completeExceptionally(log.fatal());
            } else {
                w.future().completeExceptionally(new IllegalStateException("store closed: " + dir));
            }
        }
    }

    private List<Op> ops(Batch batch) {
        List<Op> ops = new ArrayList<>(batch.size());
        long now = options.clock().millis();
        for (Batch.Op op : batch.ops()) {
            ops.add(
                    switch (op) {
                        case Batch.Put p ->
                            new Op(
                                    EntryCodec.PUT,
                                    p.key(),
                                    p.value(),
                                    p.ttl() == null ? 0 : now + p.ttl().toMillis());
                        case Batch.Delete d -> new Op(EntryCodec.DELETE, d.key(), new byte[0], 0);
                    });
        }
        return ops;
    }

    /**
     * Applies a commit made elsewhere, with its own {@code revision} and commit {@code timestamp}: how a replica
     * applies its primary's change feed, so that its revisions are the primary's and {@link #revision()} is the
     * point to resume from after any restart. The commit is written exactly as a local one (atomically, under
     * one revision, as durable as the store's {@link Durability} promises, and published to watches with this
     * revision, timestamp and changes). A {@link ChangeType#PUT} keeps its absolute {@link Change#expiresAt()};
     * a {@link ChangeType#DELETE} or {@link ChangeType#EXPIRE} is written as a tombstone of its type even when
     * the key is absent (a prefix replica may never have seen it), and their values are ignored.
     *
     * <p>Revisions may skip (a prefix replica sees only the commits under its prefix) but never go back. A
     * replica store should be opened with {@link CaskadeOptions#withReapInterval withReapInterval(Duration.ZERO)}:
     * expired keys are already invisible by the clock, and their deletion arrives from the primary as an {@code
     * EXPIRE} change; a local reaper would commit one under a revision of its own, which the primary's next
     * commit then collides with.
     *
     * @return {@code revision}
     * @throws IllegalArgumentException when {@code revision} is not greater than {@link #revision()}, {@code
     *     changes} is empty, or a timestamp or expiry is negative; nothing is written
     * @throws LimitException when a key or value is over the store's limits; nothing is written
     * @throws IllegalStateException when the store is closed or open read-only
     */
    public long apply(long revision, long timestamp, List<Change> changes) {
        checkReadOnly();
        java.util.Objects.requireNonNull(changes, "changes");
        if (changes.isEmpty()) throw new IllegalArgumentException("changes must not be empty: revision " + revision);
        if (timestamp < 0) throw new IllegalArgumentException("timestamp must not be negative: " + timestamp);
        List<Op> ops = new ArrayList<>(changes.size());
        int bytes = 0;
        for (Change c : changes) {
            byte[] value = c.type() == ChangeType.PUT ? c.value() : new byte[0];
            checkLimits(c.key(), value);
            if (c.expiresAt() < 0) throw new IllegalArgumentException("expiresAt must not be negative: " + c);
            byte type = switch (c.type()) {
                case PUT -> EntryCodec.PUT;
                case DELETE -> EntryCodec.DELETE;
                case EXPIRE -> EntryCodec.EXPIRE;
            };
            // copies: the key directory keeps the key, and the caller may reuse its arrays
            ops.add(new Op(type, c.key().clone(), value.clone(), type == EntryCodec.PUT ? c.expiresAt() : 0));
            bytes += EntryCodec.size(c.key().length, value.length);
        }
        long lsn;
        commitLock.lock();
        try {
            checkWritable();
            if (revision <= this.revision) {
                throw new IllegalArgumentException("revision " + revision
                        + " must be greater than the store's revision " + this.revision + ": dir=" + dir);
            }
            // with no reaper (a replica), nothing else retires the expiries of versions the primary replaced
            for (Op op : ops) {
                Loc l = keyDir.current(op.key());
                if (l != null && l.expiresAt() != 0) expiries.remove(new Expiry(l.expiresAt(), l.revision, op.key()));
            }
            lsn = write(ops, revision, timestamp, bytes);
            this.revision = revision;
        } finally {
            commitLock.unlock();
        }
        if (sync) log.awaitDurable(lsn);
        return revision;
    }

    /**
     * Writes {@code value} only if {@code key} is at {@code expectedRevision} (0: only if absent).
     *
     * @return true when written
     */
    public boolean compareAndSet(String key, long expectedRevision, String value) {
        return compareAndSet(Batch.utf8(key), expectedRevision, Batch.utf8(value));
    }

    /**
     * Writes {@code value} only if {@code key} is at {@code expectedRevision} (0: only if absent).
     *
     * @return true when written
     */
    public boolean compareAndSet(byte[] key, long expectedRevision, byte[] value) {
        if (expectedRevision < 0)
            throw new IllegalArgumentException("expected revision must not be negative: " + expectedRevision);
        byte[] k = key.clone();
        return commit(
                        List.of(new Op(EntryCodec.PUT, k, value.clone(), 0)),
                        List.of(new Batch.Expect(k, expectedRevision)),
                        Mode.CAS)
                > 0;
    }

    /**
     * The one write path. Preconditions, the revision, the append and the key directory update happen
     * under the commit lock; under SYNC the caller then waits outside it for the group fsync, which is
     * what lets concurrent committers share one.
     *
     * @return the new revision; 0 for a delete of an absent key or a failed CAS; {@link #revision()} for
     *     a batch that changed nothing
     */
    private long commit(List<Op> ops, List<Batch.Expect> expects, Mode mode) {
        return commit(ops, expects, mode, true);
    }

    private long commit(List<Op> ops, List<Batch.Expect> expects, Mode mode, boolean wait) {
        Upstream upstream = options.upstream();
        if (upstream != null) return forward(upstream, ops, expects, mode);
        checkReadOnly();
        int bytes = 0;
        for (Op op : ops) {
            checkLimits(op.key(), op.value());
            bytes += EntryCodec.size(op.key().length, op.value().length);
        }
        long lsn;
        long rev;
        commitLock.lock();
        try {
            checkWritable();
            long now = options.clock().millis();
            for (Batch.Expect e : expects) {
                long actual = liveRevision(e.key(), now);
                if (actual != e.revision()) {
                    if (mode == Mode.CAS) return 0;
                    throw new ConflictException(e.key(), e.revision(), actual);
                }
            }
            List<Op> effective = dropNoOps(ops, now);
            if (effective.isEmpty()) return mode == Mode.DELETE ? 0 : revision;
            if (effective != ops) {
                bytes = 0;
                for (Op op : effective) bytes += EntryCodec.size(op.key().length, op.value().length);
            }
            rev = revision + 1;
            lsn = write(effective, rev, now, bytes);
            revision = rev;
        } finally {
            commitLock.unlock();
        }
        if (sync && wait) log.awaitDurable(lsn);
        return rev;
    }

    /**
     * A follower's write: decided at the primary, which answers once the commit is applied here. Limits are checked
     * here first, so that a write the primary would refuse fails without a round trip.
     */
    private long forward(Upstream upstream, List<Op> ops, List<Batch.Expect> expects, Mode mode) {
        checkOpen();
        List<Change> changes = new ArrayList<>(ops.size());
        for (Op op : ops) {
            checkLimits(op.key(), op.value());
            ChangeType type = op.type() == EntryCodec.PUT ? ChangeType.PUT : ChangeType.DELETE;
            changes.add(new Change(type, op.key(), op.value(), op.expiresAt()));
        }
        long rev = upstream.commit(changes, expects);
        if (rev > 0 || mode != Mode.WRITE || expects.isEmpty()) return rev;
        // a precondition failed at the primary: name one that fails here too, if this copy has seen why
        long now = options.clock().millis();
        Batch.Expect first = expects.get(0);
        for (Batch.Expect e : expects) {
            long actual = liveRevision(e.key(), now);
            if (actual != e.revision()) throw new ConflictException(e.key(), e.revision(), actual);
        }
        throw new ConflictException(first.key(), first.revision(), liveRevision(first.key(), now));
    }

    /** Deletes of keys that are absent (or already expired) change nothing and are not written. */
    private List<Op> dropNoOps(List<Op> ops, long now) {
        boolean any = false;
        for (Op op : ops) if (op.type() != EntryCodec.PUT) any = true;
        if (!any) return ops;
        List<Op> kept = new ArrayList<>(ops.size());
        Set<String> putHere = ops.size() > 1 ? new HashSet<>() : Set.of();
        for (Op op : ops) {
            String k = ops.size() > 1 ? new String(op.key(), java.nio.charset.StandardCharsets.ISO_8859_1) : null;
            if (op.type() == EntryCodec.PUT) {
                if (k != null) putHere.add(k);
                kept.add(op);
            } else if ((k != null && putHere.remove(k)) || liveRevision(op.key(), now) != 0) {
                kept.add(op);
            } else if (op.type() == EntryCodec.EXPIRE) {
                kept.add(op);
            }
        }
        return kept.size() == ops.size() ? ops : kept;
    }

    /** Appends one commit, updates the key directory and publishes or queues its event. Under the lock. */
    private long write(List<Op> ops, long rev, long now, int bytes) {
        ByteBuffer buf = encodeBuffer;
        if (buf.capacity() < bytes) {
            buf = bytes <= (16 << 20)
                    ? (encodeBuffer = ByteBuffer.allocateDirect(bytes).order(ByteOrder.LITTLE_ENDIAN))
                    : ByteBuffer.allocate(bytes).order(ByteOrder.LITTLE_ENDIAN);
        }
        buf.clear();
        for (int i = 0; i < ops.size(); i++) {
            Op op = ops.get(i);
            EntryCodec.encode(buf, rev, now, op.expiresAt(), op.type(), i == ops.size() - 1, op.key(), op.value());
        }
        buf.flip();
        long lsn;
        Segment seg;
        long start;
        try {
            seg = log.prepare(bytes, revision);
            start = seg.size();
            lsn = log.append(seg, buf);
        } catch (IOException e) {
            log.fail(e);
            throw new FatalException("write failed: dir=" + dir + ": " + e.getMessage(), e);
        }
        boolean keepPrev = !snapshots.isEmpty();
        long offset = start;
        for (Op op : ops) {
            int size = EntryCodec.size(op.key().length, op.value().length);
            Loc loc = Loc.of(seg, (int) offset, size, rev, op.expiresAt(), op.type());
            if (op.type() == EntryCodec.PUT) {
                keyDir.put(op.key(), loc, keepPrev);
                if (op.expiresAt() != 0) expiries.add(new Expiry(op.expiresAt(), rev, op.key()));
            } else {
                keyDir.remove(op.key(), loc, keepPrev);
            }
            offset += size;
        }
        seg.maxRevision = rev;
        seg.maxTimestamp = now;
        Pending p = new Pending(lsn, rev, now, ops);
        if (sync) {
            pending.add(p);
        } else {
            hub.publish(rev, p::event);
        }
        return lsn;
    }

    /** Called by the group-commit leader once everything up to {@code lsn} is on disk. */
    private void publishDurable(long lsn) {
        Pending head = pending.peek();
        if (head == null || head.lsn() > lsn) {
            settleWaiters();
            return;
        }
        synchronized (pending) { // the fsync leader and committers that find their event still queued
            long last = 0;
            for (Pending p = pending.peek(); p != null && p.lsn() <= lsn; p = pending.peek()) {
                pending.poll();
                hub.publish(p.revision(), p::event);
                last = p.revision();
            }
            if (last > durableRevision) durableRevision = last;
        }
        settleWaiters();
    }

    private long liveRevision(byte[] key, long now) {
        Loc l = keyDir.current(key);
        return l == null || l.expiredAt(now) ? 0 : l.revision;
    }

    private void checkLimits(byte[] key, byte[] value) {
        if (key.length == 0) throw new LimitException("key must not be empty");
        if (key.length > options.maxKeyBytes()) {
            throw new LimitException("key too large: " + key.length + " bytes > limit " + options.maxKeyBytes());
        }
        if (value.length > options.maxValueBytes()) {
            throw new LimitException("value too large: " + value.length + " bytes > limit " + options.maxValueBytes());
        }
    }

    static void checkTtl(Duration ttl) {
        if (ttl == null || ttl.isNegative() || ttl.isZero()) {
            throw new IllegalArgumentException("ttl must be positive: " + ttl);
        }
    }

    private long expiry(Duration ttl) {
        return options.clock().millis() + ttl.toMillis();
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("store is closed: " + dir);
    }

    private void checkReadOnly() {
        if (lock == null) throw new IllegalStateException("store is open read-only: " + dir);
    }

    private void checkWritable() {
        checkOpen();
        checkReadOnly();
        if (log.failure() != null) throw log.fatal();
    }

    // ---- reads

    /** The live value of {@code key}, or empty when it is absent or expired. */
    public Optional<Entry> get(String key) {
        return get(Batch.utf8(key));
    }

    /** The live value of {@code key}, or empty when it is absent or expired. */
    public Optional<Entry> get(byte[] key) {
        checkOpen();
        Loc l = keyDir.current(key);
        if (l == null || l.expiredAt(options.clock().millis())) return Optional.empty();
        return Optional.ofNullable(read(key, l, KeyDir::at, Long.MAX_VALUE));
    }

    /** Resolves a key's version again after merge moved the one we were about to read. */
    interface Resolver {
        Loc resolve(Loc head, long revision);
    }

    /**
     * Reads one version, checking its CRC and key. If merge retired the file meanwhile, the key is
     * resolved again: merge moved the same version elsewhere. Returns null if the key vanished.
     */
    Entry read(byte[] key, Loc l, Resolver resolver, long atRevision) {
        for (int attempt = 0; attempt < 1_000 && l != null; attempt++) {
            Segment s = l.segment;
            if (s.acquire()) {
                try {
                    ByteBuffer b = s.view(l.offset, l.size);
                    if (EntryCodec.check(b, 0, l.size) != EntryCodec.Problem.NONE) {
                        throw new CorruptionException("checksum mismatch", s.path, l.offset);
                    }
                    EntryCodec.Header h = EntryCodec.header(b, 0);
                    if (!EntryCodec.keyEquals(b, 0, h, key) || h.revision() != l.revision) {
                        throw new CorruptionException("entry does not match key directory", s.path, l.offset);
                    }
                    return new Entry(key.clone(), EntryCodec.value(b, 0, h), h.revision(), h.expiresAt());
                } finally {
                    s.release();
                }
            }
            l = resolver.resolve(keyDir.head(key), atRevision);
        }
        if (l == null) return null;
        throw new CaskadeException("could not read key after repeated moves: dir=" + dir);
    }

    /** Live keys starting with {@code prefix}, in key order, consistent at one revision. Close the stream. */
    public Stream<Entry> scan(String prefix) {
        return scan(Batch.utf8(prefix));
    }

    /** Live keys starting with {@code prefix}, in key order, consistent at one revision. Close the stream. */
    public Stream<Entry> scan(byte[] prefix) {
        return range(prefix, KeyDir.prefixEnd(prefix));
    }

    /** Live keys in [{@code from}, {@code to}) (null: open), in key order, at one revision. Close the stream. */
    public Stream<Entry> range(String from, String to) {
        return range(from == null ? null : Batch.utf8(from), to == null ? null : Batch.utf8(to));
    }

    /** Live keys in [{@code from}, {@code to}) (null: open), in key order, at one revision. Close the stream. */
    public Stream<Entry> range(byte[] from, byte[] to) {
        Snapshot s = snapshot();
        return s.range(from, to).onClose(s::close);
    }

    /** A consistent, read-only view of the store at the current revision. Close it when done. */
    public Snapshot snapshot() {
        commitLock.lock();
        try {
            checkOpen();
            long rev = revision;
            List<Segment> held = new ArrayList<>();
            for (Segment s : log.segments()) if (s.acquire()) held.add(s);
            snapshots.merge(rev, 1, Integer::sum);
            Snapshot snap = new Snapshot(this, rev, held);
            openSnapshots.add(snap);
            return snap;
        } finally {
            commitLock.unlock();
        }
    }

    void release(Snapshot s, List<Segment> held) {
        openSnapshots.remove(s);
        snapshots.computeIfPresent(s.revision(), (k, n) -> n == 1 ? null : n - 1);
        for (Segment seg : held) seg.release();
        commitLock.lock();
        try {
            Map.Entry<Long, Integer> oldest = snapshots.firstEntry();
            keyDir.trim(oldest == null ? Long.MAX_VALUE : oldest.getKey());
        } finally {
            commitLock.unlock();
        }
        finishMergeRecords();
    }

    /** Entries of [from, to) at {@code rev}, read lazily. */
    Stream<Entry> entriesAt(long rev, byte[] from, byte[] to) {
        checkOpen();
        long now = options.clock().millis();
        Iterator<Map.Entry<byte[], Loc>> it = keyDir.range(from, to);
        Iterator<Entry> entries = new Iterator<>() {
            Entry next;

            @Override
            public boolean hasNext() {
                while (next == null && it.hasNext()) {
                    Map.Entry<byte[], Loc> e = it.next();
                    Loc l = KeyDir.at(e.getValue(), rev);
                    if (l != null && !l.expiredAt(now)) next = read(e.getKey(), l, KeyDir::at, rev);
                }
                return next != null;
            }

            @Override
            public Entry next() {
                if (!hasNext()) throw new NoSuchElementException();
                Entry e = next;
                next = null;
                return e;
            }
        };
        return StreamSupport.stream(
                Spliterators.spliteratorUnknownSize(entries, Spliterator.ORDERED | Spliterator.NONNULL), false);
    }

    Optional<Entry> getAt(byte[] key, long rev) {
        checkOpen();
        Loc l = KeyDir.at(keyDir.head(key), rev);
        if (l == null || l.expiredAt(options.clock().millis())) return Optional.empty();
        return Optional.ofNullable(read(key, l, KeyDir::at, rev));
    }

    /** The {@link Digest} of the live keys under {@code prefix} now: {@link Snapshot#digest} of a new snapshot. */
    public Digest digest(byte[] prefix) {
        try (Snapshot s = snapshot()) {
            return s.digest(prefix);
        }
    }

    // ---- change feed

    /** Watches commits under {@code prefix} after {@code fromRevision}; see {@link Watch}. */
    public Watch watch(String prefix, long fromRevision, Consumer<WatchEvent> listener) {
        return watch(Batch.utf8(prefix), fromRevision, listener);
    }

    /**
     * Watches commits under {@code prefix} with revision greater than {@code fromRevision}: first the
     * history read back from the log, then live commits, in revision order, exactly once.
     *
     * @throws CompactedException when {@code fromRevision} is below {@link #compactedRevision()}
     */
    public Watch watch(byte[] prefix, long fromRevision, Consumer<WatchEvent> listener) {
        checkOpen();
        if (fromRevision < 0) throw new IllegalArgumentException("fromRevision must not be negative: " + fromRevision);
        java.util.Objects.requireNonNull(listener, "listener");
        Watch w = new Watch(hub, prefix, fromRevision, options.watchBuffer(), listener);
        hub.register(w, this::replay, at -> {
            if (fromRevision < compactedRevision) throw new CompactedException(fromRevision, compactedRevision);
        });
        return w;
    }

    /** A segment held for reading, with its size when taken: every entry below it is whole. */
    record Held(Segment segment, long limit) {}

    /**
     * Takes a reference on every segment (or only the data segments), with its current size, in one consistent
     * moment under the commit lock. The caller releases each one.
     */
    List<Held> hold(boolean dataOnly) {
        List<Held> held = new ArrayList<>();
        commitLock.lock();
        try {
            for (Segment s : log.segments()) {
                if ((!dataOnly || s.kind == Segment.Kind.DATA) && s.acquire()) held.add(new Held(s, s.size()));
            }
        } finally {
            commitLock.unlock();
        }
        return held;
    }

    /** Reads the commits in (from, to] touching {@code prefix} back from the data segments. */
    private void replay(byte[] prefix, long from, long to, java.util.function.Predicate<WatchEvent.Commit> sink) {
        List<Held> held = hold(true);
        try {
            for (int i = 0; i < held.size(); i++) {
                Segment s = held.get(i).segment();
                if (i + 1 < held.size() && held.get(i + 1).segment().base <= from) continue; // all of it is older
                if (s.base >= to) break;
                if (!new HistoryReader(s, held.get(i).limit(), prefix, from, to).replay(sink)) return;
            }
        } finally {
            for (Held h : held) h.segment().release();
        }
    }

    // ---- TTL

    /** One reaper pass: commits the deletion of every expired key as an EXPIRE change. Returns how many. */
    int reapExpired() {
        if (options.upstream() != null) return reapUpstream();
        long now = options.clock().millis();
        List<Op> ops = new ArrayList<>();
        List<Batch.Expect> expects = new ArrayList<>();
        commitLock.lock();
        try {
            if (closed) return 0;
            for (Iterator<Expiry> it = expiries.iterator(); it.hasNext() && ops.size() < MAX_REAP; ) {
                Expiry e = it.next();
                if (e.at() > now) break;
                it.remove();
                Loc l = keyDir.current(e.key());
                if (l != null && l.revision == e.revision() && l.expiresAt() == e.at()) {
                    ops.add(new Op(EntryCodec.EXPIRE, e.key(), new byte[0], 0));
                }
            }
            if (ops.isEmpty()) return 0;
            int bytes = 0;
            for (Op op : ops) bytes += EntryCodec.size(op.key().length, 0);
            checkWritable();
            long rev = revision + 1;
            long lsn = write(ops, rev, now, bytes);
            revision = rev;
            if (sync) {
                commitLock.unlock();
                try {
                    log.awaitDurable(lsn);
                } finally {
                    commitLock.lock();
                }
            }
            return ops.size();
        } finally {
            commitLock.unlock();
        }
    }

    /**
     * With an upstream the expiry is decided there, once for every copy: the expired versions are handed to it and
     * stay queued here until the upstream's EXPIRE (or a newer version) is applied.
     */
    private int reapUpstream() {
        long now = options.clock().millis();
        List<Batch.Expect> due = new ArrayList<>();
        commitLock.lock();
        try {
            if (closed) return 0;
            for (Iterator<Expiry> it = expiries.iterator(); it.hasNext() && due.size() < MAX_REAP; ) {
                Expiry e = it.next();
                if (e.at() > now) break;
                Loc l = keyDir.current(e.key());
                if (l != null && l.revision == e.revision() && l.expiresAt() == e.at()) {
                    due.add(new Batch.Expect(e.key().clone(), e.revision()));
                } else {
                    it.remove(); // a version that was replaced
                }
            }
        } finally {
            commitLock.unlock();
        }
        if (!due.isEmpty()) options.upstream().expire(List.copyOf(due));
        return 0; // one pass per tick: the versions stay until the upstream's commits arrive
    }

    private void reapQuietly() {
        quietly(() -> {
            while (reapExpired() == MAX_REAP && !closed) {
                // keep going while a pass was full
            }
        });
    }

    private void quietly(Runnable r) {
        try {
            r.run();
        } catch (RuntimeException e) {
            // background work retries on its next tick; foreground calls report the same failure
        }
    }

    // ---- maintenance and introspection

    /** The revision of the last commit; 0 for an empty store. */
    public long revision() {
        return revision;
    }

    /** History after this revision is complete: the smallest {@code fromRevision} a watch may use. */
    public long compactedRevision() {
        return compactedRevision;
    }

    /**
     * Merges now: rewrites the live entries of the sealed segments that retention and watches no longer
     * need, drops the rest and deletes the old files once no reader uses them. Returns true if it merged.
     */
    public boolean merge() {
        checkOpen();
        checkReadOnly();
        return Merge.run(this, true);
    }

    /** Checks every CRC, that hints match their segments and the key directory matches the log. */
    public VerifyReport verify() {
        checkOpen();
        return Verifier.run(this);
    }

    /** What opening this store had to repair. */
    public Recovery recovery() {
        return recovery;
    }

    /** A summary of the store now. */
    public Stats stats() {
        checkOpen();
        long live = 0;
        long dead = 0;
        for (Segment s : log.segments()) {
            long used = s.size() - Segment.HEADER;
            long d = Math.min(used, s.deadBytes.get());
            dead += d;
            live += used - d;
        }
        return new Stats(
                revision,
                keyDir.keys(),
                log.segments().size(),
                log.diskBytes(),
                live,
                dead,
                compactedRevision,
                keyDir.heapBytes(),
                hub.size(),
                snapshots.values().stream().mapToInt(Integer::intValue).sum(),
                merges.get(),
                options.durability().toString(),
                log.fsyncs,
                pinsDropped.get());
    }

    /** The store's directory. */
    public Path directory() {
        return dir;
    }

    /** The options it was opened with. */
    public CaskadeOptions options() {
        return options;
    }

    /** Oldest revision still needed by some watch or snapshot (Long.MAX_VALUE when none). */
    long oldestPin() {
        Map.Entry<Long, Integer> oldestSnapshot = snapshots.firstEntry();
        return Math.min(hub.oldestPin(), oldestSnapshot == null ? Long.MAX_VALUE : oldestSnapshot.getKey());
    }

    boolean isClosed() {
        return closed;
    }

    void finishMergeRecords() {
        synchronized (pendingRecordCleanups) {
            pendingRecordCleanups.removeIf(java.util.function.BooleanSupplier::getAsBoolean);
        }
    }

    /**
     * Closes the store: stops background work, fsyncs, writes the hint of the active segment, ends every
     * watch with {@link WatchEvent.Reason#STORE_CLOSED} and releases the lock. Idempotent.
     */
    @Override
    public void close() {
        commitLock.lock();
        try {
            if (closed) return;
            closed = true;
        } finally {
            commitLock.unlock();
        }
        maintenance.shutdownNow();
        try {
            maintenance.awaitTermination(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        mergeLock.lock();
        try {
            IOException failure = null;
            try {
                if (lock != null) { // a read-only view writes nothing, not even at close
                    if (log.failure() == null) log.syncNow(); // in-flight SYNC commits finish and are published
                    log.closeWithHint();
                }
            } catch (IOException | FatalException e) {
                failure = e instanceof IOException io ? io : new IOException(e);
            }
            if (failure == null) publishDurable(Long.MAX_VALUE);
            settleWaiters();
            Thread t = syncer;
            if (t != null) java.util.concurrent.locks.LockSupport.unpark(t);
            hub.closeAll(WatchEvent.Reason.STORE_CLOSED);
            finishMergeRecords();
            log.closeFiles();
            if (lock != null) lock.close();
            if (failure != null) throw new UncheckedIOException("close failed: dir=" + dir, failure);
        } finally {
            mergeLock.unlock();
        }
    }

    @Override
    public String toString() {
        return "Caskade[" + dir + ", revision=" + revision + "]";
    }
}
