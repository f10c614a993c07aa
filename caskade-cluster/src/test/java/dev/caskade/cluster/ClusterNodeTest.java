package dev.caskade.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.caskade.Batch;
import dev.caskade.Caskade;
import dev.caskade.Change;
import dev.caskade.ChangeType;
import dev.caskade.ConflictException;
import dev.caskade.Digest;
import dev.caskade.Watch;
import dev.caskade.WatchEvent;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import redis.clients.jedis.Jedis;

/** Three in-process nodes of one cluster on a real Redis: convergence, compare-and-set, write semantics. */
@Timeout(60)
class ClusterNodeTest {
    static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir
    Path tmp;

    RedisProcess redis;
    final List<ClusterNode> nodes = new ArrayList<>();

    @BeforeEach
    void start() {
        redis = RedisProcess.start(tmp.resolve("redis"));
    }

    @AfterEach
    void stop() {
        for (ClusterNode n : nodes) n.close();
        if (redis != null) redis.close();
    }

    ClusterNode node(String id) {
        ClusterNode n = ClusterNode.open(
                tmp.resolve(id), ClusterOptions.parse(redis.url("test")).withNodeId(id));
        nodes.add(n);
        return n;
    }

    static void converge(List<ClusterNode> nodes) throws InterruptedException {
        long head = 0;
        for (ClusterNode n : nodes) head = Math.max(head, n.revision());
        for (ClusterNode n : nodes)
            assertThat(n.awaitRevision(head, WAIT))
                    .as("node %s reaches revision %d: %s", n.nodeId(), head, n.status())
                    .isTrue();
    }

    static Digest digest(ClusterNode n) {
        return n.store().digest(new byte[0]);
    }

    @Test
    void writesOnOneNodeAreReadableThereAtOnceAndEverywhereSoon() throws Exception {
        ClusterNode a = node("a");
        ClusterNode b = node("b");
        long r1 = a.store().put("k", "v1");
        assertThat(a.store().get("k").orElseThrow().valueString()).isEqualTo("v1");
        assertThat(a.store().get("k").orElseThrow().revision()).isEqualTo(r1);
        assertThat(b.awaitRevision(r1, WAIT)).isTrue();
        assertThat(b.store().get("k").orElseThrow().valueString()).isEqualTo("v1");

        // a delete of an absent key writes nothing, as on a single store
        long before = b.revision();
        assertThat(b.store().delete("absent")).isZero();
        assertThat(a.store().put("x", "1")).isEqualTo(before + 1);

        // a transaction's precondition is decided in Redis, whatever the node has seen
        long rx = b.store().put("x", "2");
        Batch stale = Batch.create().expect("x", rx - 1).put("y", "nope");
        assertThat(a.awaitRevision(rx, WAIT)).isTrue();
        assertThatThrownBy(() -> a.store().commit(stale)).isInstanceOf(ConflictException.class);
        assertThat(a.store()
                        .commit(Batch.create().expect("x", rx).expect("y", 0).put("y", "yes")))
                .isEqualTo(rx + 1);
        assertThat(a.store().compareAndSet("y", 0, "again")).isFalse();

        // a key whose time to live is over is absent for preconditions too
        long rt = a.store().put("ttl", "short", Duration.ofMillis(100));
        assertThat(b.store().compareAndSet("ttl", 0, "late")).isFalse(); // still live
        Thread.sleep(150);
        assertThat(b.store().get("ttl")).isEmpty();
        assertThat(b.store().compareAndSet("ttl", 0, "late")).isTrue();
        assertThat(rt).isPositive();

        converge(List.of(a, b));
        assertThat(digest(a)).isEqualTo(digest(b));
        ClusterNode.Status s = a.status();
        assertThat(s.state()).isEqualTo("live");
        assertThat(s.cluster()).isEqualTo("test");
        assertThat(s.nodeId()).isEqualTo("a");
        assertThat(s.breaker()).isEqualTo("CLOSED");
    }

    @Test
    void anExpiryIsDecidedOnceForTheWholeCluster() throws Exception {
        List<ClusterNode> three = List.of(node("a"), node("b"), node("c"));
        Map<String, List<Long>> expiredAt = new ConcurrentHashMap<>();
        for (ClusterNode n : three) {
            List<Long> seen = new CopyOnWriteArrayList<>();
            expiredAt.put(n.nodeId(), seen);
            n.onChange(new ClusterNode.Listener() {
                @Override
                public void commit(WatchEvent.Commit c) {
                    for (Change ch : c.changes()) if (ch.type() == ChangeType.EXPIRE) seen.add(c.revision());
                }
            });
        }
        List<WatchEvent> watched = new CopyOnWriteArrayList<>();
        Watch w = three.get(2).store().watch("session", 0, watched::add);
        try {
            long put = three.get(0).store().put("session", "x", Duration.ofMillis(300));
            await().atMost(WAIT).untilAsserted(() -> {
                for (ClusterNode n : three)
                    assertThat(expiredAt.get(n.nodeId()))
                            .as("node %s", n.nodeId())
                            .hasSize(1);
            });
            // every node's reaper found the key expired and asked: later passes must not add a second EXPIRE
            Thread.sleep(2_500);
            long rev = expiredAt.get("a").getFirst();
            assertThat(rev).isGreaterThan(put);
            for (ClusterNode n : three)
                assertThat(expiredAt.get(n.nodeId()))
                        .as("node %s applied the one EXPIRE", n.nodeId())
                        .containsExactly(rev);
            assertThat(watched)
                    .as("a watch on node c sees the put and then the expiry")
                    .filteredOn(e -> e instanceof WatchEvent.Commit)
                    .extracting(
                            e -> ((WatchEvent.Commit) e).changes().getFirst().type())
                    .containsExactly(ChangeType.PUT, ChangeType.EXPIRE);
        } finally {
            w.close();
        }
        converge(three);
        for (ClusterNode n : three) assertThat(digest(n)).isEqualTo(digest(three.get(0)));
        // Redis keeps no precondition state for a key that is gone
        try (Jedis j = new Jedis("127.0.0.1", redis.port)) {
            assertThat(j.hexists("caskade:{test}:rev", "session")).isFalse();
        }
        // a key rewritten before its expiry is not expired by a stale request
        long r1 = three.get(1).store().put("k", "short", Duration.ofMillis(200));
        long r2 = three.get(1).store().put("k", "long");
        Thread.sleep(1_500);
        assertThat(three.get(0).awaitRevision(r2, WAIT)).isTrue();
        assertThat(three.get(0).store().get("k").orElseThrow().revision()).isEqualTo(r2);
        assertThat(r2).isGreaterThan(r1);
    }

