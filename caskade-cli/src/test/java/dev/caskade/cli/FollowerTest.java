package dev.caskade.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.Durability;
import dev.caskade.Entry;
import dev.caskade.client.CaskadeClient;
import dev.caskade.client.ClientException;
import dev.caskade.client.ClientOptions;
import dev.caskade.client.ReplicaOptions;
import dev.caskade.server.HttpOptions;
import dev.caskade.server.HttpServer;
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
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.exceptions.JedisDataException;
import redis.clients.jedis.params.SetParams;

/**
 * {@code serve --follow} ({@link ServedCopy#follow}): a server whose store is a live copy of a primary. Reads come from the
 * copy; writes are decided by the primary and readable from the follower when the call returns; {@code --read-only}
 * refuses them; followers follow followers; the copy keeps serving reads while the primary is gone; a fresh snapshot
 * (history compacted) restarts the listeners on the same ports.
 */
@Timeout(120)
class FollowerTest {
    private static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir
    Path dir;

    private Server primary;
    private final List<AutoCloseable> open = new ArrayList<>();

    @BeforeEach
    void startPrimary() {
        primary = Server.start(new Server.Options(dir.resolve("primary"), "127.0.0.1", 0, 0, Durability.NONE, false));
        open.add(primary);
    }

    @AfterEach
    void stop() throws Exception {
        for (int i = open.size() - 1; i >= 0; i--) open.get(i).close();
    }

    private ServedCopy follow(String url, String name, String prefix, boolean readOnly) {
        return follow(url, name, prefix, ReplicaOptions.defaults().withReadOnly(readOnly), 0, 0);
    }

    private ServedCopy follow(String url, String name, String prefix, ReplicaOptions options, int resp, int http) {
        CaskadeClient client = CaskadeClient.connect(
                URI.create(url), ClientOptions.defaults().withRequestTimeout(Duration.ofSeconds(5)));
        open.add(client);
        ServedCopy f = ServedCopy.follow(
                new Server.Options(dir.resolve(name), "127.0.0.1", resp, http, Durability.NONE, false),
                client,
                prefix,
                options,
                new PrintWriter(new StringWriter()));
        open.add(f);
        return f;
    }

    private static String url(Server s) {
        return "http://127.0.0.1:" + s.httpPort();
    }

    private static String url(ServedCopy f) {
        return "http://127.0.0.1:" + f.httpPort();
    }

    private CaskadeClient client(String url) {
        CaskadeClient c = CaskadeClient.connect(URI.create(url), ClientOptions.defaults());
        open.add(c);
        return c;
    }

    @Test
    void aWriteSentToAFollowerIsReadableFromItWhenTheCallReturns() throws Exception {
        for (int i = 0; i < 50; i++) primary.store().put("k" + i, "v" + i);
        ServedCopy f = follow(url(primary), "f", "", false);
        CaskadeClient http = client(url(f));
        assertThat(http.get("k7")).map(Entry::valueString).contains("v7");

        try (Jedis redis = new Jedis("127.0.0.1", f.respPort())) {
            for (int i = 0; i < 100; i++) {
                // each write goes to the primary and back before the reply: the next read here sees it
                long rev = http.put("http/" + i, "h" + i);
                assertThat(http.get("http/" + i)).map(Entry::revision).contains(rev);
                assertThat(redis.set("resp/" + i, "r" + i)).isEqualTo("OK");
                assertThat(redis.get("resp/" + i)).isEqualTo("r" + i);
                assertThat(redis.incr("counter")).isEqualTo(i + 1);
            }
            assertThat(redis.del("resp/0", "resp/1", "nothing")).isEqualTo(2);
            assertThat(redis.exists("resp/0")).isFalse();
            // a TTL in milliseconds crosses intact
            redis.set("ttl", "soon", SetParams.setParams().px(60_500));
            assertThat(redis.pttl("ttl")).isBetween(50_000L, 60_500L);
        }
        // transactions with WATCH are decided at the primary
        try (Jedis redis = new Jedis("127.0.0.1", f.respPort())) {
            redis.watch("counter");
            primary.store().put("counter", "1000");
            var tx = redis.multi();
            tx.set("counter", "lost");
            assertThat(tx.exec()).isNull(); // the primary changed it after WATCH: aborted
            assertThat(redis.get("counter")).isEqualTo("1000");
        }
        assertThat(primary.store().get("http/99")).map(Entry::valueString).contains("h99");
        assertThat(primary.store().get("resp/99")).map(Entry::valueString).contains("r99");
        await().atMost(WAIT)
                .untilAsserted(() -> assertThat(http.digest(""))
                        .isEqualTo(client(url(primary)).digest("")));
    }

