package dev.caskade.s3;

import static org.assertj.core.api.Assertions.assertThat;

import dev.caskade.Batch;
import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.Digest;
import dev.caskade.Durability;
import dev.caskade.Snapshot;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;

/**
 * Faults at an S3 destination (S3Proxy on loopback behind a {@link FaultProxy}) while a writer commits at a fixed
 * rate: the server stopped and restarted, 5xx answers then slow ones, connections cut and reset at random. During a
 * fault the writer must keep its rate and its latency (commits never wait on the destination) and the status must
 * say so; after it the shipper catches up, every recorded revision restores to the digest the source had at it, the
 * latest restore equals the live store, and the destination verifies clean in one unbroken generation.
 *
 * <p>{@code -Dcaskade.faults.seed=S} replays the random choices (keys, values, fault pattern, moments of recording).
 */
class ShipFaultTest {
    static final String BUCKET = "caskade-faults";
    static final Duration SYNC = Duration.ofMillis(100);
    static final Duration OPEN_WAIT = Duration.ofMillis(500);
    /** Commits per second the writer aims at. */
    static final int RATE = 500;
    /** A commit never waits on the destination: p99 of commit latency stays below this, fault or not. */
    static final long P99_LIMIT_MS = 50;

    static final int KEYS = 2000;
    static final BreakerOptions BREAKER =
            new BreakerOptions(10, 50f, 4, OPEN_WAIT, 2, 2, Duration.ofMillis(50), Duration.ofMillis(200));

    @TempDir
    Path tmp;

    long seed;
    Random rnd;
    S3ProxyFixture s3;
    FaultProxy proxy;
    GuardedStore dest;
    Caskade db;
    Shipper shipper;
    Load load;
    /** revision -> digest of the source at that revision, taken at random moments during the load */
    final Map<Long, Digest> recorded = new TreeMap<>();

    long nextRecordAt;

    @BeforeEach
    void start(TestInfo info) {
        seed = Long.getLong("caskade.faults.seed", System.nanoTime());
        System.out.println("ShipFaultTest." + info.getTestMethod().orElseThrow().getName() + ": seed=" + seed
                + " (replay with -Dcaskade.faults.seed=" + seed + ")");
        rnd = new Random(seed);
        s3 = S3ProxyFixture.start(tmp.resolve("s3"));
        s3.createBucket(BUCKET);
        proxy = FaultProxy.start(s3.port());
        S3Options o = S3ProxyFixture.options(proxy.endpoint())
                .withTimeouts(Duration.ofMillis(500), Duration.ofMillis(700), Duration.ofSeconds(5));
        dest = new GuardedStore(S3Store.open(BUCKET, "faults", o), BREAKER);
        db = Caskade.open(
                tmp.resolve("src"),
                CaskadeOptions.defaults().withDurability(Durability.NONE).withSegmentBytes(1 << 20));
        shipper = Shipper.live(
                db, dest, ShipOptions.defaults().withSyncInterval(SYNC).withSnapshotInterval(Duration.ofSeconds(2)));
        // the generation starts at revision 0, so every revision of the run is restorable
        assertThat(shipper.syncNow()).as("first sync, seed %d", seed).isTrue();
        shipper.start();
        load = new Load(db, new Random(rnd.nextLong()), RATE).start();
    }

    @AfterEach
    void stop() {
        // in closing order: the writer, then the shipper (a last tick), the store, the destination, the servers
        for (AutoCloseable c : Arrays.asList(load, shipper, db, dest, proxy, s3)) {
            if (c == null) continue;
            try {
                c.close();
            } catch (Exception e) {
                System.out.println("ShipFaultTest: closing " + c + " failed: " + e);
            }
        }
    }

    @Test
    void theS3ServerStopsAndComesBack() {
        watch(Duration.ofSeconds(1), null);
        Observed fault = new Observed();
        long from = System.nanoTime();
        s3.stop();
        watch(Duration.ofSeconds(2), fault);
        s3.restart();
        long to = System.nanoTime();
        System.out.println("ShipFaultTest: S3Proxy down for " + (to - from) / 1_000_000 + " ms: " + fault);
        assertThat(fault.states).as("status while S3 is down, seed %d", seed).contains("failing");
        assertThat(fault.breakers).as("breaker while S3 is down, seed %d", seed).contains("OPEN");
        // nothing was shipped while it was down: the backlog grew by (almost) the whole outage
        assertThat(fault.maxLag).as("lag during the outage, seed %d", seed).isGreaterThan(RATE);
        assertThat(fault.maxLagSeconds)
                .as("lag in seconds during the outage, seed %d", seed)
                .isGreaterThan(1.5);
        recoverAndCheck(from, to);
    }

