package dev.caskade.cli;

import static dev.caskade.cli.Invocation.run;
import static dev.caskade.cli.Invocation.runWithInput;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.caskade.Batch;
import dev.caskade.Caskade;
import dev.caskade.Durability;
import dev.caskade.Entry;
import dev.caskade.server.Server;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** get, put, del, scan and watch with --server against an in-process server on a free loopback port. */
@Timeout(60)
class RemoteCommandsTest {

    @TempDir
    static Path dir;

    static Server server;
    static String url;

    @BeforeAll
    static void start() {
        server = Server.start(new Server.Options(dir.resolve("store"), "127.0.0.1", 0, 0, Durability.NONE, false));
        url = "http://127.0.0.1:" + server.httpPort();
    }

    @AfterAll
    static void stop() {
        if (server != null) server.close();
    }

    private static Caskade db() {
        return server.store();
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void putGetDelRoundTrip() {
        Invocation put = run("put", "--server", url, "rt/user", "alice");
        assertThat(put.code()).as("%s", put).isZero();
        assertThat(put.err()).isEmpty();
        long revision = Long.parseLong(put.out().strip());
        assertThat(db().get("rt/user").orElseThrow().revision()).isEqualTo(revision);

        Invocation get = run("get", "--server", url, "rt/user");
        assertThat(get.code()).as("%s", get).isZero();
        assertThat(get.out()).isEqualTo("alice\n");

        // the HTTP API does not report expiresAt, so remote JSON leaves it out rather than claim 0
        Invocation json = run("get", "--server", url, "--json", "rt/user");
        assertThat(json.out()).isEqualTo("{\"key\":\"rt/user\",\"value\":\"alice\",\"revision\":" + revision + "}\n");

        Invocation del = run("del", "--server", url, "--json", "rt/user");
        assertThat(del.code()).as("%s", del).isZero();
        assertThat(del.out()).isEqualTo("{\"revision\":" + db().revision() + "}\n");

        Invocation missing = run("get", "--server", url, "rt/user");
        assertThat(missing.code()).as("%s", missing).isEqualTo(Main.FAILED);
        assertThat(missing.out()).isEmpty();
        assertThat(missing.err()).isEqualTo("caskade: not found: rt/user\n");

        Invocation delAgain = run("del", "--server", url, "rt/user");
        assertThat(delAgain.code()).as("%s", delAgain).isEqualTo(Main.FAILED);
        assertThat(delAgain.err()).isEqualTo("caskade: not found: rt/user\n");
    }

    @Test
    void keysWithSlashesSpacesDotsAndUnicodeArriveIntact() {
        List<String> keys = List.of(
                "odd/a b/ü✓😀",
                "odd/../x",
                "odd/./y",
                "odd/%2F?q=1#frag",
                "odd/+plus&amp=",
                "odd//double",
                "odd/tab\there");
        for (String key : keys) {
            Invocation put = run("put", "--server", url, key, "v:" + key);
            assertThat(put.code()).as("%s: %s", key, put).isZero();
            assertThat(db().get(utf8(key))).as(key).map(Entry::valueString).contains("v:" + key);
            Invocation get = run("get", "--server", url, key);
            assertThat(get.out()).as("%s: %s", key, get).isEqualTo("v:" + key + "\n");
        }
        Invocation put = run("put", "--server", url, "/leading", "x");
        assertThat(put.code()).as("%s", put).isZero();
        assertThat(db().get("/leading")).isPresent();

        Invocation scan = run("scan", "--server", url, "odd/");
        assertThat(scan.out().lines().map(l -> l.substring(0, l.indexOf("\tv:"))))
                .as("%s", scan)
                .containsExactlyElementsOf(keys.stream().sorted().toList());
    }

    @Test
    void binaryValueFromStdinIsStoredByteForByte() {
        byte[] value = {(byte) 0xff, 0, 1, '\n', (byte) 0x80};
        Invocation put = runWithInput(value, "put", "--server", url, "bin/v", "--stdin");
        assertThat(put.code()).as("%s", put).isZero();
        assertThat(db().get("bin/v").orElseThrow().value()).isEqualTo(value);

        Invocation json = run("get", "--server", url, "--json", "bin/v");
        assertThat(json.out()).startsWith("{\"key\":\"bin/v\",\"value_base64\":\"/wABCoA=\",");
        Invocation scan = run("scan", "--server", url, "--json", "bin/");
        assertThat(scan.out()).startsWith("{\"key\":\"bin/v\",\"value_base64\":\"/wABCoA=\",");
    }

    @Test
    void scanPagesThroughMoreThanOnePage() {
        int n = RemoteStore.PAGE * 2 + 345;
        Batch batch = Batch.create();
        for (int i = 0; i < n; i++) batch.put("page/%05d".formatted(i), "v" + i);
        db().commit(batch);
        db().put("pagf", "outside the prefix");

        Invocation all = run("scan", "--server", url, "page/");
        assertThat(all.code()).as("%s", all.err()).isZero();
        List<String> lines = all.out().lines().toList();
        assertThat(lines).hasSize(n);
        for (int i = 0; i < n; i += 97) assertThat(lines.get(i)).isEqualTo("page/%05d\tv%d".formatted(i, i));
        assertThat(lines.get(n - 1)).isEqualTo("page/%05d\tv%d".formatted(n - 1, n - 1));

        Invocation limited = run("scan", "--server", url, "page/", "--limit", "1500");
        assertThat(limited.out().lines()).hasSize(1500).last().isEqualTo("page/01499\tv1499");
    }

    @Test
    void ttlIsSentInSeconds() {
        long before = System.currentTimeMillis();
        Invocation put = run("put", "--server", url, "ttl/k", "v", "--ttl", "1h");
        assertThat(put.code()).as("%s", put).isZero();
        assertThat(db().get("ttl/k").orElseThrow().expiresAt()).isBetween(before + 3_599_000, before + 3_700_000);

        Invocation fraction = run("put", "--server", url, "ttl/k", "v", "--ttl", "1500ms");
        assertThat(fraction.code()).as("%s", fraction).isEqualTo(Main.USAGE);
        assertThat(fraction.err()).contains("whole number of seconds");
    }

    @Test
    void watchFollowsCommitsAndStopsAfterCount() throws Exception {
        long from = db().put("w/0", "before");
        AtomicReference<Invocation> result = new AtomicReference<>();
        Thread watch = new Thread(() ->
                result.set(run("watch", "--server", url, "w/", "--from", Long.toString(from - 1), "--count", "4")));
        watch.start();
        db().put("other", "not under the prefix");
        db().commit(Batch.create().put("w/1", "one").put("w/2", "two words"));
        long deleted = db().delete("w/0");
        long last = db().put("w/3", "three");
        db().put("w/4", "after the count");
        watch.join(30_000);
        assertThat(watch.isAlive()).as("watch --count 4 still running").isFalse();
        Invocation r = result.get();
        assertThat(r.code()).as("%s", r).isZero();
        long batch = deleted - 1;
        assertThat(r.out().lines())
                .as("%s", r)
                .containsExactly(
                        from + " PUT w/0 before",
                        batch + " PUT w/1 one",
                        batch + " PUT w/2 two words",
                        deleted + " DELETE w/0",
                        last + " PUT w/3 three");

        Invocation json =
                run("watch", "--server", url, "w/", "--from", Long.toString(batch - 1), "--count", "1", "--json");
        assertThat(json.out())
                .startsWith("{\"revision\":" + batch + ",\"timestamp\":")
                .endsWith(",\"changes\":[{\"type\":\"PUT\",\"key\":\"w/1\",\"value\":\"one\"},"
                        + "{\"type\":\"PUT\",\"key\":\"w/2\",\"value\":\"two words\"}]}\n");
    }

    @Test
    void liveWatchWithoutFromSeesOnlyNewCommitsAndLeavesNoWatchBehind() throws Exception {
        long old = db().put("live/old", "x");
        AtomicReference<Invocation> result = new AtomicReference<>();
        Thread watch = new Thread(() -> result.set(run("watch", "--server", url, "live/", "--count", "1")));
        watch.start();
        // when the stream is in place is not visible from here: tick until the watch has seen one
        for (int i = 0; i < 100 && watch.isAlive(); i++) {
            db().put("live/tick", Integer.toString(i));
            watch.join(200);
        }
        assertThat(watch.isAlive()).as("watch --count 1 still running").isFalse();
        Invocation r = result.get();
        assertThat(r.code()).as("%s", r).isZero();
        assertThat(r.out()).as("%s", r).matches("\\d+ PUT live/tick \\d+\n");
        assertThat(Long.parseLong(r.out().substring(0, r.out().indexOf(' ')))).isGreaterThan(old);
        // the client went away: the server ends its watch
        await().atMost(Duration.ofSeconds(10)).until(() -> db().stats().watches() == 0);
    }

    @Test
    void unreachableServerIsOneLine() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        String down = "http://127.0.0.1:" + port;
        for (String[] args : new String[][] {
            {"get", "--server", down, "k"},
            {"put", "--server", down, "k", "v"},
            {"del", "--server", down, "k"},
            {"scan", "--server", down},
            {"watch", "--server", down},
            {"shell", "--server", down}
        }) {
            Invocation r = run(args);
            assertThat(r.code()).as("%s", r).isEqualTo(Main.FAILED);
            assertThat(r.out()).as("%s", r).isEmpty();
            assertThat(r.err()).as("%s", r).isEqualTo("caskade: cannot reach " + down + ": connection refused\n");
        }
    }

