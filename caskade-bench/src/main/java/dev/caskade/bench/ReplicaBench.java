package dev.caskade.bench;

import dev.caskade.Batch;
import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.Change;
import dev.caskade.Digest;
import dev.caskade.Durability;
import dev.caskade.client.CaskadeClient;
import dev.caskade.client.ClientOptions;
import dev.caskade.client.LocalReplica;
import dev.caskade.client.Txn;
import dev.caskade.server.HttpOptions;
import dev.caskade.server.HttpServer;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import jdk.jfr.Configuration;
import jdk.jfr.Recording;

/**
 * Issue 5's replica figures: a real server ({@link HttpServer} on 127.0.0.1 over a {@link Caskade} store) and
 * {@link LocalReplica}s over {@link CaskadeClient}, all in this JVM, talking HTTP/SSE on loopback. Run by {@code
 * bench/replica.sh}.
 *
 * <p><b>Apply rate.</b> Primary store {@link Durability#NONE}. One seed key, then two replicas of the prefix
 * bootstrap (snapshot at revision 1) and close. Then {@code replica.changes} puts of new keys in commits of {@code
 * replica.perCommit} are written to the primary's store (in-process, the same store the server serves: the server
 * is not what is measured). One replica is reopened: it resumes from revision 1, so the server streams the whole
 * history as SSE commits and the replica parses and applies each with {@code Caskade.apply}. Rate = changes / time
 * from {@code LocalReplica.open} to {@code awaitRevision(last)}; digests compared after. Then a fresh replica
 * bootstraps the resulting store from a snapshot (keys/s), and, with the caught-up replica live, writer threads send
 * {@code txn}s of {@code replica.perCommit} puts over HTTP as fast as they can for {@code replica.liveSeconds}: the
 * replica's applied changes/s over that window. Under the target, the spare replica catches up once more under JFR.
 *
 * <p><b>Latency.</b> Primary store with the server's default durability {@code sync}, then {@code none} (fsync's
 * share).
 * {@code n} replicas of the prefix, each with its own client and directory. Writer threads put one key per commit
 * over HTTP on a fixed schedule ({@code replica.rate}/s, a slot missed goes at once); the send time of each is noted
 * before the request; every replica's {@code onChange} notes when the key was applied. Latency = applied minus
 * sent, every (commit, replica) pair after {@code replica.warmup} seconds counted. Under the target, one more run of
 * the largest {@code n} goes under JFR.
 *
 * <p>Settings (system properties): {@code replica.root}, {@code replica.data} (scratch), {@code replica.parts}
 * (apply,latency), {@code replica.changes} (1,000,000), {@code replica.perCommit} (100), {@code replica.valueBytes}
 * (100), {@code replica.liveSeconds} (10), {@code replica.writers} (2), {@code replica.rate} (1000), {@code
 * replica.seconds} (20), {@code replica.warmup} (2), {@code replica.replicas} (1,10), {@code replica.durability}
 * (sync,none: one run each), {@code replica.profile} (true).
 */
public final class ReplicaBench {
    private static final byte[] LETTERS = "etaoinshrdlucmfw".getBytes(StandardCharsets.US_ASCII);
    private static final double APPLY_TARGET = 100_000;
    private static final double P99_TARGET_MILLIS = 5;

    private final Path root;
    private final Path scratch;
    private final StringBuilder text = new StringBuilder();
    private final Map<String, Object> json = new LinkedHashMap<>();