    @Test
    void compareAndSetThroughFollowersHasExactlyOneWinnerPerRound() throws Exception {
        ServedCopy a = follow(url(primary), "a", "", false);
        ServedCopy b = follow(url(primary), "b", "", false);
        int rounds = 30;
        try (ExecutorService pool = Executors.newFixedThreadPool(3)) {
            for (int round = 0; round < rounds; round++) {
                long current = primary.store().get("lock").map(Entry::revision).orElse(0L);
                List<Future<Boolean>> tries = new ArrayList<>();
                for (String target : List.of(url(a), url(b), url(primary))) {
                    CaskadeClient c = client(target);
                    int r = round;
                    tries.add(pool.submit(() -> c.compareAndSet("lock", current, target + "#" + r)));
                }
                int winners = 0;
                for (Future<Boolean> t : tries) winners += t.get() ? 1 : 0;
                assertThat(winners).as("round %d", round).isEqualTo(1);
            }
        }
        await().atMost(WAIT).untilAsserted(() -> {
            assertThat(a.replica().digest()).isEqualTo(primary.store().digest(new byte[0]));
            assertThat(b.replica().digest()).isEqualTo(primary.store().digest(new byte[0]));
        });
    }

    @Test
    void aReadOnlyFollowerRefusesWritesAndStillServesReads() {
        primary.store().put("a", "1");
        ServedCopy f = follow(url(primary), "ro", "", true);
        CaskadeClient http = client(url(f));
        assertThat(http.get("a")).map(Entry::valueString).contains("1");
        assertThatThrownBy(() -> http.put("a", "2"))
                .isInstanceOfSatisfying(
                        ClientException.class, e -> assertThat(e.status()).isEqualTo(403))
                .hasMessageContaining("read-only");
        try (Jedis redis = new Jedis("127.0.0.1", f.respPort())) {
            assertThatThrownBy(() -> redis.set("a", "2"))
                    .isInstanceOf(JedisDataException.class)
                    .hasMessageStartingWith("READONLY");
            assertThat(redis.get("a")).isEqualTo("1");
            assertThat(redis.info("replication")).contains("role:slave", "slave_read_only:1", "master_link_status:up");
        }
        assertThat(primary.store().get("a")).map(Entry::valueString).contains("1");
    }

    @Test
    void followersFollowFollowersAndWritesClimbTheChain() throws Exception {
        ServedCopy first = follow(url(primary), "first", "", false);
        ServedCopy second = follow(url(first), "second", "", false);
        CaskadeClient http = client(url(second));
        long rev = http.put("deep", "write");
        assertThat(http.get("deep")).map(Entry::revision).contains(rev);
        assertThat(primary.store().get("deep")).map(Entry::revision).contains(rev);
        primary.store().put("from-primary", "x");
        await().atMost(WAIT)
                .untilAsserted(() -> assertThat(http.get("from-primary")).isPresent());
        assertThat(second.replica().revision()).isEqualTo(primary.store().revision());
        // its digest endpoint answers for its own copy, at the primary's revision
        assertThat(http.digest("")).isEqualTo(primary.store().digest(new byte[0]));
        // each server lists the live copy streaming from it in /v1/status
        assertThat(statusOf(url(primary))).contains("\"followers\":[{\"replica\":\"host=", "\"prefix\":\"\"");
        assertThat(statusOf(url(first))).contains("\"followers\":[{\"replica\":\"host=");
        assertThat(statusOf(url(second))).contains("\"followers\":[]");
    }

    private static String statusOf(String url) throws Exception {
        return HttpClient.newHttpClient()
                .send(
                        HttpRequest.newBuilder(URI.create(url + "/v1/status")).build(),
                        HttpResponse.BodyHandlers.ofString())
                .body();
    }

    @Test
    void aPrefixFollowerCopiesItsPrefixAndRefusesKeysOutsideIt() {
        primary.store().put("app/1", "a");
        primary.store().put("other/1", "b");
        ServedCopy f = follow(url(primary), "prefix", "app/", false);
        CaskadeClient http = client(url(f));
        assertThat(http.get("app/1")).isPresent();
        assertThat(http.get("other/1")).isEmpty();
        assertThat(http.put("app/2", "c")).isPositive();
        assertThat(http.get("app/2")).map(Entry::valueString).contains("c");
        assertThatThrownBy(() -> http.put("other/2", "d"))
                .isInstanceOfSatisfying(
                        ClientException.class, e -> assertThat(e.status()).isEqualTo(400))
                .hasMessageContaining("outside the prefix");
        assertThat(primary.store().get("other/2")).isEmpty();
    }

