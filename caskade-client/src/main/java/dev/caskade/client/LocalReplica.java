package dev.caskade.client;

import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.Digest;
import dev.caskade.Durability;
import dev.caskade.Entry;
import dev.caskade.Loader;
import dev.caskade.WatchEvent;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
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
 * <p>The local store runs without fsync per commit: a crash loses at most the last applied commits, and the
 * replica simply fetches them again from its revision. Directory layout: {@code DIR/store} (the store) and, while
 * a snapshot loads, {@code DIR/store.new}.
 */
public final class LocalReplica implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(LocalReplica.class.getName());

    /** Told about what the replica applies, on the replica's own thread, in revision order. */
    public interface Listener {
        /** One commit was applied locally. */
        void commit(WatchEvent.Commit commit);

        /** The whole copy was replaced by a fresh snapshot at {@code revision} (the first load, or after compaction). */
        default void reset(long revision) {}
    }

    /**
     * What the replica is doing.
     *
     * @param state {@code bootstrapping}, {@code live}, {@code reconnecting} or {@code closed}
     * @param revision the last revision applied locally
     * @param reconnects how many times the stream was opened again
     * @param snapshots how many snapshots were loaded
     * @param lastError why the last stream ended, or null
     */
    public record Status(String state, long revision, long reconnects, long snapshots, String lastError) {}

    private final CaskadeClient client;
    private final byte[] prefix;
    private final Path dir;
    private final List<Listener> listeners = new CopyOnWriteArrayList<>();
    private final Object revisionLock = new Object();
    private final Object wake = new Object();
    private final Thread thread;
    private volatile Caskade db;
    private volatile boolean closed;
    private volatile RemoteWatch watch;
    private volatile String state = "bootstrapping";
    private volatile String lastError;
    private volatile long reconnects;
    private volatile long snapshots;

    private LocalReplica(CaskadeClient client, byte[] prefix, Path dir, Listener listener) {
        this.client = client;
        this.prefix = prefix.clone();
        this.dir = dir;
        if (listener != null) listeners.add(listener);
        try {
            Files.createDirectories(dir);
            deleteTree(dir.resolve("store.new")); // a load cut short by a crash
        } catch (IOException e) {
            throw new UncheckedIOException("cannot prepare replica directory " + dir + ": " + e.getMessage(), e);
        }
        Path store = dir.resolve("store");
        if (Files.isDirectory(store)) db = Caskade.open(store, storeOptions());
        this.thread = Thread.ofVirtual().name("caskade-replica").start(this::run);
    }

    /** Starts a replica of the keys under {@code prefix} in {@code dir} (which its store's lock makes exclusive). */
    public static LocalReplica open(CaskadeClient client, String prefix, Path dir) {
        return new LocalReplica(client, prefix.getBytes(StandardCharsets.UTF_8), dir, null);
    }

    /**
     * Like {@link #open(CaskadeClient, String, Path)}, with {@code listener} registered before the replica starts,
     * so that it is told every commit this run applies (one added with {@link #onChange} afterwards may miss the
     * first ones).
     */
    public static LocalReplica open(CaskadeClient client, String prefix, Path dir, Listener listener) {
        return new LocalReplica(client, prefix.getBytes(StandardCharsets.UTF_8), dir, listener);
    }

    static CaskadeOptions storeOptions() {
        // the server is the source of truth: what a crash loses here is fetched again from the store's revision
        return CaskadeOptions.defaults().withDurability(Durability.NONE).withReapInterval(Duration.ZERO);
    }

    public Optional<Entry> get(String key) {
        Caskade d = db;
        return d == null ? Optional.empty() : d.get(key);
    }

    public Optional<Entry> get(byte[] key) {
        Caskade d = db;
        return d == null ? Optional.empty() : d.get(key);
    }

    /** The local keys under {@code p}, in key order, consistent at one revision. Close the stream. */
    public Stream<Entry> scan(String p) {
        Caskade d = db;
        return d == null ? Stream.empty() : d.scan(p);
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

    public void onChange(Listener l) {
        listeners.add(l);
    }

    public Status status() {
        return new Status(closed ? "closed" : state, revision(), reconnects, snapshots, lastError);
    }

    private void run() {
        long backoff = 100;
        while (!closed) {
            LinkedBlockingQueue<RemoteEvent> events = new LinkedBlockingQueue<>();
            try {
                Caskade d = db;
                boolean snapshot = d == null;
                state = snapshot ? "bootstrapping" : "live";
                watch = client.watch(prefix, snapshot ? 0 : d.revision(), snapshot, events::add);
                if (closed) watch.close();
                Loader loader = null;
                long loading = -1;
                List<WatchEvent.Commit> early = new ArrayList<>();
                while (true) {
                    RemoteEvent e = events.take();
                    switch (e) {
                        case RemoteEvent.Snapshot s -> {
                            if (loader == null) {
                                Path fresh = dir.resolve("store.new");
                                deleteTree(fresh);
                                loader = Loader.create(fresh, storeOptions(), s.revision(), System.currentTimeMillis());
                                loading = s.revision();
                            }
                            for (Entry it : s.items()) loader.add(it.key(), it.value(), it.revision(), it.expiresAt());
                            if (s.last()) {
                                loader.finish();
                                loader.close();
                                loader = null;
                                swapIn(loading);
                                for (WatchEvent.Commit c : early) apply(c);
                                early.clear();
                                backoff = 100;
                                state = "live";
                            }
                        }
                        case RemoteEvent.Commit c -> {
                            if (loader != null) early.add(c.commit());
                            else {
                                apply(c.commit());
                                backoff = 100;
                            }
                        }
                        case RemoteEvent.Compacted c -> {
                            LOG.log(
                                    System.Logger.Level.WARNING,
                                    "replica {0} fell behind the server''s history"
                                            + " (oldest {1}); loading a fresh snapshot",
                                    dir,
                                    c.oldest());
                            watch.close();
                            reload();
                        }
                        case RemoteEvent.Overflow o -> watch.close();
                        case RemoteEvent.Ended end -> {
                            if (loader != null) loader.close();
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
                sleep(backoff + ThreadLocalRandom.current().nextLong(backoff));
                backoff = Math.min(backoff * 2, 5_000);
            }
            reconnects++;
        }
    }

    /** Drops the local copy so that the next stream starts with a snapshot. */
    private void reload() {
        Caskade d = db;
        db = null;
        if (d != null) d.close();
        deleteTree(dir.resolve("store"));
    }

    private void apply(WatchEvent.Commit c) {
        Caskade d = db;
        if (c.revision() <= d.revision()) return; // already here (a snapshot that included it)
        d.apply(c.revision(), c.timestamp(), c.changes());
        for (Listener l : listeners) l.commit(c);
        synchronized (revisionLock) {
            revisionLock.notifyAll();
        }
    }

    private void swapIn(long revision) throws IOException {
        Caskade old = db;
        db = null;
        if (old != null) old.close();
        Path store = dir.resolve("store");
        Path gone = dir.resolve("store.old");
        deleteTree(gone);
        if (Files.exists(store)) Files.move(store, gone, StandardCopyOption.ATOMIC_MOVE);
        Files.move(dir.resolve("store.new"), store, StandardCopyOption.ATOMIC_MOVE);
        deleteTree(gone);
        db = Caskade.open(store, storeOptions());
        snapshots++;
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

    private static void deleteTree(Path p) {
        if (!Files.exists(p)) return;
        try (Stream<Path> s = Files.walk(p)) {
            for (Path f : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(f);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete " + p + ": " + e.getMessage(), e);
        }
    }

    /** Stops following and closes the local store; the next open resumes from its revision. */
    @Override
    public void close() {
        closed = true;
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
