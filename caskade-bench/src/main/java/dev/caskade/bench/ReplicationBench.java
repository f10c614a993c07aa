package dev.caskade.bench;

import dev.caskade.Batch;
import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.Digest;
import dev.caskade.Durability;
import dev.caskade.s3.BreakerOptions;
import dev.caskade.s3.DirectoryStore;
import dev.caskade.s3.GuardedStore;
import dev.caskade.s3.ObjectStore;
import dev.caskade.s3.Restore;
import dev.caskade.s3.RestoreOptions;
import dev.caskade.s3.S3Store;
import dev.caskade.s3.ShipOptions;
import dev.caskade.s3.ShipStatus;
import dev.caskade.s3.Shipper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.LockSupport;
import jdk.jfr.Configuration;
import jdk.jfr.Recording;

/**
 * Issue 4's replication figures, with S3Proxy in this JVM on loopback (filesystem provider) as the S3 server. Run
 * by {@code bench/replication.sh}.
 *
 * <p><b>Lag.</b> A fresh store with {@link Durability#SYNC} (the server's default) and a {@link Shipper#live}
 * shipping it every sync interval. One writer thread commits one small put at a time on a fixed schedule ({@code
 * repl.rate} per second; a commit behind its slot goes at once), the way the server does: {@code commitNoWait},
 * then {@code whenDurable} (so the commits written meanwhile share one fsync, and the shipper, which ships durable
 * commits only, sees them once they are on disk). The destination is wrapped in an {@link UploadClock} that notes
 * when each log object's upload returned. The lag of a commit is that moment, for the first object holding it,
 * minus the moment its {@code commitNoWait} returned; the lag from the moment it became durable (when the server
 * would acknowledge it) is reported next to it. Only commits after the warm-up count. The same runs count the
 * destination's requests by type over the timed window ({@link GuardedStore#metrics()}, attempts) and, at the end,
 * list what the destination holds.
 *
 * <p><b>Restore.</b> A store of {@code repl.restoreKeys} keys with {@code repl.valueBytes}-byte values of random
 * text over 16 letters (deflate takes it to about half), written in commits of {@code repl.buildBatch} puts and
 * shipped as one snapshot, then {@code repl.logPuts}
 * overwrites in commits of 10 shipped as log objects; then {@link Restore#run} into an empty directory at each
 * parallelism, each checked against the source's digest. Rates are of logical bytes (keys and values loaded) and of
 * object bytes fetched, over the whole restore including its final open and digest. When the best rate is under
 * {@code repl.restoreTarget} MB/s one more restore runs under JFR (CPU-time samples) to show where the time goes.
 *
 * <p>Settings (system properties): {@code repl.root} (the checkout), {@code repl.data} (scratch, default {@code
 * caskade-bench/target/replication}), {@code repl.parts} (lag,restore), {@code repl.rate} (10000), {@code
 * repl.intervals} (ms, 1000,100), {@code repl.seconds} (60, per S3 run), {@code repl.dirSeconds} (30, per directory
 * run), {@code repl.warmup} (5), {@code repl.valueBytesLag} (100), {@code repl.restoreKeys} (1,000,000), {@code
 * repl.valueBytes} (1024), {@code repl.buildBatch} (16), {@code repl.logPuts} (50,000), {@code repl.parallelism} (1,2,4), {@code repl.profile}
 * (true), {@code repl.restoreTarget} (200).
 */
public final class ReplicationBench {
    private static final String BUCKET = "caskade-bench";
    private static final byte[] LETTERS = "etaoinshrdlucmfw".getBytes(StandardCharsets.US_ASCII);

    private final Path root;
    private final Path scratch;
    private final StringBuilder text = new StringBuilder();
    private final Map<String, Object> json = new LinkedHashMap<>();