    @Test
    void errorsThenSlowAnswersThenRecovery() {
        watch(Duration.ofSeconds(1), null);
        long from = System.nanoTime();
        Observed errors = new Observed();
        proxy.mode(FaultProxy.fail5xx(rnd.nextBoolean() ? 503 : 500));
        watch(Duration.ofMillis(1200), errors);
        System.out.println("ShipFaultTest: 5xx phase: " + errors + ", " + proxy.failed() + " answers failed");
        assertThat(errors.states)
                .as("status while answers are 5xx, seed %d", seed)
                .contains("failing");
        assertThat(errors.breakers)
                .as("breaker while answers are 5xx, seed %d", seed)
                .contains("OPEN");
        assertThat(proxy.failed()).isPositive();

        // slow answers (within the read timeout) still get through once the breaker lets calls pass again
        Observed slow = new Observed();
        long shippedBefore = shipper.status().shippedRevision();
        proxy.mode(FaultProxy.delay(Duration.ofMillis(150 + rnd.nextInt(200))));
        watch(Duration.ofMillis(1500), slow);
        long shippedSlow = shipper.status().shippedRevision();
        System.out.println("ShipFaultTest: slow phase: " + slow + ", shipped " + shippedBefore + " -> " + shippedSlow);
        assertThat(shippedSlow)
                .as("shipped while answers are slow, seed %d", seed)
                .isGreaterThan(shippedBefore);

        // answers that never come: each attempt times out, then the tick fails
        Observed stalled = new Observed();
        proxy.mode(FaultProxy.stall(Duration.ofSeconds(5)));
        watch(Duration.ofSeconds(2), stalled);
        long to = System.nanoTime();
        proxy.mode(FaultProxy.pass());
        System.out.println("ShipFaultTest: stalled phase: " + stalled);
        assertThat(stalled.states)
                .as("status while answers stall, seed %d", seed)
                .contains("failing");
        assertThat(stalled.maxLag).as("lag while answers stall, seed %d", seed).isGreaterThan(RATE);
        recoverAndCheck(from, to);
    }

    @Test
    void connectionsCutAndResetAtRandom() {
        watch(Duration.ofSeconds(1), null);
        long transientBefore = dest.metrics().requests(GuardedStore.Outcome.TRANSIENT_ERROR);
        Observed fault = new Observed();
        long from = System.nanoTime();
        long end = from + Duration.ofMillis(2500).toNanos();
        int switches = 0;
        for (; switches < 200 && System.nanoTime() < end; switches++) {
            proxy.mode(
                    switch (rnd.nextInt(4)) {
                        case 0 -> FaultProxy.cut();
                        case 1 -> FaultProxy.reset();
                        case 2 -> FaultProxy.fail5xx(500, 1 + rnd.nextInt(3));
                        default -> FaultProxy.pass();
                    });
            watch(Duration.ofMillis(30 + rnd.nextInt(200)), fault);
        }
        proxy.mode(FaultProxy.pass());
        long to = System.nanoTime();
        long transientErrors = dest.metrics().requests(GuardedStore.Outcome.TRANSIENT_ERROR) - transientBefore;
        System.out.println("ShipFaultTest: " + switches + " mode switches, " + transientErrors
                + " transient errors, retries " + dest.metrics().retries() + ": " + fault);
        assertThat(transientErrors)
                .as("the cuts reached the client, seed %d", seed)
                .isPositive();
        recoverAndCheck(from, to);
    }