    @Test
    void aUrlWithoutTheApiIsReportedNotTakenForAMissingKey() {
        Invocation r = run("get", "--server", url + "/elsewhere", "k");
        assertThat(r.code()).as("%s", r).isEqualTo(Main.FAILED);
        assertThat(r.err()).isEqualTo("caskade: " + url + "/elsewhere answered 404: no route for /elsewhere/v1/kv/k\n");
    }

    @Test
    void aStoreHeldByTheServerPointsToIt() {
        Invocation r = run("get", "--data", dir.resolve("store").toString(), "k");
        assertThat(r.code()).as("%s", r).isEqualTo(Main.FAILED);
        assertThat(r.err()).contains("locked").endsWith("(a server holds it: use --server " + url + ")\n");
    }

    @Test
    void badCombinationsAreUsageErrors() {
        String data = dir.resolve("unused").toString();
        for (String[] args : new String[][] {
            {"get", "--server", url, "--data", data, "k"},
            {"shell", "--server", url, "--data", data},
            {"get", "--data", data, "--token", "t", "k"},
            {"put", "--server", url, "k", "v", "--durability", "none"},
            {"get", "--server", "ftp://127.0.0.1:1", "k"},
            {"get", "--server", url, "--token", "t", "--user", "u:p", "k"},
            {"get", "--server", url, "--user", "nopassword", "k"},
            {"put", "--server", url, "k", "v", "--stdin"},
        }) {
            Invocation r = run(args);
            assertThat(r.code()).as("%s", r).isEqualTo(Main.USAGE);
            assertThat(r.out()).as("%s", r).isEmpty();
            assertThat(r.err().lines()).as("%s", r).hasSize(1);
            assertThat(r.err()).as("%s", r).startsWith("caskade: ");
        }
        assertThat(dir.resolve("unused")).doesNotExist();
    }
}
