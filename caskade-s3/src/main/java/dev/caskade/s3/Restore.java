package dev.caskade.s3;

import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.Digest;
import dev.caskade.Loader;
import dev.caskade.WatchEvent;
import java.io.BufferedInputStream;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

/**
 * Restores a store from a destination into a new directory: the newest snapshot at or before the target, then
 * the log objects after it, commit by commit, each with its original revision and commit time. Every block's
 * checksum and every object's length and range are checked; objects are fetched and decoded
 * {@code parallelism} at a time and applied in order.
 */
public final class Restore {
    private Restore() {}

    /**
     * What a restore will read.
     *
     * @param generation the generation restored from
     * @param snapshot the snapshot it starts from
     * @param logs the log objects applied after it, in order
     * @param targetRevision the revision it stops at (-1: the end of the log)
     * @param targetTime the commit time it stops at (null: none)
     */
    public record Plan(
            Generation generation,
            Generation.SnapshotRef snapshot,
            List<Generation.LogRef> logs,
            long targetRevision,
            Instant targetTime) {
        public long objects() {
            return 1 + logs.size();
        }

        public long bytes() {
            long b = snapshot.size();
            for (Generation.LogRef l : logs) b += l.size();
            return b;
        }
    }

    /**
     * What a restore did.
     *
     * @param restored false when a guard made it do nothing (then {@code message} says why)
     * @param message one line for a person
     * @param plan what was (or, for a dry run, would be) read; null when skipped
     * @param digest the restored store's digest (null for a dry run or a skip)
     * @param took how long it took
     */
    public record Result(boolean restored, String message, Plan plan, Digest digest, Duration took) {}

    /** Told as objects and bytes are done; called from the restoring thread. */
    @FunctionalInterface
    public interface Progress {
        void update(long objectsDone, long objectsTotal, long bytesDone, long bytesTotal);

        Progress NONE = (a, b, c, d) -> {};

        /**
         * Logs "{@code what}: a/b objects, c/d bytes" at INFO, at most once per {@code every}: for a restore that runs
         * unattended (a server's or a cluster node's start) and may take long.
         */
        static Progress logged(String what, java.time.Duration every) {
            long interval = every.toNanos();
            long[] last = {System.nanoTime()};
            return (objects, objectsTotal, bytes, bytesTotal) -> {
                if (System.nanoTime() - last[0] < interval) return;
                last[0] = System.nanoTime();
                org.slf4j.LoggerFactory.getLogger(Restore.class)
                        .info("{}: {}/{} objects, {}/{} bytes", what, objects, objectsTotal, bytes, bytesTotal);
            };
        }
    }

    /** Works out what a restore would read, without writing anything. */
    public static Plan plan(ObjectStore store, RestoreOptions o) {
        List<Generation> all = Generation.list(store);
        List<Generation> usable = new ArrayList<>();
        for (Generation g : all) if (!g.snapshots().isEmpty()) usable.add(g);
        if (usable.isEmpty())
            throw new RestoreException("no backup at " + store.url() + " (no generation holds a snapshot)");
        List<Generation> candidates = usable;
        if (o.generation() != null) {
            candidates =
                    usable.stream().filter(g -> g.id().equals(o.generation())).toList();
            if (candidates.isEmpty()) {
                throw new RestoreException("generation " + o.generation() + " not found (or holds no snapshot) at "
                        + store.url() + "; generations: " + ids(usable));
            }
        }
        if (o.revision() != null) {
            long n = o.revision();
            for (Generation g : candidates.reversed()) {
                if (g.firstRevision() <= n && n <= g.lastRevision()) {
                    Generation.SnapshotRef s = g.snapshotAtOrBelow(n).orElseThrow();
                    return new Plan(g, s, g.logsAfter(s.revision(), n), n, null);
                }
            }
            StringBuilder ranges = new StringBuilder();
            for (Generation g : candidates) {
                ranges.append(ranges.isEmpty() ? "" : ", ")
                        .append(g.id())
                        .append(" [")
                        .append(g.firstRevision())
                        .append(", ")
                        .append(g.lastRevision())
                        .append(']');
            }
            throw new RestoreException(
                    "revision " + n + " is not restorable from " + store.url() + "; generations hold " + ranges);
        }
        if (o.timestamp() != null) {
            long t = o.timestamp().toEpochMilli();
            long earliest = Long.MAX_VALUE;
            for (Generation g : candidates.reversed()) {
                Generation.SnapshotRef best = null;
                for (Generation.SnapshotRef s : g.snapshots()) {
                    long ts = snapshotHeader(store, s.name()).timestamp();
                    earliest = Math.min(earliest, ts);
                    if (ts <= t) best = s;
                }
                if (best != null)
                    return new Plan(g, best, g.logsAfter(best.revision(), Long.MAX_VALUE), -1, o.timestamp());
            }
            throw new RestoreException("nothing at " + store.url() + " is as old as " + o.timestamp()
                    + "; the earliest restorable time is " + Instant.ofEpochMilli(earliest));
        }
        Generation latest = candidates.getFirst();
        for (Generation g : candidates) if (!g.updated().isBefore(latest.updated())) latest = g;
        Generation.SnapshotRef s = latest.snapshots().getLast();
        return new Plan(latest, s, latest.logsAfter(s.revision(), Long.MAX_VALUE), -1, null);
    }