    @Test
    void withThePrimaryGoneReadsKeepWorkingAndWritesFailFastThenItConvergesAgain() throws Exception {
        for (int i = 0; i < 20; i++) primary.store().put("k" + i, "v" + i);
        int port = primary.httpPort();
        ServedCopy f = follow(url(primary), "f", "", false);
        CaskadeClient http = client(url(f));
        await().atMost(WAIT)
                .until(() -> f.replica().revision() == primary.store().revision());

        primary.close();
        assertThat(http.get("k3")).map(Entry::valueString).contains("v3");
        assertThatThrownBy(() -> http.put("k3", "x"))
                .isInstanceOfSatisfying(
                        ClientException.class, e -> assertThat(e.status()).isEqualTo(503));
        HttpResponse<String> status = HttpClient.newHttpClient()
                .send(
                        HttpRequest.newBuilder(URI.create(url(f) + "/v1/status"))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
        assertThat(status.body()).contains("\"role\":\"follower\"", "\"primary\":\"http://127.0.0.1:" + port);
        HttpResponse<String> metrics = HttpClient.newHttpClient()
                .send(
                        HttpRequest.newBuilder(URI.create(url(f) + "/metrics")).build(),
                        HttpResponse.BodyHandlers.ofString());
        assertThat(metrics.body()).contains("caskade_follow_lag_revisions", "caskade_follow_live 0.0");
        await().atMost(WAIT)
                .untilAsserted(() -> assertThat(f.replica().status().state()).isEqualTo("reconnecting"));

        primary =
                Server.start(new Server.Options(dir.resolve("primary"), "127.0.0.1", 0, port, Durability.NONE, false));
        open.add(primary);
        primary.store().put("k3", "after");
        await().atMost(WAIT)
                .untilAsserted(
                        () -> assertThat(http.get("k3")).map(Entry::valueString).contains("after"));
        assertThat(http.put("k4", "through")).isPositive();
        assertThat(f.replica().digest()).isEqualTo(primary.store().digest(new byte[0]));
    }

    @Test
    void aFreshSnapshotRestartsTheListenersOnTheSamePortsAndConverges() throws Exception {
        // a primary whose history merge really compacts: small segments, no retention
        Caskade db = Caskade.open(
                dir.resolve("small"),
                CaskadeOptions.defaults()
                        .withDurability(Durability.NONE)
                        .withSegmentBytes(4096)
                        .withHistory(Duration.ZERO, 0));
        open.add(db);
        HttpServer small = HttpServer.start(db, HttpOptions.defaults().withAddress("127.0.0.1", 0));
        open.add(small);
        String url = "http://127.0.0.1:" + small.port();
        for (int i = 0; i < 100; i++) db.put("k" + (i % 10), "first" + i);

        ServedCopy f = follow(url, "f", "", ReplicaOptions.defaults(), 0, 0);
        int resp = f.respPort();
        int http = f.httpPort();
        await().atMost(WAIT).until(() -> f.replica().revision() == db.revision());
        f.close();
        open.remove(f);

        for (int i = 0; i < 2_000; i++) db.put("k" + (i % 50), "second" + i + "x".repeat(64));
        db.delete("k1");
        assertThat(db.merge()).isTrue();

        ServedCopy again = follow(url, "f", "", ReplicaOptions.defaults(), resp, http);
        await().atMost(WAIT)
                .untilAsserted(
                        () -> assertThat(again.replica().status().snapshots()).isEqualTo(1));
        await().atMost(WAIT).until(() -> again.replica().revision() == db.revision());
        CaskadeClient c = client("http://127.0.0.1:" + http);
        await().atMost(WAIT).untilAsserted(() -> assertThat(c.digest("")).isEqualTo(db.digest(new byte[0])));
        assertThat(again.respPort()).isEqualTo(resp);
        try (Jedis redis = new Jedis("127.0.0.1", resp)) {
            assertThat(redis.get("k1")).isNull();
            assertThat(redis.get("k2")).startsWith("second");
        }
    }
}
