package dev.caskade.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.caskade.Durability;
import dev.caskade.Entry;
import dev.caskade.client.CaskadeClient;
import dev.caskade.client.ClientException;
import dev.caskade.client.ClientOptions;
import dev.caskade.client.RemoteEvent;
import dev.caskade.client.RemoteWatch;
import dev.caskade.client.ReplicaOptions;
import dev.caskade.cluster.ClusterOptions;
import dev.caskade.cluster.RedisProcess;
import dev.caskade.server.ClusterStatus;
import dev.caskade.server.Server;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import redis.clients.jedis.Jedis;

/**
 * {@code serve --cluster} ({@link ServedCopy#cluster}): three servers, each with its own store, kept in one order by
 * a real Redis stream. Writes over HTTP and RESP to any node are readable there when the call returns and reach
 * every other node, watches on one node see writes made on another, compare-and-set has one winner across nodes,
 * and a follower can follow a node.
 */
@Timeout(120)
class ClusterServeTest {
    private static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir
    Path dir;

    private RedisProcess redis;
    private final List<AutoCloseable> open = new ArrayList<>();
    private final List<ServedCopy> nodes = new ArrayList<>();

    @BeforeEach
    void start() {
        redis = RedisProcess.start(dir.resolve("redis"));
        for (int i = 0; i < 3; i++) {
            ServedCopy n = ServedCopy.cluster(
                    new Server.Options(dir.resolve("node" + i), "127.0.0.1", 0, 0, Durability.NONE, false),
                    ClusterOptions.parse(redis.url("shop")).withNodeId("n" + i),
                    new PrintWriter(new StringWriter()));
            open.add(n);
            nodes.add(n);
        }
    }

    @AfterEach
    void stop() throws Exception {
        for (int i = open.size() - 1; i >= 0; i--) open.get(i).close();
        if (redis != null) redis.close();
    }

    private CaskadeClient http(ServedCopy n) {
        CaskadeClient c =
                CaskadeClient.connect(URI.create("http://127.0.0.1:" + n.httpPort()), ClientOptions.defaults());
        open.add(c);
        return c;
    }

