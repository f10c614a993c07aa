package dev.caskade.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.caskade.Batch;
import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.Digest;
import dev.caskade.Durability;
import dev.caskade.client.CaskadeClient;
import dev.caskade.client.ClientException;
import dev.caskade.client.ClientOptions;
import dev.caskade.client.LocalReplica;
import dev.caskade.client.ReplicaOptions;
import dev.caskade.s3.FaultProxy;
import dev.caskade.server.HttpOptions;
import dev.caskade.server.HttpServer;
import dev.caskade.server.Server;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Chaos: three writers on the primary (plus one writing through the followers), two followers and two client
 * replicas, all reaching the primary through a fault proxy that cuts, resets, stalls, delays and fails connections
 * at random, while the primary's merge keeps compacting its history so that copies also fall behind it and
 * re-snapshot. Once the faults stop, every copy's digest equals the primary's. Reproduce a run with the printed
 * {@code -Dcaskade.chaos.seed}; {@code -Dcaskade.chaos.seconds} and {@code -Dcaskade.chaos.ops} bound its length (the crash profile raises
 * both).
 */
@Timeout(value = 15, unit = TimeUnit.MINUTES) // 20 s of chaos by default; -Pcrash runs 300 s
class ChaosTest {
    private static final long SEED = Long.getLong("caskade.chaos.seed", System.nanoTime());
    private static final int OPS = Integer.getInteger("caskade.chaos.ops", 3_000);
    private static final Duration RUN_LIMIT = Duration.ofSeconds(Long.getLong("caskade.chaos.seconds", 20));

    @TempDir
    Path dir;

    private final List<AutoCloseable> open = new ArrayList<>();

    @AfterEach
    void close() throws Exception {
        for (int i = open.size() - 1; i >= 0; i--) open.get(i).close();
    }

    private <T extends AutoCloseable> T keep(T c) {
        open.add(c);
        return c;
    }

