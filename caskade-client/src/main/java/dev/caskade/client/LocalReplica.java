package dev.caskade.client;

import dev.caskade.Batch;
import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.Change;
import dev.caskade.ChangeType;
import dev.caskade.Digest;
import dev.caskade.Durability;
import dev.caskade.Entry;
import dev.caskade.LimitException;
import dev.caskade.Loader;
import dev.caskade.ReadOnlyException;
import dev.caskade.UnavailableException;
import dev.caskade.WatchEvent;
import io.github.resilience4j.circuitbreaker.CallNotPermittedException;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * A live local copy of a server's keys under a prefix, in a {@code caskade-core} store of its own directory: reads
 * are local (microseconds), and every commit any client makes on the server is applied here, in revision order,
 * with the server's revision, so the store's {@link Caskade#revision()} is exactly where to resume after a
 * disconnect or a restart of either side.
 *
 * <p>Bootstrap: one SSE watch with {@code snapshot=true} brings the state at revision R, loaded with {@link
 * Loader} (original per-key revisions) into a fresh directory and swapped in; the commits after R that the same
 * stream carries are applied after it, none lost and none twice. When the server's history no longer reaches the
 * replica's revision (it was away too long), the same happens again and listeners are told ({@link
 * Listener#reset}).
 *
 * <p>Reconnecting: exponential backoff with jitter between attempts, and a circuit breaker (Resilience4j, one per
 * replica) around opening the stream, so that a server that is gone is not hammered: while the breaker is open no
 * connection is attempted at all ({@link ReplicaOptions}). A stream that brings nothing, not even the server's
 * keep-alive comment, for {@link ReplicaOptions#idleTimeout()} is taken for a silently dead connection and replaced.
 *
 * <p>The local store runs without fsync per commit: a crash loses at most the last applied commits, and the
 * replica simply fetches them again from its revision. Directory layout: {@code DIR/store} (the store) and, while
 * a snapshot loads, {@code DIR/store.new}.
 */
public final class LocalReplica implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(LocalReplica.class.getName());
    /** How a replica names itself to the server, which lists its live copies in /v1/status. */
    private static final String WHO = who();

    /** Told about what the replica applies, on the replica's own thread, in revision order. */
    public interface Listener {
        /** One commit was applied locally. */
        void commit(WatchEvent.Commit commit);

        /**
         * A fresh snapshot at {@code revision} is loaded and about to replace the current {@link #store() store},
         * which closes right after this returns: whoever serves that store stops using it here.
         */
        default void beforeReset(long revision) {}

        /** The whole copy was replaced by a fresh snapshot at {@code revision} (the first load, or after compaction). */
        default void reset(long revision) {}
    }

    /** The circuit breaker around opening the stream. */
    public enum Breaker {
        /** Connection attempts are made (with backoff). */
        CLOSED,
        /** Too many openings failed: no connection is attempted until {@link ReplicaOptions#openWait()} is over. */
        OPEN,
        /** Probing: the next opening(s) decide whether it closes or opens again. */
        HALF_OPEN
    }

    /**
     * What the replica is doing.
     *
     * @param state {@code connecting} (a store from before, first stream not open yet), {@code bootstrapping},
     *     {@code live}, {@code reconnecting} or {@code closed}
     * @param revision the last revision applied locally
     * @param reconnects how many times the stream was opened again after the first time
     * @param snapshots how many snapshots were loaded
     * @param lastError why the last stream (or attempt) failed, or null
     * @param breaker the circuit breaker's state
     * @param serverRevision the newest revision the replica knows the server has: the newest commit or snapshot the
     *     stream brought, or the server's {@code GET /v1/status}, asked at most every {@link
     *     ReplicaOptions#revisionRefresh()} while live; never below {@code revision}, 0 while unknown
     * @param lagRevisions {@code serverRevision - revision}. For a prefix replica these are server revisions the stream
     *     has not shown it, which includes commits outside the prefix (the stream never carries them): an upper bound
     *     that drops to 0 with the next commit under the prefix
     * @param lastAppliedAt when a commit or snapshot was last applied locally, or null
     * @param pendingWrites writes in the outbox that the server has not answered yet (0 without offline writes)
     */
    public record Status(
            String state,
            long revision,
            long reconnects,
            long snapshots,
            String lastError,
            Breaker breaker,
            long serverRevision,
            long lagRevisions,
            Instant lastAppliedAt,
            long pendingWrites) {}

    private final CaskadeClient client;
    private final byte[] prefix;
    private final Path dir;
    private final ReplicaOptions options;
    private final CircuitBreaker breaker;
    private final CircuitBreaker forwarding;
    private final List<Listener> listeners = new CopyOnWriteArrayList<>();
    private final Object revisionLock = new Object();
    private final Object wake = new Object();
    private final AtomicLong serverRevision = new AtomicLong();
    private final AtomicBoolean refreshing = new AtomicBoolean();
    private final Thread thread;
    private volatile Caskade db;
    private volatile boolean closed;
    /** The server's history no longer reaches this copy: the next stream brings a fresh snapshot. */
    private volatile boolean reloading;

    private volatile RemoteWatch watch;
    private volatile String state;
    private volatile String lastError;
    private volatile long reconnects;
    private volatile long snapshots;
    private volatile Instant lastAppliedAt;
    private volatile long probeAtNanos;
    private long refreshedAtNanos;
    /** This replica's own writes: sent directly, or through the outbox (offline writes). */
    private final ReplicaWrites writes;

    private LocalReplica(CaskadeClient client, byte[] prefix, Path dir, ReplicaOptions options) {
        this.client = Objects.requireNonNull(client, "client");
        this.prefix = prefix.clone();
        this.dir = dir;
        this.options = Objects.requireNonNull(options, "options");
        this.breaker =
                CircuitBreaker.of("replica " + dir, breakerConfig(options).build());
        // only an unreachable server counts against forwarded writes, not a write the server refused
        this.forwarding = CircuitBreaker.of(
                "replica writes " + dir,
                breakerConfig(options)
                        .recordExceptions(UnavailableException.class)
                        .build());
        breaker.getEventPublisher().onStateTransition(e -> {
            switch (e.getStateTransition().getToState()) {
                case OPEN, FORCED_OPEN -> {
                    probeAtNanos = System.nanoTime() + options.openWait().toNanos();
                    LOG.log(
                            System.Logger.Level.WARNING,
                            "replica {0}: circuit breaker OPEN ({1}% of the last stream openings failed);"
                                    + " no attempt for {2}",
                            dir,
                            breaker.getMetrics().getFailureRate(),
                            options.openWait());
                }
                case HALF_OPEN -> LOG.log(System.Logger.Level.INFO, "replica {0}: circuit breaker HALF_OPEN", dir);
                case CLOSED -> LOG.log(System.Logger.Level.INFO, "replica {0}: circuit breaker CLOSED", dir);
                default -> {}
            }
        });
        try {
            Files.createDirectories(dir);
            Loader.discard(dir.resolve("store.new")); // a load cut short by a crash
        } catch (IOException e) {
            throw new UncheckedIOException("cannot prepare replica directory " + dir + ": " + e.getMessage(), e);
        }
        Path store = dir.resolve("store");
        if (Files.isDirectory(store)) db = Caskade.open(store, storeOptions().withUpstream(this::forward));
        this.state = db == null ? "bootstrapping" : "connecting";
        this.refreshedAtNanos = System.nanoTime() - options.revisionRefresh().toNanos(); // ask as soon as live
        this.thread = Thread.ofVirtual().name("caskade-replica").unstarted(this::run);
        ReplicaWrites w;
        try {
            w = new ReplicaWrites(client, this.prefix, dir, options, this::revision);
        } catch (RuntimeException e) {
            if (db != null) db.close(); // the outbox is another process's: so is the store
            throw e;
        }
        this.writes = w;
        if (client.options().localEcho()) listeners.add(writes.settler());
        writes.start();
    }

    private static String who() {
        String host;
        try {
            host = java.net.InetAddress.getLocalHost().getHostName();
        } catch (java.net.UnknownHostException e) {
            host = "unknown";
        }
        return "host=" + host.replaceAll("[^\\x21-\\x7e]", "?") + " pid="
                + ProcessHandle.current().pid();
    }

    private static CircuitBreakerConfig.Builder breakerConfig(ReplicaOptions options) {
        return CircuitBreakerConfig.custom()
                .slidingWindowType(CircuitBreakerConfig.SlidingWindowType.COUNT_BASED)
                .slidingWindowSize(options.window())
                .minimumNumberOfCalls(options.minimumCalls())
                .failureRateThreshold(options.failureRatePercent())
                .waitDurationInOpenState(options.openWait())
                .permittedNumberOfCallsInHalfOpenState(options.halfOpenProbes());
    }

    /** Starts a replica of the keys under {@code prefix} in {@code dir} (which its store's lock makes exclusive). */
    public static LocalReplica open(CaskadeClient client, String prefix, Path dir) {
        return open(client, prefix, dir, ReplicaOptions.defaults());
    }

    /** Like {@link #open(CaskadeClient, String, Path)}, with {@code listener} told from the very first commit. */
    public static LocalReplica open(CaskadeClient client, String prefix, Path dir, Listener listener) {
        return open(client, prefix, dir, ReplicaOptions.defaults(), listener);
    }

    /** Starts a replica with these reconnect, breaker and idle settings. */
    public static LocalReplica open(CaskadeClient client, String prefix, Path dir, ReplicaOptions options) {
        LocalReplica r = new LocalReplica(client, prefix.getBytes(StandardCharsets.UTF_8), dir, options);
        r.thread.start();
        return r;
    }

    /**
     * Starts a replica whose {@code listener} is registered before anything is applied: it sees the first snapshot
     * ({@link Listener#reset}) and every commit after it, none missed.
     */
    public static LocalReplica open(
            CaskadeClient client, String prefix, Path dir, ReplicaOptions options, Listener listener) {
        LocalReplica r = new LocalReplica(client, prefix.getBytes(StandardCharsets.UTF_8), dir, options);
        r.listeners.add(Objects.requireNonNull(listener, "listener"));
        r.thread.start();
        return r;
    }

    static CaskadeOptions storeOptions() {
        // the server is the source of truth: what a crash loses here is fetched again from the store's revision
        return CaskadeOptions.defaults().withDurability(Durability.NONE).withReapInterval(Duration.ZERO);
    }

    /**
     * The local store itself, to serve it (a follower server does): reads are local, and its writes are forwarded to
     * the server, answering once the replica has applied them ({@link ReplicaOptions#readOnly()}: refused). Null
     * before the first snapshot; a fresh snapshot replaces it (see {@link Listener#beforeReset}).
     */
    public Caskade store() {
        return db;
    }

    /** The server this replica follows. */
    public String server() {
        return client.base();
    }

    /** The prefix it copies ("" for everything). */
    public String prefix() {
        return new String(prefix, StandardCharsets.UTF_8);
    }

    public Optional<Entry> get(String key) {
        return get(key.getBytes(StandardCharsets.UTF_8));
    }

    /** The local value; with {@link ClientOptions#localEcho()}, a queued write of the key (revision 0) instead. */
    public Optional<Entry> get(byte[] key) {
        Optional<Entry> echoed = writes.echo(key);
        if (echoed != null) return echoed;
        Caskade d = db;
        return d == null ? Optional.empty() : d.get(key);
    }

    /**
     * The local keys under {@code p}, in key order, consistent at one revision (with {@link
     * ClientOptions#localEcho()}, queued writes laid over them). Close the stream.
     */
    public Stream<Entry> scan(String p) {
        Caskade d = db;
        return writes.scan(p.getBytes(StandardCharsets.UTF_8), d == null ? Stream.empty() : d.scan(p));
    }

    /** The last revision applied locally (0 before the first snapshot). */
    public long revision() {
        Caskade d = db;
        return d == null ? 0 : d.revision();
    }

    /** The local copy's digest (the same definition as the server's {@code /v1/digest}). */
    public Digest digest() {
        Caskade d = db;
        if (d == null) throw new IllegalStateException("replica has no snapshot yet: " + dir);
        return d.digest(prefix);
    }

    /** Waits until the replica has applied {@code revision} (read-your-writes after a remote put). */
    public boolean awaitRevision(long revision, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (revisionLock) {
            while (revision() < revision) {
                long left = deadline - System.nanoTime();
                if (left <= 0 || closed) return revision() >= revision;
                TimeUnit.NANOSECONDS.timedWait(revisionLock, left);
            }
        }
        return true;
    }

    /**
     * Adds a listener from the next applied commit on; to see everything from the first snapshot, give it to {@link
     * #open(CaskadeClient, String, Path, ReplicaOptions, Listener)} instead.
     */
    public void onChange(Listener l) {
        listeners.add(l);
    }

    public ReplicaOptions options() {
        return options;
    }

    // ---- writes: sent directly, or with ClientOptions.offlineWrites through the durable outbox (ReplicaWrites)

    public CompletableFuture<Long> put(String key, String value) {
        return put(key.getBytes(StandardCharsets.UTF_8), value.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * Puts {@code value} under {@code key} on the server. With {@link ClientOptions#offlineWrites()} the write is in
     * the outbox (fsynced) when this returns and is sent in order, exactly once, whenever the server can be reached
     * (also after a restart); without, it is sent now and a server that cannot be reached throws {@link
     * ClientException}. The future completes with the server's revision (the commit reaches this replica's store
     * later: {@link #awaitRevision}); if the replica closes first it fails, and the write is sent by the next open.
     */
    public CompletableFuture<Long> put(byte[] key, byte[] value) {
        return writes.submit(OfflineWrite.Kind.PUT, key, value, null, 0);
    }

    public CompletableFuture<Long> put(String key, String value, Duration ttl) {
        return put(key.getBytes(StandardCharsets.UTF_8), value.getBytes(StandardCharsets.UTF_8), ttl);
    }

    /** Like {@link #put(byte[], byte[])} with a time to live in whole seconds. */
    public CompletableFuture<Long> put(byte[] key, byte[] value, Duration ttl) {
        return writes.submit(OfflineWrite.Kind.PUT, key, value, Objects.requireNonNull(ttl, "ttl"), 0);
    }

    public CompletableFuture<Long> delete(String key) {
        return delete(key.getBytes(StandardCharsets.UTF_8));
    }

    /** Deletes {@code key} on the server, like {@link #put(byte[], byte[])}; the future gives 0 if it was absent. */
    public CompletableFuture<Long> delete(byte[] key) {
        return writes.submit(OfflineWrite.Kind.DELETE, key, new byte[0], null, 0);
    }

    public CompletableFuture<Long> compareAndSet(String key, long expectedRevision, String value) {
        return compareAndSet(
                key.getBytes(StandardCharsets.UTF_8), expectedRevision, value.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * Puts {@code value} if the key is at {@code expectedRevision} on the server when the write arrives there (0:
     * absent), like {@link #put(byte[], byte[])}. If it is not, nothing is written, the future gives 0 and the
     * {@link #onConflict conflict callback} is told.
     */
    public CompletableFuture<Long> compareAndSet(byte[] key, long expectedRevision, byte[] value) {
        return writes.submit(OfflineWrite.Kind.COMPARE_AND_SET, key, value, null, expectedRevision);
    }

    /**
     * Told about each write of this replica that the server did not apply: a compare-and-set that lost, or a write
     * refused for good (413, 403...), on the sender's thread. Conflicts found before a callback is registered (say,
     * while a reopened replica drains its outbox) are held and given to the first one.
     */
    public void onConflict(Consumer<Conflict> callback) {
        writes.onConflict(callback);
    }

    public Status status() {
        long applied = revision();
        long server = Math.max(serverRevision.get(), applied);
        return new Status(
                closed ? "closed" : state,
                applied,
                reconnects,
                snapshots,
                lastError,
                breakerState(),
                server,
                server - applied,
                lastAppliedAt,
                writes.pending());
    }

    /** The circuit breaker around the writes the {@link #store() store} forwards to the server. */
    public Breaker writeBreaker() {
        return state(forwarding);
    }

    private Breaker breakerState() {
        return state(breaker);
    }

    private static Breaker state(CircuitBreaker breaker) {
        return switch (breaker.getState()) {
            case OPEN, FORCED_OPEN -> Breaker.OPEN;
            case HALF_OPEN -> Breaker.HALF_OPEN;
            default -> Breaker.CLOSED;
        };
    }

    private void run() {
        long backoff = options.backoffInitial().toMillis();
        boolean opened = false;
        while (!closed) {
            LinkedBlockingQueue<RemoteEvent> events = new LinkedBlockingQueue<>();
            RemoteWatch w = null;
            Loader loader = null;
            try {
                Caskade d = db;
                boolean snapshot = d == null || reloading;
                long from = snapshot ? 0 : d.revision();
                try {
                    w = breaker.executeSupplier(() -> client.watch(prefix, from, snapshot, events::add, WHO));
                } catch (CallNotPermittedException open) {
                    // the breaker is open: no connection attempt until its wait is over
                    state = "reconnecting";
                    sleep(Math.max(10, TimeUnit.NANOSECONDS.toMillis(probeAtNanos - System.nanoTime())));
                    continue;
                }
                watch = w;
                if (closed) w.close();
                if (opened) reconnects++;
                opened = true;
                state = snapshot ? "bootstrapping" : "live";
                long loading = -1;
                long idleNanos = options.idleTimeout().toNanos();
                long tick = Math.clamp(options.idleTimeout().toMillis() / 4, 10, 1_000);
                boolean idle = false;
                List<WatchEvent.Commit> early = new ArrayList<>();
                while (true) {
                    RemoteEvent e = events.poll(tick, TimeUnit.MILLISECONDS);
                    if (!idle && System.nanoTime() - w.lastReceivedNanos() > idleNanos) {
                        // nothing, not even a keep-alive: the connection died without telling us
                        idle = true;
                        LOG.log(
                                System.Logger.Level.WARNING,
                                "replica {0}: nothing received for {1}; reconnecting",
                                dir,
                                options.idleTimeout());
                        w.close(); // Ended follows
                    }
                    refreshServerRevision();
                    if (e == null) continue;
                    switch (e) {
                        case RemoteEvent.Snapshot s -> {
                            if (loader == null) {
                                Path fresh = dir.resolve("store.new");
                                Loader.discard(fresh);
                                loader = Loader.create(fresh, storeOptions(), s.revision(), System.currentTimeMillis());
                                loading = s.revision();
                            }
                            for (Entry it : s.items()) loader.add(it.key(), it.value(), it.revision(), it.expiresAt());
                            if (s.last()) {
                                loader.finish();
                                loader.close();
                                loader = null;
                                noteServerRevision(loading);
                                swapIn(loading);
                                for (WatchEvent.Commit c : early) apply(c);
                                early.clear();
                                backoff = options.backoffInitial().toMillis();
                                state = "live";
                            }
                        }
                        case RemoteEvent.Commit c -> {
                            noteServerRevision(c.commit().revision());
                            if (loader != null) early.add(c.commit());
                            else {
                                apply(c.commit());
                                backoff = options.backoffInitial().toMillis();
                            }
                        }
                        case RemoteEvent.Compacted c -> {
                            LOG.log(
                                    System.Logger.Level.WARNING,
                                    "replica {0} fell behind the server''s history"
                                            + " (oldest {1}); loading a fresh snapshot",
                                    dir,
                                    c.oldest());
                            w.close();
                            reload();
                        }
                        case RemoteEvent.Overflow o -> w.close();
                        case RemoteEvent.Ended end -> {
                            if (idle)
                                throw new ClientException(
                                        0, null, "the stream was silent for " + options.idleTimeout());
                            if (end.cause() != null) throw end.cause();
                        }
                    }
                    if (e instanceof RemoteEvent.Ended || e instanceof RemoteEvent.Compacted) break;
                }
                lastError = null;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            } catch (Throwable t) {
                if (closed) return;
                lastError = t.toString();
                state = "reconnecting";
                close(w, loader);
                w = null;
                loader = null;
                // +-50 % jitter, so that many replicas of one server do not come back in step
                sleep(backoff / 2 + ThreadLocalRandom.current().nextLong(backoff + 1));
                backoff = Math.min(backoff * 2, options.backoffMax().toMillis());
            } finally {
                close(w, loader);
            }
        }
    }

    /**
     * A write to the {@link #store() store}: decided by the server (one transaction), then awaited here, so that a
     * read of the store right after sees it. The write's circuit breaker makes a server that is down fail writes at
     * once instead of holding every caller for a timeout.
     */
    private long forward(List<Change> changes, List<Batch.Expect> expects) {
        if (options.readOnly())
            throw new ReadOnlyException("read-only replica of " + client.base() + ": writes go to the server itself");
        for (Change c : changes) requireUnderPrefix(c.key());
        for (Batch.Expect e : expects) requireUnderPrefix(e.key());
        long rev;
        try {
            rev = forwarding.executeSupplier(() -> send(changes, expects));
        } catch (CallNotPermittedException open) {
            throw new UnavailableException("cannot write through to " + client.base()
                    + ": its circuit breaker is open after repeated failures; nothing was written");
        }
        if (rev == 0) return 0;
        boolean onlyDeletes = changes.stream().allMatch(c -> c.type() != ChangeType.PUT);
        long deadline = System.nanoTime() + options.writeTimeout().toNanos();
        try {
            synchronized (revisionLock) {
                // a batch of deletes of absent keys commits nothing: its revision may never come down a prefix's stream
                while (revision() < rev && !(onlyDeletes && allAbsent(changes))) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0 || closed)
                        throw new UnavailableException("written on " + client.base() + " as revision " + rev
                                + ", but not applied here within " + options.writeTimeout() + " (replica " + state
                                + " at revision " + revision() + ")");
                    TimeUnit.NANOSECONDS.timedWait(revisionLock, left);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new UnavailableException("interrupted while waiting for revision " + rev + " to arrive", e);
        }
        return rev;
    }

    private long send(List<Change> changes, List<Batch.Expect> expects) {
        try {
            if (expects.isEmpty() && changes.size() == 1 && changes.get(0).type() != ChangeType.PUT)
                return client.delete(changes.get(0).key());
            Txn txn = Txn.create();
            for (Batch.Expect e : expects) txn.compare(e.key(), e.revision());
            List<Txn.Op> ops = new ArrayList<>(changes.size());
            long now = System.currentTimeMillis();
            for (Change c : changes) {
                if (c.type() != ChangeType.PUT) ops.add(Txn.delete(c.key()));
                else if (c.expiresAt() == 0) ops.add(Txn.put(c.key(), c.value()));
                else ops.add(Txn.put(c.key(), c.value(), Duration.ofMillis(Math.max(1, c.expiresAt() - now))));
            }
            TxnResult r = client.txn(txn.success(ops.toArray(Txn.Op[]::new)));
            return r.succeeded() ? r.revision() : 0;
        } catch (ClientException e) {
            if (e.status() == 0 || e.status() >= 500)
                throw new UnavailableException("cannot write through to " + client.base() + ": " + e.getMessage(), e);
            // the server refused the write itself (limits, access): the caller's error, not the server's health
            String why = "refused by " + client.base() + ": " + (e.error() != null ? e.error() : e.getMessage());
            if (e.status() == 413) throw new LimitException(why);
            throw new IllegalArgumentException(why, e);
        }
    }

    private boolean allAbsent(List<Change> changes) {
        for (Change c : changes) if (get(c.key()).isPresent()) return false;
        return true;
    }

    private void requireUnderPrefix(byte[] key) {
        if (!Arrays.equals(key, 0, Math.min(prefix.length, key.length), prefix, 0, prefix.length))
            throw new IllegalArgumentException("key " + new String(key, StandardCharsets.UTF_8)
                    + " is outside the prefix this replica copies (" + prefix() + ")");
    }

    private static void close(RemoteWatch w, Loader loader) {
        if (w != null) w.close();
        if (loader != null) loader.close();
    }

    private void noteServerRevision(long revision) {
        serverRevision.accumulateAndGet(revision, Math::max);
    }

    /** While live, asks the server's revision now and then, off the replica's thread (it must not hold up commits). */
    private void refreshServerRevision() {
        long now = System.nanoTime();
        if (!"live".equals(state)
                || now - refreshedAtNanos < options.revisionRefresh().toNanos()) return;
        if (!refreshing.compareAndSet(false, true)) return;
        refreshedAtNanos = now;
        Thread.ofVirtual().name("caskade-replica-revision").start(() -> {
            try {
                if (!closed) noteServerRevision(client.revision());
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.DEBUG, "replica {0}: cannot ask the server''s revision: {1}", dir, e);
            } finally {
                refreshing.set(false);
            }
        });
    }

    /**
     * Makes the next stream start with a snapshot. The stale copy keeps answering reads while the snapshot loads
     * beside it, and is swapped out only when the fresh one is complete ({@link #swapIn}).
     */
    private void reload() {
        reloading = true;
    }

    private void apply(WatchEvent.Commit c) {
        Caskade d = db;
        if (c.revision() <= d.revision()) return; // already here (a snapshot that included it)
        d.apply(c.revision(), c.timestamp(), c.changes());
        lastAppliedAt = Instant.now();
        for (Listener l : listeners) l.commit(c);
        synchronized (revisionLock) {
            revisionLock.notifyAll();
        }
    }

    private void swapIn(long revision) throws IOException {
        Caskade old = db;
        if (old != null) for (Listener l : listeners) l.beforeReset(revision);
        db = null;
        if (old != null) old.close();
        Path store = dir.resolve("store");
        Loader.replace(store, dir.resolve("store.new"));
        db = Caskade.open(store, storeOptions().withUpstream(this::forward));
        reloading = false;
        snapshots++;
        lastAppliedAt = Instant.now();
        for (Listener l : listeners) l.reset(revision);
        synchronized (revisionLock) {
            revisionLock.notifyAll();
        }
    }

    /** Waits out a backoff; close() cuts it short (never an interrupt: it would break a file write). */
    private void sleep(long ms) {
        synchronized (wake) {
            if (closed) return;
            try {
                wake.wait(ms);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Stops following and closes the local store; the next open resumes from its revision. */
    @Override
    public void close() {
        closed = true;
        writes.close();
        RemoteWatch w = watch;
        if (w != null) w.close(); // the stream ends with Ended(null), which ends the loop
        synchronized (wake) {
            wake.notifyAll();
        }
        try {
            thread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        Caskade d = db;
        db = null;
        if (d != null) d.close();
        synchronized (revisionLock) {
            revisionLock.notifyAll();
        }
    }
}