    /** After the fault: load goes on, the shipper catches up, then every check on the destination. */
    private void recoverAndCheck(long faultFrom, long faultTo) {
        Observed after = new Observed();
        watch(Duration.ofSeconds(1), null);
        watch(Duration.ofMillis(700), after); // the last stretch of load: the shipper keeps up again
        load.close();
        assertThat(load.failure).as("the writer failed, seed %d", seed).isNull();
        assertThat(after.minLag)
                .as("lag under load after recovery (%s), seed %d", after, seed)
                .isLessThan(RATE / 2);

        long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
        while (shipper.status().shippedRevision() < db.revision() && System.nanoTime() < deadline) {
            sleep(20);
        }
        ShipStatus st = shipper.status();
        assertThat(st.shippedRevision())
                .as("caught up after recovery (%s), seed %d", st, seed)
                .isEqualTo(db.revision());
        assertThat(st.generations()).as("faults start no new generation").isEqualTo(1);
        Digest live = db.digest(new byte[0]);
        recorded.put(live.revision(), live);

        // commits never waited on the destination
        Load.Window during = load.window(faultFrom, faultTo);
        Load.Window all = load.window(0, Long.MAX_VALUE);
        System.out.println("ShipFaultTest: writer during the fault " + during + "; whole run " + all);
        assertThat(during.p99Millis())
                .as("p99 commit latency during the fault, seed %d", seed)
                .isLessThan(P99_LIMIT_MS);
        assertThat(all.p99Millis()).as("p99 commit latency, seed %d", seed).isLessThan(P99_LIMIT_MS);
        assertThat(during.ratePerSecond())
                .as("the writer kept its rate during the fault, seed %d", seed)
                .isGreaterThan(RATE * 0.8);

        // restores: the latest, and many recorded revisions
        Restore.Result latest =
                Restore.run(dest, tmp.resolve("restore-latest"), RestoreOptions.latest(), Restore.Progress.NONE);
        assertThat(latest.digest()).as("latest restore, seed %d", seed).isEqualTo(live);
        List<Long> revisions = new ArrayList<>(recorded.keySet());
        assertThat(revisions).as("recorded revisions").hasSizeGreaterThanOrEqualTo(10);
        Collections.shuffle(revisions, rnd);
        Set<Long> picked = new TreeSet<>(revisions.subList(0, Math.min(12, revisions.size())));
        long t0 = System.nanoTime();
        for (long rev : picked) {
            Restore.Result r = Restore.run(
                    dest,
                    tmp.resolve("restore-" + rev),
                    RestoreOptions.latest().atRevision(rev),
                    Restore.Progress.NONE);
            assertThat(r.digest())
                    .as("restore at revision %d, seed %d", rev, seed)
                    .isEqualTo(recorded.get(rev));
        }
        Verifier.Report report = Verifier.run(dest, (a, b, c, d) -> {});
        // a log object whose upload looked failed but had landed is shipped again as part of a longer run
        int overlapping = 0;
        long reach = 0;
        for (Generation.LogRef l : Generation.list(dest).getFirst().logs()) {
            if (l.from() <= reach) overlapping++;
            reach = Math.max(reach, l.to());
        }
        System.out.println("ShipFaultTest: " + picked.size() + " restores at " + picked + " in "
                + (System.nanoTime() - t0) / 1_000_000 + " ms; verify: " + report.objects() + " objects, "
                + report.bytes() + " bytes, " + overlapping + " overlapping log objects; " + st);
        assertThat(report.problems()).as("verify, seed %d", seed).isEmpty();
        assertThat(report.generations()).isEqualTo(1);
    }

    /**
     * Lets the load run for {@code d}: takes digests at random moments, and, when {@code into} is given, watches
     * the shipper's status.
     */
    private void watch(Duration d, Observed into) {
        long end = System.nanoTime() + d.toNanos();
        while (System.nanoTime() < end) {
            if (into != null) into.add(shipper.status());
            long now = System.nanoTime();
            if (now >= nextRecordAt) {
                try (Snapshot s = db.snapshot()) {
                    recorded.put(s.revision(), s.digest(new byte[0]));
                }
                nextRecordAt = now + Duration.ofMillis(100 + rnd.nextInt(250)).toNanos();
            }
            sleep(10 + rnd.nextInt(20));
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted", e);
        }
    }

    /** What the status showed during a stretch of time. */
    static final class Observed {
        final Set<String> states = new TreeSet<>();
        final Set<String> breakers = new TreeSet<>();
        long maxLag;
        long minLag = Long.MAX_VALUE;
        double maxLagSeconds;
        int samples;