    @Test
    void threeNodesWithConcurrentWritersEndInTheSameState() throws Exception {
        long seed =
                Long.getLong("caskade.cluster.seed", ThreadLocalRandom.current().nextLong());
        System.out.println("ClusterNodeTest: seed=" + seed + " (replay with -Dcaskade.cluster.seed=" + seed + ")");
        List<ClusterNode> three = List.of(node("a"), node("b"), node("c"));
        SplittableRandom root = new SplittableRandom(seed);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        AtomicInteger commits = new AtomicInteger();
        List<Thread> writers = new ArrayList<>();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        for (ClusterNode n : three) {
            SplittableRandom rnd = root.split();
            writers.add(Thread.ofPlatform().start(() -> {
                try {
                    for (int i = 0; i < 400 && System.nanoTime() < deadline; i++) {
                        if (write(n.store(), rnd) > 0) commits.incrementAndGet();
                    }
                } catch (Throwable t) {
                    failure.compareAndSet(null, t);
                }
            }));
        }
        for (Thread t : writers) t.join(30_000);
        assertThat(failure.get()).as("writers, seed %d", seed).isNull();
        Thread.sleep(300); // the short TTLs are over everywhere
        converge(three);
        Digest d0 = digest(three.get(0));
        for (ClusterNode n : three) {
            assertThat(n.revision()).as("seed %d", seed).isEqualTo(three.get(0).revision());
            assertThat(digest(n)).as("node %s, seed %d", n.nodeId(), seed).isEqualTo(d0);
        }
        assertThat(d0.keys()).isPositive();
        System.out.println("ClusterNodeTest: " + commits.get() + " commits, revision "
                + three.get(0).revision() + ", " + d0.keys() + " keys");
    }

    /** One random write: put, delete, batch or put with a time to live; returns its revision. */
    static long write(Caskade db, SplittableRandom rnd) {
        String k = "k" + rnd.nextInt(200);
        int op = rnd.nextInt(100);
        if (op < 50) return db.put(k, "v" + rnd.nextLong());
        if (op < 65) return db.delete(k);
        if (op < 85) {
            Batch b = Batch.create();
            for (int i = 1 + rnd.nextInt(4); i > 0; i--) {
                String o = "k" + rnd.nextInt(200);
                if (rnd.nextInt(4) == 0) b.delete(o);
                else b.put(o, "b" + rnd.nextLong());
            }
            return db.commit(b);
        }
        // short TTLs are over by the end; long ones outlive the test: digests never race an expiry
        Duration ttl = rnd.nextBoolean() ? Duration.ofMillis(1 + rnd.nextInt(100)) : Duration.ofHours(1);
        return db.put(k, "t" + rnd.nextLong(), ttl);
    }

    @Test
    void compareAndSetFromEveryNodeHasExactlyOneWinnerPerRound() throws Exception {
        List<ClusterNode> three = List.of(node("a"), node("b"), node("c"));
        CyclicBarrier barrier = new CyclicBarrier(3);
        for (int round = 0; round < 40; round++) {
            converge(three);
            long expected =
                    three.get(0).store().get("lock").map(e -> e.revision()).orElse(0L);
            AtomicInteger wins = new AtomicInteger();
            AtomicReference<String> winner = new AtomicReference<>();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            List<Thread> ts = new ArrayList<>();
            int r = round;
            for (ClusterNode n : three) {
                ts.add(Thread.ofPlatform().start(() -> {
                    try {
                        long mine = n.store().get("lock").map(e -> e.revision()).orElse(0L);
                        assertThat(mine).isEqualTo(expected);
                        barrier.await(10, TimeUnit.SECONDS);
                        String v = n.nodeId() + "-" + r;
                        if (n.store().compareAndSet("lock", mine, v)) {
                            wins.incrementAndGet();
                            winner.set(v);
                        }
                    } catch (Throwable t) {
                        failure.compareAndSet(null, t);
                    }
                }));
            }
            for (Thread t : ts) t.join(20_000);
            assertThat(failure.get()).as("round %d", round).isNull();
            assertThat(wins.get()).as("winners in round %d", round).isEqualTo(1);
            converge(three);
            for (ClusterNode n : three)
                assertThat(n.store().get("lock").orElseThrow().valueString())
                        .as("round %d on %s", round, n.nodeId())
                        .isEqualTo(winner.get());
        }
    }
}
