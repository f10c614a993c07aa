package dev.caskade.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.caskade.Batch;
import dev.caskade.Change;
import dev.caskade.ChangeType;
import dev.caskade.ConflictException;
import dev.caskade.Digest;
import dev.caskade.Entry;
import dev.caskade.UnavailableException;
import dev.caskade.WatchEvent;
import dev.caskade.server.HttpOptions;
import dev.caskade.server.HttpServer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A cluster whose keys are spread over several streams ({@link ClusterOptions#withShards}): on a real Redis Cluster
 * (three masters, the shards' streams on different ones) and on one Redis. Each node numbers its own revisions, so
 * nodes are compared by their positions in every shard and by digest.
 */
@Timeout(120)
class ShardedClusterTest {
    static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir
    Path tmp;

    final List<AutoCloseable> open = new ArrayList<>();

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable c : open.reversed()) c.close();
    }

    <T extends AutoCloseable> T keep(T c) {
        open.add(c);
        return c;
    }

    ClusterNode node(String url, String id, int shards) {
        return keep(ClusterNode.open(
                tmp.resolve(id), ClusterOptions.parse(url).withNodeId(id).withShards(shards)));
    }

    static long[] max(List<ClusterNode> nodes) {
        long[] m = nodes.getFirst().positions();
        for (ClusterNode n : nodes) {
            long[] p = n.positions();
            for (int i = 0; i < m.length; i++) m[i] = Math.max(m[i], p[i]);
        }
        return m;
    }

    static void converge(List<ClusterNode> nodes) throws InterruptedException {
        long[] target = max(nodes);
        for (ClusterNode n : nodes)
            assertThat(n.awaitPositions(target, WAIT))
                    .as("node %s reaches %s: %s", n.nodeId(), java.util.Arrays.toString(target), n.status())
                    .isTrue();
    }

    static Digest digest(ClusterNode n) {
        return n.store().digest(new byte[0]);
    }

    static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void nodesOnARedisClusterWithConcurrentWritersEndInTheSameState() throws Exception {
        long seed =
                Long.getLong("caskade.cluster.seed", ThreadLocalRandom.current().nextLong());
        System.out.println("ShardedClusterTest: seed=" + seed + " (replay with -Dcaskade.cluster.seed=" + seed + ")");
        RedisCluster redis = keep(RedisCluster.start(tmp.resolve("redis"), 3));
        int shards = 6;
        Set<Integer> owners = new HashSet<>();
        for (int s = 0; s < shards; s++) owners.add(redis.ownerOf("caskade:{shop:" + s + "}:log"));
        assertThat(owners).as("the shards' streams live on several masters").hasSizeGreaterThan(1);

        List<ClusterNode> three = List.of(
                node(redis.url("shop"), "a", shards),
                node(redis.url("shop"), "b", shards),
                node(redis.url("shop"), "c", shards));
        SplittableRandom root = new SplittableRandom(seed);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        AtomicInteger commits = new AtomicInteger();
        AtomicInteger conflicts = new AtomicInteger();
        List<Thread> writers = new ArrayList<>();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(8);
        for (ClusterNode n : three) {
            for (int w = 0; w < 2; w++) {
                SplittableRandom rnd = root.split();
                writers.add(Thread.ofPlatform().start(() -> {
                    try {
                        for (int i = 0; i < 2_000 && System.nanoTime() < deadline; i++) {
                            String k = "k" + rnd.nextInt(300);
                            switch (rnd.nextInt(6)) {
                                case 0 -> n.store().delete(k);
                                case 1 -> {
                                    // one hash tag: one shard, so one atomic commit
                                    String g = "{g" + rnd.nextInt(20) + "}";
                                    n.store()
                                            .commit(Batch.create()
                                                    .put(g + ":a", "a" + i)
                                                    .put(g + ":b", "b" + i)
                                                    .delete(g + ":c"));
                                }
                                case 2 -> {
                                    long seen = n.store()
                                            .get(k)
                                            .map(Entry::revision)
                                            .orElse(0L);
                                    if (!n.store().compareAndSet(k, seen, n.nodeId() + i)) conflicts.incrementAndGet();
                                }
                                default -> n.store().put(k, n.nodeId() + "-" + i);
                            }
                            commits.incrementAndGet();
                        }
                    } catch (Throwable t) {
                        failure.compareAndSet(null, t);
                    }
                }));
            }
        }
        for (Thread t : writers) t.join(60_000);
        assertThat(failure.get()).as("writers").isNull();
        assertThat(commits.get()).isGreaterThan(300);
        converge(three);
        for (ClusterNode n : three) {
            assertThat(digest(n)).as("node %s", n.nodeId()).isEqualTo(digest(three.getFirst()));
            assertThat(n.status().shards()).isEqualTo(shards);
            assertThat(n.status().state()).isEqualTo("live");
        }
        // a batch under one hash tag is atomic: its keys always come from the same commit
        for (int g = 0; g < 20; g++) {
            var a = three.get(1).store().get("{g" + g + "}:a");
            var bb = three.get(1).store().get("{g" + g + "}:b");
            assertThat(a.isPresent()).isEqualTo(bb.isPresent());
            a.ifPresent(x -> assertThat(x.valueString().substring(1))
                    .isEqualTo(bb.orElseThrow().valueString().substring(1)));
        }
        System.out.println(
                "ShardedClusterTest: " + commits.get() + " commits, " + conflicts.get() + " CAS conflicts, positions "
                        + java.util.Arrays.toString(three.getFirst().positions()));
    }

    @Test
    void aTransactionAcrossShardsIsRefusedAndOneUnderAHashTagCommits() throws Exception {
        RedisProcess redis = keep(RedisProcess.start(tmp.resolve("redis")));
        ClusterNode a = node(redis.url("t"), "a", 8);
        ClusterNode b = node(redis.url("t"), "b", 8);
        String k1 = "alpha";
        String k2 = null;
        for (int i = 0; k2 == null; i++) if (a.shardOf(b("beta" + i)) != a.shardOf(b(k1))) k2 = "beta" + i;
        long before = a.revision();
        String other = k2;
        assertThatThrownBy(() -> a.store().commit(Batch.create().put(k1, "1").put(other, "2")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("different shards")
                .hasMessageContaining("nothing was written");
        assertThatThrownBy(
                        () -> a.store().commit(Batch.create().expect(other, 0).put(k1, "1")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("different shards");
        assertThat(a.revision()).isEqualTo(before);
        assertThat(a.store().get(k1)).isEmpty();

        assertThat(a.shardOf(b("{user42}:cart"))).isEqualTo(a.shardOf(b("{user42}:profile")));
        long r = a.store()
                .commit(Batch.create()
                        .expect("{user42}:cart", 0)
                        .put("{user42}:cart", "3 items")
                        .put("{user42}:profile", "Ada"));
        assertThat(r).isEqualTo(a.revision());
        assertThat(a.store().get("{user42}:cart").orElseThrow().revision()).isEqualTo(r);
        converge(List.of(a, b));
        assertThat(b.store().get("{user42}:profile").orElseThrow().valueString())
                .isEqualTo("Ada");
        // a precondition is a version of this node: b's revision of the key is b's own
        long onB = b.store().get("{user42}:cart").orElseThrow().revision();
        assertThat(b.store().compareAndSet("{user42}:cart", onB, "4 items")).isTrue();
        converge(List.of(a, b));
        assertThat(a.store().compareAndSet("{user42}:cart", r, "stale")).isFalse();
        assertThatThrownBy(() -> a.store()
                        .commit(Batch.create().expect("{user42}:cart", r).put("{user42}:x", "y")))
                .isInstanceOf(ConflictException.class);
        assertThat(digest(a)).isEqualTo(digest(b));
    }

    @Test
    void compareAndSetFromEveryNodeHasExactlyOneWinnerPerRound() throws Exception {
        RedisProcess redis = keep(RedisProcess.start(tmp.resolve("redis")));
        List<ClusterNode> three =
                List.of(node(redis.url("cas"), "a", 4), node(redis.url("cas"), "b", 4), node(redis.url("cas"), "c", 4));
        CyclicBarrier barrier = new CyclicBarrier(3);
        for (int round = 0; round < 30; round++) {
            converge(three);
            AtomicInteger wins = new AtomicInteger();
            AtomicReference<String> winner = new AtomicReference<>();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            List<Thread> ts = new ArrayList<>();
            int r = round;
            for (ClusterNode n : three) {
                ts.add(Thread.ofPlatform().start(() -> {
                    try {
                        long mine = n.store().get("lock").map(Entry::revision).orElse(0L);
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

    @Test
    void aRestartResumesEveryShardExactlyEvenFromAnOldCheckpoint() throws Exception {
        RedisProcess redis = keep(RedisProcess.start(tmp.resolve("redis")));
        String url = redis.url("r");
        ClusterNode a = node(url, "a", 5);
        Path bDir = tmp.resolve("b");
        ClusterOptions bOptions = ClusterOptions.parse(url).withNodeId("b").withShards(5);
        for (int i = 0; i < 60; i++) a.store().put("k" + i, "v" + i);
        try (ClusterNode b = ClusterNode.open(bDir, bOptions)) {
            converge(List.of(a, b));
        }
        Path old = tmp.resolve("positions.old");
        Files.copy(bDir.resolve(Checkpoint.FILE), old);
        try (ClusterNode b = ClusterNode.open(bDir, bOptions)) {
            for (int i = 0; i < 150; i++) a.store().put("k" + (i % 90), "w" + i);
            a.store().delete("k3");
            converge(List.of(a, b));
        }
        // as if b had died before its last checkpoint: the positions are rebuilt from b's own history
        Files.copy(old, bDir.resolve(Checkpoint.FILE), StandardCopyOption.REPLACE_EXISTING);
        List<WatchEvent.Commit> applied = new CopyOnWriteArrayList<>();
        ClusterNode.Listener count = new ClusterNode.Listener() {
            @Override
            public void commit(WatchEvent.Commit c) {
                applied.add(c);
            }
        };
        try (ClusterNode b = ClusterNode.open(bDir, bOptions, count)) {
            assertThat(b.positions()).as("positions rebuilt at open").containsExactly(a.positions());
            for (int i = 0; i < 25; i++) a.store().put("after" + i, "x");
            converge(List.of(a, b));
            await().atMost(WAIT).untilAsserted(() -> assertThat(applied).hasSize(25));
            Thread.sleep(300);
            assertThat(applied).as("no gap, no commit applied twice").hasSize(25);
            for (WatchEvent.Commit c : applied)
                assertThat(c.changes().getFirst().type()).isEqualTo(ChangeType.PUT);
            assertThat(digest(b)).isEqualTo(digest(a));
        }
    }

    @Test
    void aNodeAwayPastRetentionLoadsAPeersSnapshotWithItsPositionsWhileThePeerWrites() throws Exception {
        RedisProcess redis = keep(RedisProcess.start(tmp.resolve("redis")));
        ClusterOptions options =
                ClusterOptions.parse(redis.url("away")).withRetention(500).withShards(4);
        ClusterNode a = keep(ClusterNode.open(tmp.resolve("a"), options.withNodeId("a")));
        HttpServer http =
                keep(HttpServer.start(a.store(), HttpOptions.defaults().withAddress("127.0.0.1", 0)));
        a.advertise("http://127.0.0.1:" + http.port());
        Path bDir = tmp.resolve("b");
        for (int i = 0; i < 50; i++) a.store().put("k" + i, "first");
        try (ClusterNode b = ClusterNode.open(bDir, options.withNodeId("b"))) {
            converge(List.of(a, b));
        }
        for (int i = 0; i < 5000; i++) a.store().put("k" + i % 500, "v" + i);
        a.store().delete("k1");
        // a keeps writing while b loads its snapshot: the positions must account for what a did in between
        AtomicBoolean stop = new AtomicBoolean();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread writer = Thread.ofPlatform().start(() -> {
            try {
                for (int i = 0; i < 20_000 && !stop.get(); i++) {
                    a.store().put("w" + i % 200, "x" + i);
                    Thread.sleep(1);
                }
            } catch (Throwable t) {
                failure.set(t);
            }
        });
        List<Long> resets = new CopyOnWriteArrayList<>();
        List<WatchEvent.Commit> applied = new CopyOnWriteArrayList<>();
        AtomicReference<ClusterNode> node = new AtomicReference<>();
        AtomicReference<long[]> loadedAt = new AtomicReference<>();
        ClusterNode.Listener listener = new ClusterNode.Listener() {
            @Override
            public void commit(WatchEvent.Commit c) {
                applied.add(c);
            }

            @Override
            public void reset(long revision) {
                resets.add(revision);
                applied.clear();
                loadedAt.set(node.get() == null ? null : node.get().positions());
            }
        };
        try (ClusterNode b = ClusterNode.open(bDir, options.withNodeId("b"), listener)) {
            node.set(b);
            await().atMost(WAIT).untilAsserted(() -> assertThat(resets).isNotEmpty());
            Thread.sleep(500);
            stop.set(true);
            writer.join(10_000);
            assertThat(failure.get()).isNull();
            converge(List.of(a, b));
            assertThat(b.positions()).containsExactly(a.positions());
            // once, unless the stream outran a load (the writer never stops): then again, just as correctly
            assertThat(b.status().bootstraps()).isEqualTo(resets.size()).isPositive();
            assertThat(b.status().state()).isEqualTo("live");
            assertThat(digest(b)).isEqualTo(digest(a));
            assertThat(b.store().get("k1")).isEmpty();
            // after the snapshot: every stream entry after the snapshot's positions once, in the node's own numbering
            long[] at = loadedAt.get();
            assertThat(at).as("positions at the (last) load").isNotNull();
            long expected = 0;
            for (int i = 0; i < at.length; i++) expected += a.positions()[i] - at[i];
            assertThat(applied).as("entries applied after the load").hasSize((int) expected);
            long from = resets.getLast();
            List<Long> after = applied.stream()
                    .map(WatchEvent.Commit::revision)
                    .filter(r -> r > from)
                    .toList();
            for (int i = 0; i < after.size(); i++) assertThat(after.get(i)).isEqualTo(from + 1 + i);
            assertThat(b.store().put("from-b", "1")).isPositive();
            converge(List.of(a, b));
            assertThat(a.store().get("from-b")).isPresent();
        }
        // and its positions survive a restart
        a.store().put("later", "z");
        try (ClusterNode b = ClusterNode.open(bDir, options.withNodeId("b"))) {
            converge(List.of(a, b));
            assertThat(digest(b)).isEqualTo(digest(a));
            assertThat(b.status().bootstraps()).isZero();
        }
    }

    @Test
    void aNodeWithAnotherNumberOfShardsNeitherReadsNorWrites() throws Exception {
        RedisProcess redis = keep(RedisProcess.start(tmp.resolve("redis")));
        ClusterNode a = node(redis.url("m"), "a", 6);
        a.store().put("x", "1");
        ClusterNode odd = node(redis.url("m"), "odd", 4);
        await().atMost(WAIT)
                .untilAsserted(() -> assertThat(odd.status().lastError()).contains("has 6 shards", "started with 4"));
        assertThatThrownBy(() -> odd.store().put("y", "2"))
                .isInstanceOf(UnavailableException.class)
                .hasMessageContaining("has 6 shards");
        assertThat(odd.store().get("x")).isEmpty();
        ClusterNode one = node(redis.url("m"), "one", 1);
        await().atMost(WAIT)
                .untilAsserted(() -> assertThat(one.status().lastError()).contains("has 6 shards"));
        // and a directory made with one number of shards is not reused with another
        a.close();
        open.remove(a);
        assertThatThrownBy(() -> ClusterNode.open(
                        tmp.resolve("a"), ClusterOptions.parse(redis.url("m")).withNodeId("a")))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("6 shards");
    }

    @Test
    void anExpiryIsWrittenOnceInItsShard() throws Exception {
        RedisProcess redis = keep(RedisProcess.start(tmp.resolve("redis")));
        List<ClusterNode> nodes = List.of(node(redis.url("e"), "a", 3), node(redis.url("e"), "b", 3));
        List<List<Long>> expired = List.of(new CopyOnWriteArrayList<>(), new CopyOnWriteArrayList<>());
        for (int i = 0; i < 2; i++) {
            List<Long> seen = expired.get(i);
            nodes.get(i).onChange(new ClusterNode.Listener() {
                @Override
                public void commit(WatchEvent.Commit c) {
                    for (Change ch : c.changes()) if (ch.type() == ChangeType.EXPIRE) seen.add(c.revision());
                }
            });
        }
        nodes.get(0).store().put("session", "x", Duration.ofMillis(300));
        nodes.get(1).store().put("kept", "y", Duration.ofHours(1));
        await().atMost(WAIT).untilAsserted(() -> {
            for (List<Long> e : expired) assertThat(e).hasSize(1);
        });
        Thread.sleep(2_500);
        for (List<Long> e : expired)
            assertThat(e).as("one EXPIRE, however many reapers asked").hasSize(1);
        converge(nodes);
        assertThat(digest(nodes.get(0))).isEqualTo(digest(nodes.get(1)));
        assertThat(nodes.get(1).store().get("kept")).isPresent();
    }
}