        void add(ShipStatus s) {
            states.add(s.state());
            breakers.add(s.breaker());
            maxLag = Math.max(maxLag, s.lagRevisions());
            minLag = Math.min(minLag, s.lagRevisions());
            maxLagSeconds = Math.max(maxLagSeconds, s.lagSeconds());
            samples++;
        }

        @Override
        public String toString() {
            return "states " + states + ", breaker " + breakers + ", lag " + minLag + ".." + maxLag
                    + " revisions, up to " + maxLagSeconds + " s (" + samples + " samples)";
        }
    }

    /**
     * A writer thread committing at a fixed rate (puts, deletes, batches, puts with a time-to-live, on random keys
     * with random values), timing every commit. Bounded: at most a minute of commits.
     */
    static final class Load implements AutoCloseable {
        private final Caskade db;
        private final Random rnd;
        private final long periodNanos;
        private final long[] startedAt;
        private final long[] latency;
        private volatile int count;
        private volatile boolean stop;
        private Thread thread;
        volatile Throwable failure;

        Load(Caskade db, Random rnd, int rate) {
            this.db = db;
            this.rnd = rnd;
            this.periodNanos = 1_000_000_000L / rate;
            this.startedAt = new long[rate * 60];
            this.latency = new long[rate * 60];
        }

        Load start() {
            thread = Thread.ofPlatform().name("fault-load").start(this::run);
            return this;
        }

        private void run() {
            long begin = System.nanoTime();
            try {
                for (int i = 0; i < startedAt.length && !stop; i++) {
                    long wait = begin + i * periodNanos - System.nanoTime();
                    if (wait > 0) LockSupport.parkNanos(wait);
                    long t0 = System.nanoTime();
                    commitOne(i);
                    latency[i] = System.nanoTime() - t0;
                    startedAt[i] = t0;
                    count = i + 1;
                }
            } catch (Throwable e) {
                failure = e;
            }
        }

        private void commitOne(int i) {
            String k = "k/" + rnd.nextInt(KEYS);
            switch (rnd.nextInt(20)) {
                case 0, 1 -> db.delete(k);
                case 2, 3, 4 -> {
                    Batch b = Batch.create();
                    for (int n = 2 + rnd.nextInt(4); n > 0; n--) b.put("k/" + rnd.nextInt(KEYS), value(i));
                    db.commit(b.delete("k/" + rnd.nextInt(KEYS)));
                }
                case 5 -> db.put(k, value(i), Duration.ofHours(1));
                default -> db.put(k, value(i));
            }
        }

        private String value(int i) {
            char[] pad = new char[rnd.nextInt(300)];
            for (int j = 0; j < pad.length; j++) pad[j] = (char) ('a' + rnd.nextInt(26));
            return "v" + i + "-" + new String(pad);
        }

        /** Commits that started within [from, to) (System.nanoTime), by count, rate and latency. */
        Window window(long from, long to) {
            int n = count;
            List<Long> lat = new ArrayList<>();
            long first = Long.MAX_VALUE;
            long last = Long.MIN_VALUE;
            for (int i = 0; i < n; i++) {
                if (startedAt[i] >= from && startedAt[i] < to) {
                    lat.add(latency[i]);
                    first = Math.min(first, startedAt[i]);
                    last = Math.max(last, startedAt[i]);
                }
            }
            Collections.sort(lat);
            long p99 = lat.isEmpty() ? 0 : lat.get((int) Math.min(lat.size() - 1, Math.ceil(lat.size() * 0.99) - 1));
            long max = lat.isEmpty() ? 0 : lat.getLast();
            double seconds = lat.size() < 2 ? 0 : (last - first) / 1e9;
            return new Window(lat.size(), seconds == 0 ? 0 : (lat.size() - 1) / seconds, p99 / 1e6, max / 1e6);
        }

        /** Commits in a stretch of time. */
        record Window(int commits, double ratePerSecond, double p99Millis, double maxMillis) {
            @Override
            public String toString() {
                return "%d commits, %.0f/s, p99 %.2f ms, max %.2f ms"
                        .formatted(commits, ratePerSecond, p99Millis, maxMillis);
            }
        }

        @Override
        public void close() {
            stop = true;
            if (thread == null) return;
            try {
                thread.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