    @Test
    void writesOnAnyNodeAreReadableThereAtOnceAndEverywhereSoon() throws Exception {
        CaskadeClient a = http(nodes.get(0));
        CaskadeClient b = http(nodes.get(1));
        LinkedBlockingQueue<RemoteEvent> seenOnB = new LinkedBlockingQueue<>();
        try (RemoteWatch w = b.watch("cart/", 0, false, seenOnB::add);
                Jedis c = new Jedis("127.0.0.1", nodes.get(2).respPort())) {
            long rev = a.put("cart/1", "apple");
            assertThat(a.get("cart/1")).map(Entry::revision).contains(rev);
            assertThat(c.set("cart/2", "pear")).isEqualTo("OK");
            assertThat(c.get("cart/2")).isEqualTo("pear");
            assertThat(c.incr("cart/count")).isEqualTo(1);
            // a watch on node b sees what a and c wrote, in the cluster's order
            List<Long> revisions = new ArrayList<>();
            while (revisions.size() < 3) {
                RemoteEvent e = seenOnB.poll(10, TimeUnit.SECONDS);
                assertThat(e).as("an event on b").isNotNull();
                if (e instanceof RemoteEvent.Commit commit)
                    revisions.add(commit.commit().revision());
            }
            assertThat(revisions).isSorted().startsWith(rev);
            assertThat(w.lastRevision()).isEqualTo(revisions.get(2));
        }
        long last = nodes.get(2).node().revision();
        for (ServedCopy n : nodes)
            assertThat(n.node().awaitRevision(last, WAIT)).isTrue();
        String digest = a.digest("").sha256();
        for (ServedCopy n : nodes) assertThat(http(n).digest("").sha256()).isEqualTo(digest);

        HttpResponse<String> status = HttpClient.newHttpClient()
                .send(
                        HttpRequest.newBuilder(URI.create(
                                        "http://127.0.0.1:" + nodes.get(1).httpPort() + "/v1/status"))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
        assertThat(status.body()).contains("\"role\":\"node\"", "\"cluster\":\"shop\"", "\"nodeId\":\"n1\"");
        try (Jedis r = new Jedis("127.0.0.1", nodes.get(1).respPort())) {
            assertThat(r.info("replication")).contains("role:master", "caskade_cluster:shop", "caskade_node_id:n1");
        }
        assertThat(((ClusterStatus) nodes.get(0).status()).live()).isTrue();
    }

    @Test
    void aShardedClusterServesOverHttpAndRespAndRefusesCrossShardTransactions() throws Exception {
        List<ServedCopy> sharded = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            ServedCopy n = ServedCopy.cluster(
                    new Server.Options(dir.resolve("sharded" + i), "127.0.0.1", 0, 0, Durability.NONE, false),
                    ClusterOptions.parse(redis.url("sharded"))
                            .withNodeId("s" + i)
                            .withShards(4),
                    new PrintWriter(new StringWriter()));
            open.add(n);
            sharded.add(n);
        }
        ServedCopy a = sharded.get(0);
        ServedCopy b = sharded.get(1);
        String k1 = "alpha";
        String k2 = null;
        for (int i = 0; k2 == null; i++)
            if (a.node().shardOf(("beta" + i).getBytes(java.nio.charset.StandardCharsets.UTF_8))
                    != a.node().shardOf(k1.getBytes(java.nio.charset.StandardCharsets.UTF_8))) k2 = "beta" + i;
        HttpClient web = HttpClient.newHttpClient();
        String body = "{\"success\":[{\"op\":\"put\",\"key\":\"" + k1 + "\",\"value\":\"1\"},"
                + "{\"op\":\"put\",\"key\":\"" + k2 + "\",\"value\":\"2\"}]}";
        HttpResponse<String> refused = web.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + a.httpPort() + "/v1/txn"))
                        .POST(HttpRequest.BodyPublishers.ofString(body))
                        .header("Content-Type", "application/json")
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(refused.statusCode()).as(refused.body()).isEqualTo(400);
        assertThat(refused.body()).contains("different shards");
        try (Jedis r = new Jedis("127.0.0.1", a.respPort())) {
            r.set("{user1}:a", "x");
            var t = r.multi();
            t.set("{user1}:b", "y");
            t.set("{user1}:c", "z");
            t.exec();
            var u = r.multi();
            u.set(k1, "1");
            u.set(k2, "2");
            assertThatThrownBy(u::exec).hasMessageContaining("different shards");
            assertThat(r.info("replication")).contains("caskade_cluster_shards:4", "caskade_cluster_positions:");
        }
        await().atMost(WAIT)
                .untilAsserted(() -> assertThat(http(b).get("{user1}:c"))
                        .map(Entry::valueString)
                        .contains("z"));
        assertThat(http(b).get(k1)).isEmpty();
        HttpResponse<String> status = web.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + b.httpPort() + "/v1/status"))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(status.body()).contains("\"shards\":4", "\"positions\":[");
        assertThat(http(a).digest("").sha256()).isEqualTo(http(b).digest("").sha256());
    }

    @Test
    void compareAndSetThroughDifferentNodesHasExactlyOneWinnerPerRound() throws Exception {
        List<CaskadeClient> clients = nodes.stream().map(this::http).toList();
        try (ExecutorService pool = Executors.newFixedThreadPool(3)) {
            for (int round = 0; round < 25; round++) {
                // the last winner's node has applied its commit (read-your-writes); the others get there first,
                // so that every contender starts from the current version
                long head = 0;
                for (ServedCopy n : nodes) head = Math.max(head, n.node().revision());
                for (ServedCopy n : nodes)
                    assertThat(n.node().awaitRevision(head, WAIT)).isTrue();
                long current = clients.get(0).get("lock").map(Entry::revision).orElse(0L);
                List<Future<Boolean>> tries = new ArrayList<>();
                for (int i = 0; i < clients.size(); i++) {
                    CaskadeClient c = clients.get(i);
                    String value = "node" + i + "#" + round;
                    tries.add(pool.submit(() -> c.compareAndSet("lock", current, value)));
                }
                int winners = 0;
                for (Future<Boolean> t : tries) winners += t.get() ? 1 : 0;
                assertThat(winners).as("round %d", round).isEqualTo(1);
            }
        }
    }

    @Test
    void aFollowerFollowsANodeAndItsWritesJoinTheCluster() throws Exception {
        ServedCopy follower = ServedCopy.follow(
                new Server.Options(dir.resolve("follower"), "127.0.0.1", 0, 0, Durability.NONE, false),
                CaskadeClient.connect(
                        URI.create("http://127.0.0.1:" + nodes.get(0).httpPort()), ClientOptions.defaults()),
                "",
                ReplicaOptions.defaults(),
                new PrintWriter(new StringWriter()));
        open.add(follower);
        CaskadeClient f = http(follower);
        long rev = f.put("from-follower", "x");
        assertThat(f.get("from-follower")).map(Entry::revision).contains(rev);
        assertThat(nodes.get(2).node().awaitRevision(rev, WAIT)).isTrue();
        assertThat(http(nodes.get(2)).get("from-follower"))
                .map(Entry::valueString)
                .contains("x");
        http(nodes.get(1)).put("from-node", "y");
        await().atMost(WAIT).untilAsserted(() -> assertThat(f.get("from-node")).isPresent());
    }

    @Test
    void withRedisGoneReadsWorkAndWritesAreRefusedClearly() {
        CaskadeClient a = http(nodes.get(0));
        a.put("k", "v");
        long rev = a.get("k").orElseThrow().revision();
        for (ServedCopy n : nodes) assertThat(awaitQuietly(n, rev)).isTrue();
        redis.stop();
        assertThat(http(nodes.get(1)).get("k")).map(Entry::valueString).contains("v");
        assertThatThrownBy(() -> a.put("k", "w"))
                .isInstanceOfSatisfying(
                        ClientException.class, e -> assertThat(e.status()).isEqualTo(503));
        try (Jedis r = new Jedis("127.0.0.1", nodes.get(2).respPort())) {
            assertThat(r.get("k")).isEqualTo("v");
            assertThatThrownBy(() -> r.set("k", "w")).hasMessageStartingWith("MASTERDOWN");
        }
    }

    private static boolean awaitQuietly(ServedCopy n, long rev) {
        try {
            return n.node().awaitRevision(rev, WAIT);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
