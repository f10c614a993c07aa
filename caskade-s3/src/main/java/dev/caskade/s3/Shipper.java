package dev.caskade.s3;

import dev.caskade.Caskade;
import dev.caskade.CompactedException;
import dev.caskade.LogTail;
import dev.caskade.Pin;
import dev.caskade.WatchEvent;
import java.io.BufferedOutputStream;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.core.JacksonException;

/**
 * Ships one store to one destination, continuously: every {@code sync-interval} the commits made since the last
 * upload go up as one log object; every {@code snapshot-interval} a fresh snapshot; expired objects are deleted.
 * Commits never wait for it: it reads the log back from the data directory, and a {@link Pin} keeps the engine's
 * merge from deleting log it has not shipped yet (up to the engine's pin budget; past it, the shipper finds the
 * log gone and starts a new generation from a fresh snapshot).
 *
 * <p>When the destination fails, nothing is lost: the position does not move, the backlog stays in the local log,
 * and the next tick ships all of it. Calls go through the destination's retry and circuit breaker, so a dead
 * destination costs one fast failure per tick.
 *
 * <p>Local state ({@code DIR/replication/<key>.json}) remembers only the generation; the position is read back
 * from the destination on start, so a crash between an upload and a state write loses nothing and repeats
 * nothing.
 */