    @Test
    void everyCopyConvergesToThePrimaryThroughCutsStallsDelaysAndResets() throws Exception {
        System.out.println("ChaosTest seed: -Dcaskade.chaos.seed=" + SEED);
        SplittableRandom seeds = new SplittableRandom(SEED);
        // history that merge really compacts: small segments, little retention, a merge check every 200 ms
        Caskade db = keep(Caskade.open(
                dir.resolve("primary"),
                CaskadeOptions.defaults()
                        .withDurability(Durability.NONE)
                        .withSegmentBytes(64 << 10)
                        .withHistory(Duration.ZERO, 256 << 10)
                        .withMerge(0.3, 64 << 10, 0, Duration.ofMillis(200))));
        HttpServer primary = keep(HttpServer.start(db, HttpOptions.defaults().withAddress("127.0.0.1", 0)));
        FaultProxy proxy = keep(FaultProxy.start(primary.port()));
        String viaProxy = "http://127.0.0.1:" + proxy.port();

        ReplicaOptions fast = ReplicaOptions.defaults()
                .withBackoff(Duration.ofMillis(20), Duration.ofMillis(400))
                .withBreaker(10, 50f, 5, Duration.ofMillis(300), 1)
                .withIdleTimeout(Duration.ofMillis(1_500))
                .withRevisionRefresh(Duration.ofMillis(200))
                .withWriteTimeout(Duration.ofSeconds(3));
        ClientOptions client = ClientOptions.defaults()
                .withConnectTimeout(Duration.ofSeconds(1))
                .withRequestTimeout(Duration.ofSeconds(2));
        for (int i = 0; i < 200; i++) db.put(key(seeds, i), "seed" + i);

        ServedCopy full = follower(viaProxy, client, fast, "follower-full", "");
        ServedCopy prefixed = follower(viaProxy, client, fast, "follower-a", "a/");
        LocalReplica replica = keep(LocalReplica.open(
                keep(CaskadeClient.connect(URI.create(viaProxy), client)), "", dir.resolve("replica-full"), fast));
        LocalReplica replicaB = keep(LocalReplica.open(
                keep(CaskadeClient.connect(URI.create(viaProxy), client)), "b/", dir.resolve("replica-b"), fast));

        AtomicBoolean done = new AtomicBoolean();
        AtomicLong forwarded = new AtomicLong();
        AtomicLong refused = new AtomicLong();
        List<Thread> writers = new ArrayList<>();
        long stopAt = System.nanoTime() + RUN_LIMIT.toNanos();
        for (int w = 0; w < 3; w++) {
            SplittableRandom r = seeds.split();
            writers.add(Thread.ofPlatform().name("chaos-writer-" + w).start(() -> {
                for (int i = 0; i < OPS && System.nanoTime() < stopAt; i++) {
                    write(db, r, i);
                    sleepMs(r.nextInt(4)); // about 1,000 commits/s in all: long enough for many faults
                }
            }));
        }
        CaskadeClient viaFollowerA = keep(CaskadeClient.connect(URI.create(url(prefixed)), client));
        CaskadeClient viaFollowerFull = keep(CaskadeClient.connect(URI.create(url(full)), client));
        SplittableRandom fr = seeds.split();
        Thread throughFollowers = Thread.ofPlatform().name("chaos-forwarder").start(() -> {
            for (int i = 0; i < OPS / 5 && System.nanoTime() < stopAt; i++) {
                CaskadeClient c = fr.nextBoolean() ? viaFollowerA : viaFollowerFull;
                try {
                    c.put("a/f" + fr.nextInt(50), "forwarded" + i);
                    forwarded.incrementAndGet();
                } catch (ClientException e) {
                    // the primary is behind a fault: 503, and the caller may retry
                    if (refused.incrementAndGet() <= 3) System.out.println("ChaosTest: refused: " + e.getMessage());
                }
                sleepMs(10);
            }
        });

        SplittableRandom chaos = seeds.split();
        List<String> faults = new ArrayList<>();
        Thread monkey = Thread.ofPlatform().name("chaos-monkey").start(() -> {
            while (!done.get()) {
                FaultProxy.Mode m = switch (chaos.nextInt(10)) {
                    case 0, 1 -> FaultProxy.cut();
                    case 2 -> FaultProxy.reset();
                    case 3, 4 -> FaultProxy.stall(Duration.ofMillis(200 + chaos.nextInt(2_000)));
                    case 5 -> FaultProxy.delay(Duration.ofMillis(5 + chaos.nextInt(200)));
                    case 6 -> FaultProxy.fail5xx(503, 1 + chaos.nextInt(5));
                    default -> FaultProxy.pass();
                };
                proxy.mode(m); // also drops every open connection: each switch is a cut for the streams
                synchronized (faults) {
                    faults.add(m.getClass().getSimpleName());
                }
                sleepMs(50 + chaos.nextInt(600));
            }
        });
        for (Thread t : writers) t.join();
        throughFollowers.join();
        done.set(true);
        monkey.join();
        proxy.mode(FaultProxy.pass());
        System.out.printf(
                "ChaosTest: primary at revision %d, %d faults, %d writes forwarded, %d refused while faulty%n",
                db.revision(), faults.size(), forwarded.get(), refused.get());

        long target = db.revision();
        await().atMost(Duration.ofSeconds(90))
                .pollInterval(Duration.ofMillis(200))
                .untilAsserted(() -> {
                    assertThat(replica.revision()).as("full replica").isEqualTo(target);
                    assertThat(full.replica().revision()).as("full follower").isEqualTo(target);
                    assertThat(replica.digest()).isEqualTo(db.digest(new byte[0]));
                    assertThat(full.replica().digest()).isEqualTo(db.digest(new byte[0]));
                    // a prefix copy's revision is that of its prefix's last commit: compare what it holds
                    assertThat(content(prefixed.replica()::digest)).isEqualTo(content(() -> db.digest(utf8("a/"))));
                    assertThat(content(replicaB::digest)).isEqualTo(content(() -> db.digest(utf8("b/"))));
                });
        // the followers answer for their own copies over HTTP too
        assertThat(viaFollowerFull.digest("").sha256())
                .isEqualTo(db.digest(new byte[0]).sha256());
        assertThat(viaFollowerA.digest("a/").sha256())
                .isEqualTo(db.digest(utf8("a/")).sha256());
        System.out.printf(
                "ChaosTest: converged; snapshots loaded: replica %d, replica b/ %d, follower %d, follower a/ %d;"
                        + " reconnects %d/%d/%d/%d; faults %s%n",
                replica.status().snapshots(),
                replicaB.status().snapshots(),
                full.replica().status().snapshots(),
                prefixed.replica().status().snapshots(),
                replica.status().reconnects(),
                replicaB.status().reconnects(),
                full.replica().status().reconnects(),
                prefixed.replica().status().reconnects(),
                faults.stream().distinct().sorted().toList());
        assertThat(faults).contains("Cut", "Stall");
        assertThat(replica.status().reconnects() + full.replica().status().reconnects())
                .isPositive();
    }

    /** Puts, deletes, batches and puts with a TTL, over keys under a/, b/ and c/. */
    private static void write(Caskade db, SplittableRandom r, int i) {
        switch (r.nextInt(10)) {
            case 0, 1 -> db.delete(key(r, i));
            case 2 -> {
                Batch b = Batch.create();
                for (int k = 0; k < 1 + r.nextInt(5); k++) b.put(key(r, i), "batch" + i + "-" + k);
                b.delete(key(r, i));
                db.commit(b);
            }
            case 3 -> db.put(key(r, i), "ttl" + i, Duration.ofHours(1));
            default -> db.put(key(r, i), "v" + i + "-" + "x".repeat(r.nextInt(200)));
        }
    }

    private static String key(SplittableRandom r, int i) {
        return switch (r.nextInt(3)) {
                    case 0 -> "a/";
                    case 1 -> "b/";
                    default -> "c/";
                }
                + r.nextInt(300);
    }

    private ServedCopy follower(String url, ClientOptions client, ReplicaOptions options, String name, String prefix) {
        return keep(ServedCopy.follow(
                new Server.Options(dir.resolve(name), "127.0.0.1", 0, 0, Durability.NONE, false),
                keep(CaskadeClient.connect(URI.create(url), client)),
                prefix,
                options,
                new PrintWriter(new StringWriter())));
    }

    private static String url(ServedCopy f) {
        return "http://127.0.0.1:" + f.httpPort();
    }

    private static String content(Supplier<Digest> d) {
        Digest x = d.get();
        return x.keys() + " keys " + x.sha256();
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static void sleepMs(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