    /** Restores into {@code to}, which must be absent or empty (or, with ifDbNotExists, is left alone). */
    public static Result run(ObjectStore store, Path to, RestoreOptions o, Progress progress) {
        long start = System.nanoTime();
        if (holdsStore(to)) {
            if (o.ifDbNotExists()) return skipped("a database already exists in " + to + "; nothing restored", start);
            throw new RestoreException("target directory " + to + " is not empty (use --if-db-not-exists to skip)");
        }
        Plan plan;
        try {
            plan = plan(store, o);
        } catch (RestoreException e) {
            if (o.ifReplicaExists()
                    && Generation.list(store).stream()
                            .allMatch(g -> g.snapshots().isEmpty())) {
                return skipped("no backup at " + store.url() + "; nothing restored", start);
            }
            throw e;
        }
        if (o.dryRun()) {
            return new Result(false, describe(plan) + " (dry run: nothing written)", plan, null, took(start));
        }
        long objectsTotal = plan.objects();
        long bytesTotal = plan.bytes();
        AtomicLong bytesDone = new AtomicLong();
        long[] objectsDone = {0};
        Runnable tick = () -> progress.update(objectsDone[0], objectsTotal, bytesDone.get(), bytesTotal);
        ExecutorService pool = Executors.newFixedThreadPool(o.parallelism(), r -> {
            Thread t = new Thread(r, "caskade-restore");
            t.setDaemon(true);
            return t;
        });
        long lastRevision;
        try {
            SnapshotCodec.Header sh;
            Loader loader;
            try (InputStream in = new BufferedInputStream(
                    new CountingStream(store.open(plan.snapshot().name()), bytesDone), 1 << 16)) {
                BlockCodec.Reader r = SnapshotCodec.reader(in, plan.snapshot().name());
                sh = SnapshotCodec.header(r);
                if (sh.revision() != plan.snapshot().revision()) {
                    throw new CorruptObjectException(
                            "snapshot says revision " + sh.revision() + ", its name "
                                    + plan.snapshot().revision(),
                            plan.snapshot().name(),
                            8);
                }
                loader = Loader.create(to, CaskadeOptions.defaults(), sh.revision(), sh.timestamp());
                try {
                    loadSnapshot(
                            r, loader, pool, o.parallelism(), plan.snapshot().name(), tick);
                    objectsDone[0]++;
                    tick.run();
                    lastRevision = replay(store, plan, loader, pool, o.parallelism(), bytesDone, objectsDone, tick);
                    loader.finish();
                } finally {
                    loader.close();
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("restore from " + store.url() + " failed: " + e.getMessage(), e);
        } finally {
            pool.shutdownNow();
        }
        if (plan.targetRevision() >= 0 && lastRevision != plan.targetRevision()) {
            throw new RestoreException("restore reached revision " + lastRevision + ", not " + plan.targetRevision());
        }
        Digest d;
        try (Caskade db = Caskade.open(to)) {
            d = db.digest(new byte[0]);
        }
        return new Result(true, "restored " + describe(plan) + " to revision " + d.revision(), plan, d, took(start));
    }

    private static void loadSnapshot(
            BlockCodec.Reader r, Loader loader, ExecutorService pool, int parallelism, String name, Runnable tick)
            throws IOException {
        Deque<CompletableFuture<List<SnapshotCodec.Item>>> inFlight = new ArrayDeque<>();
        long items = 0;
        while (true) {
            BlockCodec.Block b = r.next();
            if (b != null) {
                inFlight.add(CompletableFuture.supplyAsync(
                        () -> {
                            List<SnapshotCodec.Item> out = new ArrayList<>();
                            SnapshotCodec.items(b.decode(), name, b.offset(), out::add);
                            return out;
                        },
                        pool));
            }
            while (!inFlight.isEmpty() && (b == null || inFlight.size() > 2 * parallelism)) {
                for (SnapshotCodec.Item it : join(inFlight.poll())) {
                    loader.add(it.key(), it.value(), it.revision(), it.expiresAt());
                    items++;
                }
                tick.run();
            }
            if (b == null) break;
        }
        if (items != r.records()) {
            throw new CorruptObjectException(
                    "snapshot holds " + items + " keys, its end record says " + r.records(), name, r.bytesRead());
        }
    }

    /** Applies the log objects in order; returns the last revision applied. */
    private static long replay(
            ObjectStore store,
            Plan plan,
            Loader loader,
            ExecutorService pool,
            int parallelism,
            AtomicLong bytesDone,
            long[] objectsDone,
            Runnable tick) {
        long applied = plan.snapshot().revision();
        long limitRev = plan.targetRevision() >= 0 ? plan.targetRevision() : Long.MAX_VALUE;
        long limitTime =
                plan.targetTime() == null ? Long.MAX_VALUE : plan.targetTime().toEpochMilli();
        Deque<CompletableFuture<List<WatchEvent.Commit>>> inFlight = new ArrayDeque<>();
        int next = 0;
        List<Generation.LogRef> logs = plan.logs();
        while (next < logs.size() || !inFlight.isEmpty()) {
            while (next < logs.size() && inFlight.size() < parallelism) {
                Generation.LogRef l = logs.get(next++);
                inFlight.add(CompletableFuture.supplyAsync(() -> fetchLog(store, l, bytesDone), pool));
            }
            List<WatchEvent.Commit> commits = join(inFlight.poll());
            objectsDone[0]++;
            for (WatchEvent.Commit c : commits) {
                if (c.revision() <= applied) continue; // overlaps the snapshot
                if (c.revision() > limitRev || c.timestamp() > limitTime) return applied;
                loader.commit(c.revision(), c.timestamp(), c.changes());
                applied = c.revision();
            }
            tick.run();
        }
        return applied;
    }

    private static List<WatchEvent.Commit> fetchLog(ObjectStore store, Generation.LogRef l, AtomicLong bytesDone) {
        byte[] data = store.get(l.name()).orElseThrow(() -> new RestoreException("log object vanished: " + l.name()));
        bytesDone.addAndGet(data.length);
        try {
            BlockCodec.Reader r = LogCodec.reader(new ByteArrayInputStream(data), l.name());
            LogCodec.Header h = LogCodec.header(r, l.name());
            if (h.from() != l.from() || h.to() != l.to()) {
                throw new CorruptObjectException(
                        "log object covers " + h.from() + "-" + h.to() + ", its name says " + l.from() + "-" + l.to(),
                        l.name(),
                        8);
            }
            List<WatchEvent.Commit> out = new ArrayList<>();
            long prev = l.from() - 1;
            for (BlockCodec.Block b = r.next(); b != null; b = r.next()) {
                for (WatchEvent.Commit c : LogCodec.commits(b.decode(), l.name(), b.offset())) {
                    if (c.revision() <= prev || c.revision() > l.to()) {
                        throw new CorruptObjectException(
                                "commit " + c.revision() + " out of order after " + prev, l.name(), b.offset());
                    }
                    prev = c.revision();
                    out.add(c);
                }
            }
            if (out.size() != r.records()) {
                throw new CorruptObjectException(
                        "log object holds " + out.size() + " commits, its end record says " + r.records(),
                        l.name(),
                        r.bytesRead());
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static SnapshotCodec.Header snapshotHeader(ObjectStore store, String name) {
        byte[] head = store.read(name, 0, 64);
        try {
            return SnapshotCodec.header(SnapshotCodec.reader(new ByteArrayInputStream(head), name));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static <T> T join(CompletableFuture<T> f) {
        try {
            return f.join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof RuntimeException r) throw r;
            throw e;
        }
    }

    static boolean holdsStore(Path dir) {
        if (!Files.isDirectory(dir)) return false;
        if (Files.exists(dir.resolve("LOADING"))) return false; // a restore that was killed: the loader clears it
        try (Stream<Path> s = Files.list(dir)) {
            return s.findAny().isPresent();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String describe(Plan p) {
        String target = p.targetRevision() >= 0
                ? "revision " + p.targetRevision()
                : p.targetTime() != null ? "the last commit at or before " + p.targetTime() : "the latest revision";
        return target + " from generation " + p.generation().id() + " (snapshot "
                + p.snapshot().revision() + " + " + p.logs().size() + " log objects, " + p.bytes() + " bytes)";
    }

    private static String ids(List<Generation> gens) {
        return String.join(", ", gens.stream().map(Generation::id).toList());
    }

    private static Result skipped(String why, long start) {
        return new Result(false, why, null, null, took(start));
    }

    private static Duration took(long start) {
        return Duration.ofNanos(System.nanoTime() - start);
    }

    /** Counts bytes as they are read, for progress. */
    private static final class CountingStream extends java.io.FilterInputStream {
        private final AtomicLong count;

        CountingStream(InputStream in, AtomicLong count) {
            super(in);
            this.count = count;
        }

        @Override
        public int read() throws IOException {
            int b = super.read();
            if (b >= 0) count.incrementAndGet();
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n = super.read(b, off, len);
            if (n > 0) count.addAndGet(n);
            return n;
        }
    }
}