    private ReplicaBench(Path root, Path scratch) {
        this.root = root;
        this.scratch = scratch;
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: ReplicaBench <results path without extension> (writes .txt and .json)");
            System.exit(2);
        }
        Path root = Path.of(System.getProperty("replica.root", "."))
                .toAbsolutePath()
                .normalize();
        Path scratch = Path.of(System.getProperty(
                "replica.data", root.resolve("caskade-bench/target/replica").toString()));
        new ReplicaBench(root, scratch).run(Path.of(args[0]));
        System.exit(0); // Netty's and the HTTP clients' threads
    }

    private void run(Path out) throws Exception {
        String parts = System.getProperty("replica.parts", "apply,latency");
        int changes = Integer.getInteger("replica.changes", 1_000_000);
        int perCommit = Integer.getInteger("replica.perCommit", 100);
        int valueBytes = Integer.getInteger("replica.valueBytes", 100);
        int liveSeconds = Integer.getInteger("replica.liveSeconds", 10);
        int writers = Integer.getInteger("replica.writers", 2);
        int rate = Integer.getInteger("replica.rate", 1000);
        int seconds = Integer.getInteger("replica.seconds", 20);
        int warmup = Integer.getInteger("replica.warmup", 2);
        List<Integer> replicas = Machine.ints(System.getProperty("replica.replicas", "1,10"));
        List<String> durabilities = Arrays.stream(
                        System.getProperty("replica.durability", "sync,none").split(","))
                .map(String::trim)
                .toList();
        boolean profile = Boolean.parseBoolean(System.getProperty("replica.profile", "true"));

        line(
                "# Local replicas over HTTP/SSE (server and replicas in this JVM on 127.0.0.1), %s; %d cpus; %s",
                Instant.now(), Runtime.getRuntime().availableProcessors(), System.getProperty("java.vm.version"));
        line("# load before: %s", Machine.loadavg());
        Machine.describe(json);
        Map<String, Object> settings = new LinkedHashMap<>();
        settings.put("parts", parts);
        settings.put("changes", changes);
        settings.put("changesPerCommit", perCommit);
        settings.put("valueBytes", valueBytes);
        settings.put("liveSeconds", liveSeconds);
        settings.put("liveWriters", writers);
        settings.put("rate", rate);
        settings.put("seconds", seconds);
        settings.put("warmupSeconds", warmup);
        settings.put("replicas", replicas);
        settings.put("latencyDurability", durabilities);
        json.put("settings", settings);
        BenchDir.delete(scratch);
        Files.createDirectories(scratch);
        if (parts.contains("apply")) {
            json.put("apply", apply(changes, perCommit, valueBytes, liveSeconds, writers, profile));
        }
        if (parts.contains("latency")) {
            List<Object> runs = new ArrayList<>();
            boolean missed = false;
            for (String durability : durabilities) {
                for (int n : replicas) {
                    Map<String, Object> r = latency(n, rate, seconds, warmup, valueBytes, durability, null);
                    runs.add(r);
                    missed |= !(Boolean) r.get("targetMet");
                }
            }
            json.put("latency", runs);
            if (profile && missed) {
                int n = replicas.stream().mapToInt(Integer::intValue).max().orElse(10);
                String durability = durabilities.getLast();
                Path jfr = root.resolve("caskade-bench/target/replica-latency-" + n + "-" + durability + ".jfr");
                json.put(
                        "latencyProfiled",
                        latency(n, rate, Math.min(seconds, 10), warmup, valueBytes, durability, jfr));
            }
        }
        line("");
        line("# load after: %s", Machine.loadavg());
        json.put("loadAfter", Machine.loadavg());
        json.put("finishedUtc", Instant.now().toString());
        Files.createDirectories(out.toAbsolutePath().getParent());
        Files.writeString(Path.of(out + ".txt"), text);
        Files.writeString(Path.of(out + ".json"), Json.write(json) + "\n");
        System.out.println("replica: results in " + out + ".txt and .json");
        BenchDir.delete(scratch);
    }

    /** A store behind the HTTP front on a free loopback port. */
    private record Primary(Caskade db, HttpServer http) implements AutoCloseable {
        static Primary start(Path dir, Durability durability) {
            Caskade db = Caskade.open(dir, CaskadeOptions.defaults().withDurability(durability));
            return new Primary(db, HttpServer.start(db, HttpOptions.defaults().withAddress("127.0.0.1", 0)));
        }

        CaskadeClient client() {
            return CaskadeClient.connect(
                    URI.create("http://127.0.0.1:" + http.port()),
                    ClientOptions.defaults()
                            .withConnectTimeout(Duration.ofSeconds(5))
                            .withRequestTimeout(Duration.ofSeconds(30)));
        }

        @Override
        public void close() {
            http.close();
            db.close();
        }
    }

    // ---- apply rate

    private Map<String, Object> apply(
            int changes, int perCommit, int valueBytes, int liveSeconds, int writers, boolean profile)
            throws Exception {
        line("");
        line(
                "## Apply rate: %,d puts of new keys in commits of %d, %d-byte values (load %s)",
                changes, perCommit, valueBytes, Machine.loadavg());
        Map<String, Object> result = new LinkedHashMap<>();
        byte[] prefix = "a/".getBytes(StandardCharsets.US_ASCII);
        SplittableRandom random = new SplittableRandom(5);
        try (Primary p = Primary.start(scratch.resolve("apply-primary"), Durability.NONE);
                CaskadeClient client = p.client()) {
            client.put("a/seed", "x");
            for (String name : List.of("catch-up", "profiled")) {
                try (LocalReplica r = LocalReplica.open(client, "a/", scratch.resolve("apply-" + name))) {
                    if (!r.awaitRevision(1, Duration.ofSeconds(30)))
                        throw new IllegalStateException("replica did not bootstrap: " + r.status());
                }
            }
            long b0 = System.nanoTime();
            int commits = 0;
            for (int i = 0; i < changes; ) {
                Batch b = Batch.create();
                for (int j = 0; j < perCommit && i < changes; j++, i++) b.put(applyKey(i), text(random, valueBytes));
                p.db().commit(b);
                commits++;
            }
            long last = p.db().revision();
            line(
                    "history written to the primary's store in %.1f s: %,d commits, revisions 2..%,d, disk %s",
                    (System.nanoTime() - b0) / 1e9,
                    commits,
                    last,
                    Machine.bytes(p.db().stats().diskBytes()));

            Map<String, Object> catchUp = catchUp(client, p.db(), prefix, "catch-up", changes, last, null);
            result.put("catchUp", catchUp);
            double rate = (double) catchUp.get("changesPerSecond");
            result.put("targetChangesPerSecond", APPLY_TARGET);
            result.put("targetMet", rate >= APPLY_TARGET);
            line("  [target >= %,.0f changes/s: %s]", APPLY_TARGET, rate >= APPLY_TARGET ? "met" : "NOT met");
            if (profile && rate < APPLY_TARGET) {
                Path jfr = root.resolve("caskade-bench/target/replica-apply.jfr");
                result.put("profiled", catchUp(client, p.db(), prefix, "profiled", changes, last, jfr));
            }

            // bootstrap of the same store from a snapshot
            long keys = p.db().stats().keys();
            long s0 = System.nanoTime();
            try (LocalReplica r = LocalReplica.open(client, "a/", scratch.resolve("apply-bootstrap"))) {
                if (!r.awaitRevision(last, Duration.ofSeconds(120)))
                    throw new IllegalStateException("bootstrap did not finish: " + r.status());
                double secs = (System.nanoTime() - s0) / 1e9;
                line(
                        "bootstrap of a fresh replica from a snapshot of %,d keys: %.2f s = %,.0f keys/s",
                        keys, secs, keys / secs);
                Map<String, Object> boot = new LinkedHashMap<>();
                boot.put("keys", keys);
                boot.put("seconds", secs);
                boot.put("keysPerSecond", keys / secs);
                result.put("bootstrap", boot);
            }

            result.put("live", live(p, client, perCommit, valueBytes, liveSeconds, writers));
        }
        return result;
    }

    private Map<String, Object> catchUp(
            CaskadeClient client, Caskade primary, byte[] prefix, String name, int changes, long last, Path jfr)
            throws Exception {
        if (jfr != null) {
            line("");
            line("### Catch-up once more under JFR (CPU-time samples; %s)", root.relativize(jfr));
        }
        AtomicLong applied = new AtomicLong();
        AtomicLong commitsSeen = new AtomicLong();
        long cpu0 = Machine.processCpuNanos();
        long[] machine0 = Machine.cpu();
        Recording rec = jfr == null ? null : startJfr();
        long t0 = System.nanoTime();
        Map<String, Object> result = new LinkedHashMap<>();
        try (LocalReplica r = LocalReplica.open(client, "a/", scratch.resolve("apply-" + name))) {
            r.onChange(c -> {
                applied.addAndGet(c.changes().size());
                commitsSeen.incrementAndGet();
            });
            if (!r.awaitRevision(last, Duration.ofSeconds(120)))
                throw new IllegalStateException("catch-up did not finish: " + r.status());
            long t1 = System.nanoTime();
            if (rec != null) stopJfr(rec, jfr);
            long cpu1 = Machine.processCpuNanos();
            long[] machine1 = Machine.cpu();
            double secs = (t1 - t0) / 1e9;
            Digest server = primary.digest(prefix);
            Digest local = r.digest();
            boolean same = server.keys() == local.keys() && server.sha256().equals(local.sha256());
            LocalReplica.Status st = r.status();
            double rate = applied.get() / secs;
            line(
                    "%s from revision 1 to %,d: %,d changes in %,d commits applied in %.2f s = %,.0f changes/s"
                            + " (%,.0f commits/s); digest %s; snapshots %d, reconnects %d; CPU: this JVM %.2f"
                            + " cores, machine %.2f",
                    name,
                    last,
                    applied.get(),
                    commitsSeen.get(),
                    secs,
                    rate,
                    commitsSeen.get() / secs,
                    same ? "equals the primary's" : "DIFFERS: " + local + " vs " + server,
                    st.snapshots(),
                    st.reconnects(),
                    (cpu1 - cpu0) / (double) (t1 - t0),
                    Machine.busyCores(machine0, machine1));
            result.put("fromRevision", 1);
            result.put("toRevision", last);
            result.put("changes", applied.get());
            result.put("commits", commitsSeen.get());
            result.put("seconds", secs);
            result.put("changesPerSecond", rate);
            result.put("digestMatches", same);
            result.put("snapshots", st.snapshots());
            result.put("reconnects", st.reconnects());
            result.put("jvmCpuCores", (cpu1 - cpu0) / (double) (t1 - t0));
            result.put("machineBusyCores", Machine.busyCores(machine0, machine1));
            if (applied.get() != changes) line("  expected %,d changes, applied %,d", changes, applied.get());
        } finally {
            if (rec != null && rec.getState() == jdk.jfr.RecordingState.RUNNING) stopJfr(rec, jfr);
        }
        if (jfr != null) {
            result.put("jfr", root.relativize(jfr).toString());
            result.put("profile", JfrProfile.summarize(jfr, this::line));
        }
        return result;
    }

    /** Writers send txns over HTTP as fast as they can while the caught-up replica follows live. */
    private Map<String, Object> live(
            Primary p, CaskadeClient client, int perCommit, int valueBytes, int seconds, int writers) throws Exception {
        line("");
        line(
                "### Live: %d writer threads send txns of %d puts over HTTP for %d s, one replica follows (load %s)",
                writers, perCommit, seconds, Machine.loadavg());
        Map<String, Object> result = new LinkedHashMap<>();
        try (LocalReplica r = LocalReplica.open(client, "a/", scratch.resolve("apply-catch-up"))) {
            if (!r.awaitRevision(p.db().revision(), Duration.ofSeconds(60)))
                throw new IllegalStateException("replica did not resume: " + r.status());
            AtomicLong applied = new AtomicLong();
            r.onChange(c -> applied.addAndGet(c.changes().size()));
            AtomicBoolean stop = new AtomicBoolean();
            AtomicLong sent = new AtomicLong();
            List<Thread> threads = new ArrayList<>();
            long rev0 = p.db().revision();
            long cpu0 = Machine.processCpuNanos();
            long[] machine0 = Machine.cpu();
            long t0 = System.nanoTime();
            for (int w = 0; w < writers; w++) {
                int id = w;
                threads.add(Thread.ofPlatform().name("txn-writer-" + w).start(() -> {
                    SplittableRandom rnd = new SplittableRandom(100 + id);
                    while (!stop.get()) {
                        Txn t = Txn.create();
                        Txn.Op[] ops = new Txn.Op[perCommit];
                        for (int j = 0; j < perCommit; j++)
                            ops[j] = Txn.put(applyKey(rnd.nextInt(1_000_000)), text(rnd, valueBytes));
                        client.txn(t.success(ops));
                        sent.addAndGet(perCommit);
                    }
                }));
            }
            Thread.sleep(seconds * 1000L);
            long appliedAtStop = applied.get();
            long t1 = System.nanoTime();
            stop.set(true);
            for (Thread t : threads) t.join();
            long cpu1 = Machine.processCpuNanos();
            long[] machine1 = Machine.cpu();
            long last = p.db().revision();
            long lagStart = System.nanoTime();
            boolean caught = r.awaitRevision(last, Duration.ofSeconds(60));
            double drain = (System.nanoTime() - lagStart) / 1e9;
            double secs = (t1 - t0) / 1e9;
            double serverRate = sent.get() / secs;
            double replicaRate = appliedAtStop / secs;
            line(
                    "server committed %,.0f changes/s (%,.0f txns/s); replica applied %,.0f changes/s over the window"
                            + " and %s %.2f s after the writers stopped; CPU: this JVM %.2f cores, machine %.2f",
                    serverRate,
                    (last - rev0) / secs,
                    replicaRate,
                    caught ? "was caught up" : "was NOT caught up",
                    drain,
                    (cpu1 - cpu0) / (double) (t1 - t0),
                    Machine.busyCores(machine0, machine1));
            result.put("writers", writers);
            result.put("seconds", secs);
            result.put("serverChangesPerSecond", serverRate);
            result.put("serverCommitsPerSecond", (last - rev0) / secs);
            result.put("replicaChangesPerSecond", replicaRate);
            result.put("caughtUp", caught);
            result.put("drainSeconds", drain);
            result.put("jvmCpuCores", (cpu1 - cpu0) / (double) (t1 - t0));
            result.put("machineBusyCores", Machine.busyCores(machine0, machine1));
        }
        return result;
    }

    private static byte[] applyKey(int i) {
        return ("a/" + String.format(Locale.ROOT, "%08d", i)).getBytes(StandardCharsets.US_ASCII);
    }

    // ---- latency

    private Map<String, Object> latency(
            int n, int rate, int seconds, int warmup, int valueBytes, String durability, Path jfr) throws Exception {
        line("");
        line(
                "## Latency put on primary -> applied on %d replica%s, %,d commits/s (one put each) for %d s after %d s"
                        + " warm-up, primary durability %s%s (load %s)",
                n,
                n == 1 ? "" : "s",
                rate,
                seconds,
                warmup,
                durability,
                jfr == null ? "" : ", under JFR (" + root.relativize(jfr) + ")",
                Machine.loadavg());
        String tag = "lat-" + n + "-" + durability + (jfr == null ? "" : "-jfr");
        int total = rate * (warmup + seconds);
        int warmCommits = rate * warmup;
        AtomicLongArray sentAt = new AtomicLongArray(total);
        AtomicLongArray[] seenAt = new AtomicLongArray[n];
        LatencyHistogram putTime = new LatencyHistogram();
        Map<String, Object> result = new LinkedHashMap<>();
        List<CaskadeClient> clients = new ArrayList<>();
        List<LocalReplica> open = new ArrayList<>();
        try (Primary p = Primary.start(scratch.resolve(tag + "-primary"), Durability.parse(durability));
                CaskadeClient writer = p.client()) {
            long seed = writer.put("l/seed", "x");
            for (int i = 0; i < n; i++) {
                CaskadeClient c = p.client();
                clients.add(c);
                LocalReplica r = LocalReplica.open(c, "l/", scratch.resolve(tag + "-replica-" + i));
                open.add(r);
                AtomicLongArray seen = new AtomicLongArray(total);
                seenAt[i] = seen;
                r.onChange(commit -> {
                    long now = System.nanoTime();
                    for (Change ch : commit.changes()) {
                        int k = latencyIndex(ch.key());
                        if (k >= 0 && k < total) seen.set(k, now);
                    }
                });
            }
            for (LocalReplica r : open) {
                if (!r.awaitRevision(seed, Duration.ofSeconds(30)))
                    throw new IllegalStateException("replica did not bootstrap: " + r.status());
            }
            byte[] value = text(new SplittableRandom(9), valueBytes);
            AtomicLong lastRev = new AtomicLong();
            Recording rec = null;
            long cpu0 = Machine.processCpuNanos();
            long[] machine0 = Machine.cpu();
            // a few writer threads so that one slow put does not hold back the schedule
            Schedule schedule = Schedule.start("put-writer", 8, rate, warmup, seconds, (i, now) -> {
                sentAt.set(i, now);
                long rev = writer.put(latencyKey(i), value);
                lastRev.accumulateAndGet(rev, Math::max);
            });
            schedule.awaitWarmup();
            if (jfr != null) rec = startJfr();
            long t0 = System.nanoTime();
            long cpuT0 = Machine.processCpuNanos();
            long[] machineT0 = Machine.cpu();
            schedule.join();
            long t1 = System.nanoTime();
            if (schedule.errors() > 0)
                throw new IllegalStateException(schedule.errors() + " timed puts failed; latencies would miss them");
            long cpu1 = Machine.processCpuNanos();
            long[] machine1 = Machine.cpu();
            if (rec != null) stopJfr(rec, jfr);
            boolean caught = true;
            for (LocalReplica r : open) caught &= r.awaitRevision(lastRev.get(), Duration.ofSeconds(30));
            putTime.add(schedule.timed());

            LatencyHistogram all = new LatencyHistogram();
            List<Object> perReplica = new ArrayList<>();
            long missing = 0;
            long timed = 0;
            double worstP99 = 0;
            for (int r = 0; r < n; r++) {
                LatencyHistogram h = new LatencyHistogram();
                for (int i = warmCommits; i < total; i++) {
                    long s = sentAt.get(i);
                    if (s == 0) continue;
                    if (r == 0) timed++;
                    long v = seenAt[r].get(i);
                    if (v == 0) missing++;
                    else h.record(v - s);
                }
                all.add(h);
                worstP99 = Math.max(worstP99, h.percentile(0.99) / 1e6);
                perReplica.add(h.percentile(0.99) / 1e6);
            }
            double window = (t1 - t0) / 1e9;
            boolean met = missing == 0 && all.percentile(0.99) / 1e6 <= P99_TARGET_MILLIS;
            line(
                    "commits: %,d timed in %.2f s = %,.0f/s (%,d more than 1 ms behind their slot); replicas caught up"
                            + " at the end: %s",
                    timed, window, timed / window, schedule.late(), caught ? "yes" : "NO");
            line(
                    "put sent -> applied on the replica (all %,d pairs): p50 %s, p90 %s, p99 %s, p99.9 %s, max %s,"
                            + " mean %s; missing %,d  [target p99 <= %.0f ms: %s]",
                    all.count(),
                    millis(all.percentile(0.5)),
                    millis(all.percentile(0.9)),
                    millis(all.percentile(0.99)),
                    millis(all.percentile(0.999)),
                    millis(all.max()),
                    millis((long) all.mean()),
                    missing,
                    P99_TARGET_MILLIS,
                    met ? "met" : "NOT met");
            line("worst replica's p99: %.2f ms", worstP99);
            line(
                    "put round trip (HTTP PUT answered, %s): p50 %s, p99 %s, max %s",
                    durability,
                    millis(putTime.percentile(0.5)),
                    millis(putTime.percentile(0.99)),
                    millis(putTime.max()));
            double cores = (cpu1 - cpuT0) / (double) (t1 - t0);
            line(
                    "CPU in the window: this JVM (writers, server, %d replica%s) %.2f cores; whole machine %.2f of %d",
                    n,
                    n == 1 ? "" : "s",
                    cores,
                    Machine.busyCores(machineT0, machine1),
                    Runtime.getRuntime().availableProcessors());
            result.put("replicas", n);
            result.put("durability", durability);
            result.put("rate", rate);
            result.put("windowSeconds", window);
            result.put("timedCommits", timed);
            result.put("lateCommits", schedule.late());
            result.put("latencyMillis", all.summary(1e6));
            result.put("perReplicaP99Millis", perReplica);
            result.put("missing", missing);
            result.put("caughtUp", caught);
            result.put("putRoundTripMillis", putTime.summary(1e6));
            result.put("targetP99Millis", P99_TARGET_MILLIS);
            result.put("targetMet", met);
            result.put("jvmCpuCores", cores);
            result.put("machineBusyCores", Machine.busyCores(machineT0, machine1));
            result.put("jvmCpuCoresWithWarmup", (cpu1 - cpu0) / (double) (t1 - schedule.startNanos()));
            result.put("machineBusyCoresWithWarmup", Machine.busyCores(machine0, machine1));
            result.put("loadAfter", Machine.loadavg());
        } finally {
            for (LocalReplica r : open) r.close();
            for (CaskadeClient c : clients) c.close();
        }
        if (jfr != null) {
            result.put("jfr", root.relativize(jfr).toString());
            result.put("profile", JfrProfile.summarize(jfr, this::line));
        }
        return result;
    }

    private static byte[] latencyKey(int i) {
        return ("l/" + String.format(Locale.ROOT, "%08d", i)).getBytes(StandardCharsets.US_ASCII);
    }

    /** The number in {@code l/NNNNNNNN}, or -1. */
    private static int latencyIndex(byte[] key) {
        if (key.length != 10 || key[0] != 'l' || key[1] != '/') return -1;
        int v = 0;
        for (int i = 2; i < key.length; i++) v = v * 10 + (key[i] - '0');
        return v;
    }

    /** Random text over 16 letters. */
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

    // ---- helpers

    private static Recording startJfr() throws IOException, java.text.ParseException {
        Recording rec = new Recording(Configuration.getConfiguration("profile"));
        rec.enable("jdk.CPUTimeSample").with("throttle", "2ms");
        rec.start();
        return rec;
    }

    private static void stopJfr(Recording rec, Path jfr) throws IOException {
        rec.stop();
        Files.createDirectories(jfr.getParent());
        rec.dump(jfr);
        rec.close();
    }

    private void line(String format, Object... args) {
        String s = String.format(Locale.ROOT, format, args);
        System.out.println(s);
        text.append(s).append('\n');
    }

    private static String millis(long nanos) {
        return String.format(Locale.ROOT, "%.2f ms", nanos / 1e6);
    }
}