public final class Shipper implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Shipper.class);
    private static final long FAILURE_LOG_INTERVAL_MS = 60_000;

    /** The local record of which generation this store is shipping to a destination. */
    record State(String destination, String generation) {}

    private final Source source;
    private final ObjectStore store;
    private final ShipOptions options;
    private final String key;
    private final Path stateFile;
    private final ShipLock shipLock;
    private final Pin pin;
    private final LogTail tail;
    private final Lease lease;
    private final String writer;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition wake = lock.newCondition();
    private Thread thread;
    private volatile boolean closed;

    // position, guarded by lock
    private String generation;
    private long position = -1;
    private long lastSnapshotAt;
    private long lastSnapshotRevision = -1;
    private long lastRetentionAt;
    private volatile long freshAsOf;
    private volatile String state = "starting";
    private volatile String lastError;
    private long failureLoggedAt;
    private volatile String fencedBy;
    private volatile long logObjects;
    private volatile long uploadedBytes;
    private volatile long snapshots;
    private volatile long generations;
    private volatile long fallbacks;
    private volatile long failures;
    private volatile Instant lastShipped;
    private volatile long shippedRevision;
    private volatile long sourceRevision; // the last one read; status() answers with it once the tail is closed

    private Shipper(Source source, ObjectStore store, ShipOptions options) {
        this.source = source;
        this.store = store;
        this.options = options;
        this.key = keyOf(store.url());
        Path dir = source.dir();
        this.stateFile = dir.resolve("replication").resolve(key + ".json");
        this.shipLock = ShipLock.acquire(dir.resolve("replication").resolve(key + ".lock"), dir, store.url());
        try {
            this.pin = Pin.open(dir, "ship-" + key);
            this.tail = LogTail.open(dir);
        } catch (RuntimeException e) {
            shipLock.close();
            throw e;
        }
        this.writer = writerName();
        this.freshAsOf = options.clock().millis(); // a destination down from the start lags from now
        this.lease = new Lease(
                store,
                UUID.randomUUID().toString(),
                writer,
                dir.toAbsolutePath().toString(),
                options.leaseTtl(),
                options.clock());
    }

    /** A shipper inside the process that owns {@code db}: ships durable commits only. */
    public static Shipper live(Caskade db, ObjectStore store, ShipOptions options) {
        return new Shipper(new Source.Live(db), store, options);
    }

    /** A shipper beside the process that owns the store in {@code dir} (a sidecar): needs no lock. */
    public static Shipper sidecar(Path dir, ObjectStore store, ShipOptions options) {
        if (!Files.isDirectory(dir)) throw new IllegalArgumentException("not a directory: " + dir);
        return new Shipper(new Source.Directory(dir), store, options);
    }

    /** Starts shipping in the background, once per sync interval. */
    public synchronized Shipper start() {
        if (thread != null) return this;
        thread = Thread.ofPlatform().daemon().name("caskade-ship-" + key).start(this::loop);
        return this;
    }

    private void loop() {
        long interval = options.syncInterval().toNanos();
        long next = System.nanoTime();
        while (!closed) {
            syncNow();
            next += interval;
            long now = System.nanoTime();
            if (next < now) next = now; // a slow tick does not cause a burst of catch-up ticks
            lock.lock();
            try {
                long wait = next - System.nanoTime();
                while (!closed && wait > 0) wait = wake.awaitNanos(wait);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            } finally {
                lock.unlock();
            }
        }
    }

    /** Runs one tick now: ship what is new, snapshot and enforce retention when due. True when it succeeded. */
    public boolean syncNow() {
        lock.lock();
        try {
            return tick();
        } finally {
            lock.unlock();
        }
    }

    private boolean tick() {
        long now = options.clock().millis();
        try {
            if (lease.renew(false) instanceof Lease.State.Fenced f) {
                if (fencedBy == null) {
                    LOG.error(
                            "destination {} is held by another writer ({} shipping {}, lease until {}): not shipping",
                            store.url(),
                            f.holder().writer(),
                            f.holder().source(),
                            Instant.ofEpochMilli(f.holder().expiresAt()));
                }
                fencedBy = f.holder().writer() + " (" + f.holder().source() + ")";
                state = "fenced";
                lastError = "fenced: another writer holds the destination's lease: " + fencedBy;
                return false;
            }
            if (fencedBy != null) LOG.info("destination {}: lease acquired, shipping resumes", store.url());
            fencedBy = null;
            if (generation == null) resume();
            ship();
            if (now - lastSnapshotAt >= options.snapshotInterval().toMillis()) snapshot();
            if (now - lastRetentionAt >= options.retentionCheckInterval().toMillis()) {
                retention();
                lastRetentionAt = now;
            }
            if (lastError != null)
                LOG.info("destination {} recovered; shipped up to revision {}", store.url(), position);
            lastError = null;
            state = "shipping";
            return true;
        } catch (CompactedException e) {
            fallbacks++;
            LOG.warn(
                    "destination {}: the log after revision {} is gone from the data directory ({}); falling back to a"
                            + " fresh snapshot in a new generation",
                    store.url(),
                    position,
                    e.getMessage());
            return fail(e, () -> startGeneration("gap: log after revision " + position + " was compacted"));
        } catch (RuntimeException e) {
            return fail(e, null);
        }
    }

    private boolean fail(RuntimeException e, Runnable recovery) {
        if (recovery != null) {
            try {
                recovery.run();
                lastError = null;
                state = "shipping";
                return true;
            } catch (RuntimeException again) {
                e = again;
            }
        }
        failures++;
        String msg = e.getClass().getSimpleName() + ": " + e.getMessage();
        // messages name the object and the next probe time, so they differ every tick: log the start of an
        // outage, then once a minute while it lasts
        long now = options.clock().millis();
        if (lastError == null || now - failureLoggedAt >= FAILURE_LOG_INTERVAL_MS) {
            if (lastError == null) LOG.warn("destination {}: shipping failed, backlog kept: {}", store.url(), msg);
            else
                LOG.warn(
                        "destination {}: still failing ({} failed ticks since start), backlog kept: {}",
                        store.url(),
                        failures,
                        msg);
            failureLoggedAt = now;
        }
        lastError = msg;
        state = "failing";
        return false;
    }

    /** Continues the generation recorded locally if the destination and the local log still agree with it. */
    private void resume() {
        State s = readState();
        if (s == null) {
            startGeneration("new");
            return;
        }
        Optional<Generation> g = Generation.read(store, s.generation());
        if (g.isEmpty() || g.get().snapshots().isEmpty()) {
            startGeneration("generation " + s.generation() + " is missing at the destination");
            return;
        }
        Generation gen = g.get();
        long pos = gen.snapshots().getLast().revision();
        long ts = -1;
        String last = null;
        for (Generation.LogRef l : gen.logs()) {
            if (l.to() > pos) {
                pos = l.to();
                last = l.name();
            }
        }
        if (last != null) ts = logHeader(last).lastTimestamp();
        String why = continuity(pos, ts);
        if (why != null) {
            startGeneration(why);
            return;
        }
        generation = gen.id();
        position = pos;
        shippedRevision = pos;
        pin.moveTo(pos);
        lastSnapshotAt = gen.snapshots().getLast().modified().toEpochMilli();
        lastSnapshotRevision = gen.snapshots().getLast().revision();
        LOG.info("destination {}: resuming generation {} after revision {}", store.url(), generation, position);
    }

    /** Why the local log does not continue from {@code pos} (whose commit time is ts, or -1), or null if it does. */
    private String continuity(long pos, long ts) {
        long local = tail.revision();
        if (local < pos) return "the store is at revision " + local + ", behind the destination's " + pos;
        if (pos < tail.oldest()) return "the log after revision " + pos + " is no longer in the data directory";
        if (ts >= 0 && pos > tail.oldest()) {
            long[] seen = {-1};
            tail.read(pos - 1, pos, 1, c -> seen[0] = c.timestamp());
            if (seen[0] != ts) {
                return "revision " + pos + " was committed at " + seen[0] + " here but at " + ts
                        + " in the destination";
            }
        }
        return null;
    }

    private void startGeneration(String reason) {
        pin.moveTo(tail.revision()); // hold the log from here on before the snapshot is taken
        String parent = generation;
        long parentRevision = Math.max(0, position);
        long now = options.clock().millis();
        String id = Layout.newGenerationId(Instant.ofEpochMilli(now));
        try (Source.View v = source.view()) {
            long rev = v.snapshot().revision();
            Lineage lineage = new Lineage(
                    id,
                    now,
                    rev,
                    parent,
                    parentRevision,
                    reason,
                    writer,
                    source.dir().toAbsolutePath().toString());
            // the snapshot first: a generation cut short by a failure is then either empty or restorable
            upload(id, v);
            store.put(Layout.lineage(id), lineage.toJson());
            generation = id;
            position = rev;
            shippedRevision = rev;
            pin.moveTo(rev);
            writeState(new State(store.url(), id));
            generations++;
            LOG.info("destination {}: generation {} started at revision {} ({})", store.url(), id, rev, reason);
        }
    }

    private void snapshot() {
        try (Source.View v = source.view()) {
            if (v.snapshot().revision() != lastSnapshotRevision) upload(generation, v);
            else lastSnapshotAt = options.clock().millis();
        }
    }

    private void upload(String gen, Source.View v) {
        long rev = v.snapshot().revision();
        long ts = commitTime(rev);
        long now = options.clock().millis();
        Path tmp = stateFile.resolveSibling(key + ".snap.tmp");
        // blocks are deflated on a few threads while this one reads the store: a big snapshot is CPU-bound
        int threads = Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors()));
        ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "caskade-ship-deflate");
            t.setDaemon(true);
            return t;
        });
        try {
            Files.createDirectories(tmp.getParent());
            try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(tmp), 1 << 16);
                    var entries = v.snapshot().scan(new byte[0])) {
                SnapshotCodec.write(
                        out,
                        new SnapshotCodec.Header(rev, ts < 0 ? now : ts, now),
                        entries.iterator(),
                        options.blockBytes(),
                        pool,
                        2 * threads);
            }
            long size = Files.size(tmp);
            store.put(Layout.snapshot(gen, rev), tmp);
            uploadedBytes += size;
            snapshots++;
            lastSnapshotAt = now;
            lastSnapshotRevision = rev;
        } catch (IOException e) {
            throw new UncheckedIOException("writing a snapshot for " + store.url() + " failed: " + e.getMessage(), e);
        } finally {
            pool.shutdownNow();
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // removed at the next snapshot
            }
        }
    }

    /** The commit time of a revision still in the local log, or -1. */
    private long commitTime(long rev) {
        if (rev <= 0 || rev - 1 < tail.oldest() || rev > tail.revision()) return -1;
        long[] ts = {-1};
        tail.read(rev - 1, rev, 1, c -> ts[0] = c.timestamp());
        return ts[0];
    }

    private void ship() {
        long t0 = options.clock().millis();
        long local = tail.revision();
        if (local < position) {
            startGeneration(
                    "the store went back from revision " + position + " to " + local + " (replaced or restored)");
            return;
        }
        long target = source.shippable(tail);
        while (position < target && !Thread.currentThread().isInterrupted()) {
            List<WatchEvent.Commit> batch = new ArrayList<>();
            long last = tail.read(position, target, options.maxObjectBytes(), batch::add);
            if (last <= position || batch.isEmpty()) break;
            byte[] obj = LogCodec.encode(position + 1, last, batch, options.blockBytes());
            store.put(Layout.log(generation, position + 1, last), obj);
            position = last;
            shippedRevision = last;
            pin.moveTo(last);
            logObjects++;
            uploadedBytes += obj.length;
            lastShipped = Instant.ofEpochMilli(options.clock().millis());
        }
        if (position >= target) freshAsOf = t0;
    }

    /** Deletes whole objects no restore within retention needs; always keeps a snapshot. */
    private void retention() {
        long cutoff = options.clock().millis() - options.retention().toMillis();
        List<Generation> all = Generation.list(store);
        Generation current = null;
        for (Generation g : all) if (g.id().equals(generation)) current = g;
        if (current == null || current.snapshots().isEmpty()) return; // nothing safe to lean on yet
        List<String> doomed = new ArrayList<>();
        for (Generation g : all) {
            if (!g.id().equals(generation) && g.updated().toEpochMilli() < cutoff) {
                for (ObjectStore.ObjectInfo o : store.list(Layout.generation(g.id()))) doomed.add(o.name());
                continue;
            }
            // keep every snapshot younger than the cutoff, and the newest older one (restores back to the cutoff)
            List<Generation.SnapshotRef> snaps = g.snapshots();
            int keepFrom = 0;
            for (int i = 0; i < snaps.size(); i++) {
                if (snaps.get(i).modified().toEpochMilli() < cutoff) keepFrom = i;
            }
            if (snaps.isEmpty()) continue;
            long base = snaps.get(keepFrom).revision();
            for (int i = 0; i < keepFrom; i++) doomed.add(snaps.get(i).name());
            for (Generation.LogRef l : g.logs()) if (l.to() <= base) doomed.add(l.name());
        }
        if (!doomed.isEmpty()) {
            store.delete(doomed);
            LOG.info("destination {}: retention deleted {} objects", store.url(), doomed.size());
        }
    }

    private LogCodec.Header logHeader(String name) {
        byte[] head = store.read(name, 0, 64);
        try {
            return LogCodec.header(LogCodec.reader(new ByteArrayInputStream(head), name), name);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private State readState() {
        if (!Files.exists(stateFile)) return null;
        try {
            State s = Lineage.JSON.readValue(Files.readAllBytes(stateFile), State.class);
            return s.generation() == null || !Layout.isGenerationId(s.generation()) ? null : s;
        } catch (IOException | JacksonException e) {
            LOG.warn("ignoring unreadable replication state {}: {}", stateFile, e.getMessage());
            return null;
        }
    }

    private void writeState(State s) {
        try {
            Files.createDirectories(stateFile.getParent());
            Path tmp = stateFile.resolveSibling(stateFile.getFileName() + ".tmp");
            Files.write(tmp, Lineage.JSON.writeValueAsBytes(s));
            Files.move(tmp, stateFile, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new UncheckedIOException("writing " + stateFile + " failed: " + e.getMessage(), e);
        }
    }

    /** The current status; cheap, safe from any thread. */
    public ShipStatus status() {
        long rev = sourceRevision();
        long shipped = shippedRevision;
        long lagRevs = Math.max(0, rev - shipped);
        double lagSeconds =
                lagRevs == 0 || freshAsOf == 0 ? 0 : Math.max(0, options.clock().millis() - freshAsOf) / 1000.0;
        String breaker = store instanceof GuardedStore g ? g.state().name() : "NONE";
        return new ShipStatus(
                store.url(),
                closed ? "stopped" : state,
                breaker,
                generation,
                shipped,
                rev,
                lagRevs,
                lagSeconds,
                logObjects,
                uploadedBytes,
                snapshots,
                generations,
                fallbacks,
                failures,
                lastError,
                lastShipped);
    }

    private long sourceRevision() {
        if (!closed) {
            try {
                return sourceRevision = source.revision(tail);
            } catch (IllegalStateException e) {
                if (!closed) throw e; // else close() closed the tail under us
            }
        }
        return sourceRevision;
    }

    public ObjectStore store() {
        return store;
    }

    public ShipOptions options() {
        return options;
    }

    /** Ships what is left (one last attempt), gives the lease up and stops. The pin stays for the next start. */
    @Override
    public void close() {
        Thread t;
        lock.lock();
        try {
            if (closed) return;
            closed = true;
            wake.signalAll();
            t = thread;
        } finally {
            lock.unlock();
        }
        if (t != null) {
            try {
                t.join(TimeUnit.SECONDS.toMillis(30));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        lock.lock();
        try {
            if (fencedBy == null) {
                tick();
                lease.release();
            }
        } finally {
            lock.unlock();
            try {
                sourceRevision = tail.revision();
            } catch (RuntimeException e) {
                // status() keeps the last revision it saw
            }
            tail.close();
            shipLock.close();
        }
    }

    static String keyOf(String url) {
        try {
            byte[] h = MessageDigest.getInstance("SHA-256").digest(url.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(h, 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK lacks SHA-256", e);
        }
    }

    private static String writerName() {
        String host;
        try {
            host = InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            host = "unknown-host";
        }
        return host + ":" + ProcessHandle.current().pid();
    }
}