    private ReplicationBench(Path root, Path scratch) {
        this.root = root;
        this.scratch = scratch;
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: ReplicationBench <results path without extension> (writes .txt and .json)");
            System.exit(2);
        }
        Path root =
                Path.of(System.getProperty("repl.root", ".")).toAbsolutePath().normalize();
        Path scratch = Path.of(System.getProperty(
                "repl.data", root.resolve("caskade-bench/target/replication").toString()));
        new ReplicationBench(root, scratch).run(Path.of(args[0]));
        System.exit(0); // S3Proxy's and the SDK's non-daemon threads would keep the JVM up
    }

    private void run(Path out) throws Exception {
        String parts = System.getProperty("repl.parts", "lag,restore");
        int rate = Integer.getInteger("repl.rate", 10_000);
        int seconds = Integer.getInteger("repl.seconds", 60);
        int dirSeconds = Integer.getInteger("repl.dirSeconds", 30);
        int warmup = Integer.getInteger("repl.warmup", 5);
        int lagValueBytes = Integer.getInteger("repl.valueBytesLag", 100);
        List<Integer> intervals = Machine.ints(System.getProperty("repl.intervals", "1000,100"));
        int keys = Integer.getInteger("repl.restoreKeys", 1_000_000);
        int valueBytes = Integer.getInteger("repl.valueBytes", 1024);
        int logPuts = Integer.getInteger("repl.logPuts", 50_000);
        int buildBatch = Integer.getInteger("repl.buildBatch", 16);
        List<Integer> parallelism = Machine.ints(System.getProperty("repl.parallelism", "1,2,4"));
        boolean profile = Boolean.parseBoolean(System.getProperty("repl.profile", "true"));
        double target = Double.parseDouble(System.getProperty("repl.restoreTarget", "200"));

        line(
                "# Replication to S3 (S3Proxy in this JVM on 127.0.0.1), %s; %d cpus; %s",
                Instant.now(), Runtime.getRuntime().availableProcessors(), System.getProperty("java.vm.version"));
        line("# load before: %s", Machine.loadavg());
        Machine.describe(json);
        Map<String, Object> settings = new LinkedHashMap<>();
        settings.put("parts", parts);
        settings.put("rate", rate);
        settings.put("intervalsMillis", intervals);
        settings.put("s3Seconds", seconds);
        settings.put("dirSeconds", dirSeconds);
        settings.put("warmupSeconds", warmup);
        settings.put("lagValueBytes", lagValueBytes);
        settings.put("restoreKeys", keys);
        settings.put("restoreValueBytes", valueBytes);
        settings.put("restoreBuildPutsPerCommit", buildBatch);
        settings.put("restoreLogPuts", logPuts);
        settings.put("restoreParallelism", parallelism);
        settings.put("httpMaxConnections", System.getProperty("http.maxConnections", "(JDK default 5)"));
        json.put("settings", settings);
        BenchDir.delete(scratch);
        Files.createDirectories(scratch);
        try (LoopbackS3 s3 = LoopbackS3.start(scratch.resolve("s3proxy"))) {
            s3.createBucket(BUCKET);
            if (parts.contains("lag")) {
                List<Object> runs = new ArrayList<>();
                // bin/bench runs S3 only; the directory destination is a reference, not a figure of the suite
                for (String kind :
                        System.getProperty("repl.kinds", "s3,directory").split(",")) {
                    for (int ms : intervals) {
                        runs.add(lag(
                                s3,
                                kind,
                                Duration.ofMillis(ms),
                                rate,
                                warmup,
                                kind.equals("s3") ? seconds : dirSeconds,
                                lagValueBytes));
                    }
                }
                json.put("lag", runs);
            }
            if (parts.contains("restore")) {
                json.put("restore", restore(s3, keys, valueBytes, buildBatch, logPuts, parallelism, profile, target));
            }
        }
        line("");
        line("# load after: %s", Machine.loadavg());
        json.put("loadAfter", Machine.loadavg());
        json.put("finishedUtc", Instant.now().toString());
        Files.createDirectories(out.toAbsolutePath().getParent());
        Files.writeString(Path.of(out + ".txt"), text);
        Files.writeString(Path.of(out + ".json"), Json.write(json) + "\n");
        System.out.println("replication: results in " + out + ".txt and .json");
        BenchDir.delete(scratch);
    }

    // ---- lag, requests, bytes stored

    private Map<String, Object> lag(
            LoopbackS3 s3, String kind, Duration interval, int rate, int warmup, int seconds, int valueBytes)
            throws Exception {
        long ms = interval.toMillis();
        line("");
        line(
                "## Lag to %s, sync-interval %d ms, %,d commits/s for %d s after %d s warm-up (load %s)",
                kind, ms, rate, seconds, warmup, Machine.loadavg());
        Path data = scratch.resolve("lag-" + kind + "-" + ms);
        ObjectStore raw = kind.equals("s3")
                ? S3Store.open(BUCKET, "lag-" + ms + "ms", s3.options())
                : DirectoryStore.open(scratch.resolve("dest-" + ms + "ms"));
        UploadClock clock = new UploadClock(raw);
        int warmCommits = rate * warmup;
        int total = warmCommits + rate * seconds;
        long[] committedAt = new long[total + 2]; // by revision; the store is fresh and this is its only writer
        AtomicLongArray durableAt = new AtomicLongArray(total + 2);
        long firstTimed = -1;
        long lastRev = 0;
        long late = 0;
        long t0 = 0;
        long t1;
        long cpu0 = 0;
        long cpu1;
        long[] machine0 = null;
        long[] machine1;
        GuardedStore.Metrics m0 = null;
        GuardedStore.Metrics m1;
        ShipStatus status;
        Map<String, Object> result = new LinkedHashMap<>();
        try (GuardedStore dest = new GuardedStore(clock, BreakerOptions.defaults())) {
            try (Caskade db = Caskade.open(data, CaskadeOptions.defaults().withDurability(Durability.SYNC))) {
                Shipper shipper = Shipper.live(db, dest, ShipOptions.defaults().withSyncInterval(interval));
                try {
                    if (!shipper.syncNow()) throw new IllegalStateException("first ship failed: " + shipper.status());
                    shipper.start();
                    SplittableRandom random = new SplittableRandom(42);
                    long period = 1_000_000_000L / rate;
                    long start = System.nanoTime();
                    long deadline = start + 2L * (warmup + seconds) * 1_000_000_000L;
                    for (int i = 0; i < total; i++) {
                        long slot = start + i * period;
                        long wait = slot - System.nanoTime();
                        if (wait > 0) LockSupport.parkNanos(wait);
                        if (i == warmCommits) {
                            t0 = System.nanoTime();
                            m0 = dest.metrics();
                            cpu0 = Machine.processCpuNanos();
                            machine0 = Machine.cpu();
                            firstTimed = lastRev + 1;
                        }
                        long now = System.nanoTime();
                        if (now - deadline > 0) break;
                        if (now - slot > 1_000_000) late++;
                        long rev = db.commitNoWait(Batch.create().put(lagKey(i), text(random, valueBytes)));
                        committedAt[(int) rev] = System.nanoTime();
                        int r = (int) rev;
                        db.whenDurable(rev).thenRun(() -> durableAt.set(r, System.nanoTime()));
                        lastRev = rev;
                    }
                    t1 = System.nanoTime();
                    m1 = dest.metrics();
                    cpu1 = Machine.processCpuNanos();
                    machine1 = Machine.cpu();
                    long waitUntil = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                    while (shipper.status().shippedRevision() < lastRev && System.nanoTime() < waitUntil) {
                        Thread.sleep(5);
                    }
                    status = shipper.status();
                } finally {
                    shipper.close();
                }
            }
            List<ObjectStore.ObjectInfo> objects = dest.list("");
            long logBytes = 0;
            long logObjects = 0;
            long logCommits = 0;
            long snapBytes = 0;
            long otherBytes = 0;
            for (ObjectStore.ObjectInfo o : objects) {
                if (o.name().contains("/log/")) {
                    logBytes += o.size();
                    logObjects++;
                    String[] ft = o.name()
                            .substring(o.name().lastIndexOf('/') + 1)
                            .replace(".seg", "")
                            .split("-");
                    logCommits += Long.parseLong(ft[1]) - Long.parseLong(ft[0]) + 1;
                } else if (o.name().contains("/snapshots/")) {
                    snapBytes += o.size();
                } else {
                    otherBytes += o.size();
                }
            }
            GuardedStore.Metrics mEnd = dest.metrics();

            // lag per timed commit: the first upload that holds it
            long[] uploadedAt = new long[committedAt.length];
            List<UploadClock.Upload> uploads = clock.uploads();
            for (UploadClock.Upload u : uploads) {
                for (long r = Math.max(1, u.from()); r <= Math.min(u.to(), committedAt.length - 1); r++) {
                    if (uploadedAt[(int) r] == 0 || u.finished() < uploadedAt[(int) r])
                        uploadedAt[(int) r] = u.finished();
                }
            }
            LatencyHistogram fromCommit = new LatencyHistogram();
            LatencyHistogram fromDurable = new LatencyHistogram();
            long missing = 0;
            long timedCommits = 0;
            for (long r = firstTimed; r <= lastRev && r < committedAt.length; r++) {
                if (committedAt[(int) r] == 0 || committedAt[(int) r] > t1) continue;
                timedCommits++;
                if (uploadedAt[(int) r] == 0) {
                    missing++;
                    continue;
                }
                fromCommit.record(uploadedAt[(int) r] - committedAt[(int) r]);
                long d = durableAt.get((int) r);
                if (d != 0) fromDurable.record(uploadedAt[(int) r] - d);
            }
            LatencyHistogram uploadTime = new LatencyHistogram();
            long windowUploads = 0;
            long windowUploadBytes = 0;
            long windowUploadCommits = 0;
            for (UploadClock.Upload u : uploads) {
                if (u.finished() < t0 || u.finished() > t1) continue;
                windowUploads++;
                windowUploadBytes += u.bytes();
                windowUploadCommits += u.to() - u.from() + 1;
                uploadTime.record(u.finished() - u.started());
            }
            double window = (t1 - t0) / 1e9;
            double achieved = timedCommits / window;
            double targetMillis = ms + 200;
            boolean met = missing == 0 && fromCommit.percentile(0.99) / 1e6 <= targetMillis;
            line(
                    "commits: %,d timed in %.2f s = %,.0f commits/s (%,d more than 1 ms behind their slot); durability"
                            + " sync via commitNoWait + whenDurable",
                    timedCommits, window, achieved, late);
            line(
                    "lag commit -> log object uploaded: p50 %s, p90 %s, p99 %s, max %s, mean %s; not uploaded: %,d"
                            + "  [target p99 <= %.0f ms: %s]",
                    millis(fromCommit.percentile(0.5)),
                    millis(fromCommit.percentile(0.9)),
                    millis(fromCommit.percentile(0.99)),
                    millis(fromCommit.max()),
                    millis((long) fromCommit.mean()),
                    missing,
                    targetMillis,
                    met ? "met" : "NOT met");
            line(
                    "lag durable (acknowledged) -> uploaded: p50 %s, p99 %s, max %s",
                    millis(fromDurable.percentile(0.5)),
                    millis(fromDurable.percentile(0.99)),
                    millis(fromDurable.max()));
            line(
                    "log objects in the window: %,d (%.1f/s), %,.0f commits and %,.0f bytes each on average; upload time"
                            + " p50 %s, p99 %s, max %s",
                    windowUploads,
                    windowUploads / window,
                    windowUploadCommits / (double) Math.max(1, windowUploads),
                    windowUploadBytes / (double) Math.max(1, windowUploads),
                    millis(uploadTime.percentile(0.5)),
                    millis(uploadTime.percentile(0.99)),
                    millis(uploadTime.max()));
            Map<String, Object> perHour = new LinkedHashMap<>();
            StringBuilder req = new StringBuilder();
            for (GuardedStore.Request type : GuardedStore.Request.values()) {
                long n = m1.requests(type) - m0.requests(type);
                double h = n * 3600.0 / window;
                perHour.put(type.name(), Math.round(h));
                req.append(String.format(Locale.ROOT, "%s %,.0f  ", type, h));
            }
            long allRequests = 0;
            for (GuardedStore.Request type : GuardedStore.Request.values())
                allRequests += m1.requests(type) - m0.requests(type);
            double litestreamPuts = 3600.0 * 1000 / ms;
            line(
                    "requests per hour (attempts in the window x 3600 / %.1f s): %s; all %,.0f; errors in the whole run:"
                            + " %,d; Litestream at this interval: %,.0f PUTs/hour",
                    window,
                    req.toString().strip(),
                    allRequests * 3600.0 / window,
                    mEnd.requests(GuardedStore.Outcome.TRANSIENT_ERROR)
                            + mEnd.requests(GuardedStore.Outcome.PERMANENT_ERROR),
                    litestreamPuts);
            double perMillion = logBytes * 1e6 / Math.max(1, logCommits);
            line(
                    "stored at the end: %,d log objects, %s for %,d commits = %s per million commits; snapshots %s;"
                            + " other %s; uploaded in the window %s/s",
                    logObjects,
                    Machine.bytes(logBytes),
                    logCommits,
                    Machine.bytes((long) perMillion),
                    Machine.bytes(snapBytes),
                    Machine.bytes(otherBytes),
                    Machine.bytes((long) ((m1.bytesUploaded() - m0.bytesUploaded()) / window)));
            double cores = (cpu1 - cpu0) / (double) (t1 - t0);
            double busy = Machine.busyCores(machine0, machine1);
            line(
                    "CPU in the window: this JVM (writer, engine, shipper%s) %.2f cores; whole machine %.2f of %d;"
                            + " shipper state %s, failures %d",
                    kind.equals("s3") ? ", S3Proxy" : "",
                    cores,
                    busy,
                    Runtime.getRuntime().availableProcessors(),
                    status.state(),
                    status.failures());

            result.put("destination", kind);
            result.put("syncIntervalMillis", ms);
            result.put("durability", "sync (commitNoWait + whenDurable, one writer thread, one put per commit)");
            result.put("valueBytes", valueBytes);
            result.put("targetRate", rate);
            result.put("windowSeconds", window);
            result.put("timedCommits", timedCommits);
            result.put("achievedCommitsPerSecond", achieved);
            result.put("lateCommits", late);
            result.put("lagMillis", fromCommit.summary(1e6));
            result.put("lagFromDurableMillis", fromDurable.summary(1e6));
            result.put("notUploaded", missing);
            result.put("targetP99Millis", targetMillis);
            result.put("targetMet", met);
            result.put("windowLogObjects", windowUploads);
            result.put("windowCommitsPerObject", windowUploadCommits / (double) Math.max(1, windowUploads));
            result.put("windowBytesPerObject", windowUploadBytes / (double) Math.max(1, windowUploads));
            result.put("uploadMillis", uploadTime.summary(1e6));
            result.put("requestsPerHour", perHour);
            result.put("allRequestsPerHour", Math.round(allRequests * 3600.0 / window));
            result.put("litestreamPutsPerHour", Math.round(litestreamPuts));
            result.put("uploadedBytesPerSecond", (m1.bytesUploaded() - m0.bytesUploaded()) / window);
            result.put("storedLogObjects", logObjects);
            result.put("storedLogBytes", logBytes);
            result.put("storedLogCommits", logCommits);
            result.put("storedLogBytesPerMillionCommits", Math.round(perMillion));
            result.put("storedSnapshotBytes", snapBytes);
            result.put("storedOtherBytes", otherBytes);
            result.put(
                    "errors",
                    mEnd.requests(GuardedStore.Outcome.TRANSIENT_ERROR)
                            + mEnd.requests(GuardedStore.Outcome.PERMANENT_ERROR));
            result.put("jvmCpuCores", cores);
            result.put("machineBusyCores", busy);
            result.put("shipperFailures", status.failures());
            result.put("loadAfter", Machine.loadavg());
        }
        BenchDir.delete(data);
        return result;
    }

    private static byte[] lagKey(int i) {
        return ("lag/" + String.format(Locale.ROOT, "%06d", i % 100_000)).getBytes(StandardCharsets.US_ASCII);
    }

    /** Random text over 16 letters: 4 bits of entropy a byte, so deflate takes it to about half. */
    private static byte[] text(SplittableRandom random, int n) {
        byte[] b = new byte[n];
        long bits = 0;
        for (int i = 0; i < n; i++) {
            if ((i & 15) == 0) bits = random.nextLong();
            b[i] = LETTERS[(int) (bits & 15)];
            bits >>>= 4;
        }
        return b;
    }

    // ---- restore

    private Map<String, Object> restore(
            LoopbackS3 s3,
            int keys,
            int valueBytes,
            int buildBatch,
            int logPuts,
            List<Integer> parallelisms,
            boolean profile,
            double targetMBs)
            throws Exception {
        line("");
        line(
                "## Restore from S3: %,d keys x %,d-byte values (random text over 16 letters) in commits of %d, then %,d"
                        + " overwrites in commits of 10 (load %s)",
                keys, valueBytes, buildBatch, logPuts, Machine.loadavg());
        Map<String, Object> result = new LinkedHashMap<>();
        Path src = scratch.resolve("restore-src");
        SplittableRandom random = new SplittableRandom(7);
        long snapshotLogical = 0;
        long logLogical = 0;
        Digest source;
        try (GuardedStore dest =
                new GuardedStore(S3Store.open(BUCKET, "restore", s3.options()), BreakerOptions.defaults())) {
            try (Caskade db = Caskade.open(src, CaskadeOptions.defaults().withDurability(Durability.NONE))) {
                long b0 = System.nanoTime();
                Batch batch = Batch.create();
                for (int i = 0; i < keys; i++) {
                    byte[] k = restoreKey(i);
                    byte[] v = text(random, valueBytes);
                    batch.put(k, v);
                    snapshotLogical += k.length + v.length;
                    // small commits: LogTail scans a commit larger than its 64 KiB chunk in quadratic time, and
                    // the shipper scans the newest segment before the snapshot (see docs/benchmarks.md)
                    if (batch.size() == buildBatch) {
                        db.commit(batch);
                        batch = Batch.create();
                    }
                }
                if (!batch.isEmpty()) db.commit(batch);
                double build = (System.nanoTime() - b0) / 1e9;
                line(
                        "built the source: %,d keys, %s of keys and values in %.1f s; disk %s",
                        keys,
                        Machine.bytes(snapshotLogical),
                        build,
                        Machine.bytes(db.stats().diskBytes()));
                result.put("sourceBuildSeconds", build);
                result.put("sourceDiskBytes", db.stats().diskBytes());
                try (Shipper shipper = Shipper.live(db, dest, ShipOptions.defaults())) {
                    long s0 = System.nanoTime();
                    if (!shipper.syncNow())
                        throw new IllegalStateException("snapshot ship failed: " + shipper.status());
                    double snapSeconds = (System.nanoTime() - s0) / 1e9;
                    for (int i = 0; i < logPuts; i += 10) {
                        Batch b = Batch.create();
                        for (int j = i; j < Math.min(logPuts, i + 10); j++) {
                            byte[] k = restoreKey(random.nextInt(keys));
                            byte[] v = text(random, valueBytes);
                            b.put(k, v);
                            logLogical += k.length + v.length;
                        }
                        db.commit(b);
                    }
                    long l0 = System.nanoTime();
                    if (!shipper.syncNow()) throw new IllegalStateException("log ship failed: " + shipper.status());
                    double logSeconds = (System.nanoTime() - l0) / 1e9;
                    source = db.digest(new byte[0]);
                    line(
                            "shipped: snapshot (encode + upload) in %.1f s = %.0f MB/s of keys and values; log of %s"
                                    + " in %.1f s; source digest at revision %,d",
                            snapSeconds,
                            snapshotLogical / 1e6 / snapSeconds,
                            Machine.bytes(logLogical),
                            logSeconds,
                            source.revision());
                    result.put("snapshotShipSeconds", snapSeconds);
                    result.put("logShipSeconds", logSeconds);
                }
            }
            BenchDir.delete(src);
            Restore.Plan plan = Restore.plan(dest, RestoreOptions.latest());
            long logical = snapshotLogical + logLogical;
            line(
                    "to restore: snapshot %s (%.2f of its %s of keys and values), %d log objects %s; %s of objects,"
                            + " %s logical",
                    Machine.bytes(plan.snapshot().size()),
                    plan.snapshot().size() / (double) snapshotLogical,
                    Machine.bytes(snapshotLogical),
                    plan.logs().size(),
                    Machine.bytes(plan.bytes() - plan.snapshot().size()),
                    Machine.bytes(plan.bytes()),
                    Machine.bytes(logical));
            result.put("keys", keys);
            result.put("valueBytes", valueBytes);
            result.put("logicalSnapshotBytes", snapshotLogical);
            result.put("logicalLogBytes", logLogical);
            result.put("logicalBytes", logical);
            result.put("snapshotObjectBytes", plan.snapshot().size());
            result.put("logObjects", plan.logs().size());
            result.put("objectBytes", plan.bytes());
            result.put("compressionRatio", plan.snapshot().size() / (double) snapshotLogical);
            List<Object> runs = new ArrayList<>();
            double best = 0;
            for (int p : parallelisms) {
                Map<String, Object> run = restoreOnce(dest, p, logical, plan.bytes(), source, null);
                runs.add(run);
                best = Math.max(best, (double) run.get("logicalMBps"));
            }
            result.put("runs", runs);
            result.put("targetMBps", targetMBs);
            result.put("bestLogicalMBps", best);
            result.put("targetMet", best >= targetMBs);
            line(
                    "best: %.0f MB/s of keys and values  [target >= %.0f MB/s: %s]",
                    best, targetMBs, best >= targetMBs ? "met" : "NOT met");
            if (profile && best < targetMBs) {
                int p = parallelisms.stream().mapToInt(Integer::intValue).max().orElse(4);
                Path jfr = root.resolve("caskade-bench/target/replication-restore-p" + p + ".jfr");
                Files.createDirectories(jfr.getParent());
                line("");
                line("### One more restore, parallelism %d, under JFR (CPU-time samples; %s)", p, root.relativize(jfr));
                Map<String, Object> run = restoreOnce(dest, p, logical, plan.bytes(), source, jfr);
                run.put("jfr", root.relativize(jfr).toString());
                run.put("profile", JfrProfile.summarize(jfr, this::line));
                result.put("profiled", run);
            }
        }
        return result;
    }

    private Map<String, Object> restoreOnce(
            GuardedStore dest, int parallelism, long logical, long objectBytes, Digest source, Path jfr)
            throws IOException, java.text.ParseException {
        Path to = scratch.resolve("restored-" + parallelism);
        BenchDir.delete(to);
        long[] marks = new long[2]; // snapshot loaded, every object applied
        GuardedStore.Metrics m0 = dest.metrics();
        long cpu0 = Machine.processCpuNanos();
        long[] machine0 = Machine.cpu();
        Recording rec = null;
        if (jfr != null) {
            rec = new Recording(Configuration.getConfiguration("profile"));
            rec.enable("jdk.CPUTimeSample").with("throttle", "2ms");
            rec.start();
        }
        long t0 = System.nanoTime();
        Restore.Result r;
        try {
            r = Restore.run(dest, to, RestoreOptions.latest().withParallelism(parallelism), (done, total, b, bt) -> {
                if (done >= 1 && marks[0] == 0) marks[0] = System.nanoTime();
                if (done >= total && marks[1] == 0) marks[1] = System.nanoTime();
            });
        } finally {
            if (rec != null) {
                rec.stop();
                rec.dump(jfr);
                rec.close();
            }
        }
        long t1 = System.nanoTime();
        long cpu1 = Machine.processCpuNanos();
        long[] machine1 = Machine.cpu();
        GuardedStore.Metrics m1 = dest.metrics();
        double secs = (t1 - t0) / 1e9;
        boolean same = source.equals(r.digest());
        double logicalMBps = logical / 1e6 / secs;
        double objectMBps = objectBytes / 1e6 / secs;
        double snapshotSecs = (marks[0] - t0) / 1e9;
        double loadSecs = (marks[1] - t0) / 1e9;
        line(
                "parallelism %d: %.2f s = %.0f MB/s of keys and values, %.0f MB/s of objects; snapshot loaded at %.2f s,"
                        + " log applied at %.2f s, then finish + open + digest %.2f s; digest %s; CPU: this JVM %.2f"
                        + " cores, machine %.2f; GETs %d",
                parallelism,
                secs,
                logicalMBps,
                objectMBps,
                snapshotSecs,
                loadSecs,
                secs - loadSecs,
                same ? "equals the source's" : "DIFFERS: " + r.digest() + " vs " + source,
                (cpu1 - cpu0) / (double) (t1 - t0),
                Machine.busyCores(machine0, machine1),
                m1.requests(GuardedStore.Request.GET) - m0.requests(GuardedStore.Request.GET));
        Map<String, Object> run = new LinkedHashMap<>();
        run.put("parallelism", parallelism);
        run.put("seconds", secs);
        run.put("logicalMBps", logicalMBps);
        run.put("objectMBps", objectMBps);
        run.put("snapshotLoadedSeconds", snapshotSecs);
        run.put("logAppliedSeconds", loadSecs);
        run.put("finishOpenDigestSeconds", secs - loadSecs);
        run.put("digestMatches", same);
        run.put("revision", r.digest().revision());
        run.put("jvmCpuCores", (cpu1 - cpu0) / (double) (t1 - t0));
        run.put("machineBusyCores", Machine.busyCores(machine0, machine1));
        run.put("gets", m1.requests(GuardedStore.Request.GET) - m0.requests(GuardedStore.Request.GET));
        BenchDir.delete(to);
        return run;
    }

    private static byte[] restoreKey(int i) {
        return ("restore/" + String.format(Locale.ROOT, "%010d", i)).getBytes(StandardCharsets.US_ASCII);
    }

    // ---- helpers

    private void line(String format, Object... args) {
        String s = String.format(Locale.ROOT, format, args);
        System.out.println(s);
        text.append(s).append('\n');
    }

    private static String millis(long nanos) {
        return String.format(Locale.ROOT, "%.1f ms", nanos / 1e6);
    }
}
