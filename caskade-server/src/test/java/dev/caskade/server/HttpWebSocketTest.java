package dev.caskade.server;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.caskade.Batch;
import dev.caskade.CaskadeOptions;
import dev.caskade.Durability;
import dev.caskade.Entry;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.UnaryOperator;
import java.util.stream.LongStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;

/** {@code GET /v1/ws}: many watches on one WebSocket, with the same events as the SSE watch. */
class HttpWebSocketTest {
    static final Duration TIMEOUT = Duration.ofSeconds(10);

    @TempDir
    Path dir;

    private HttpFixture fixture(UnaryOperator<CaskadeOptions> store, UnaryOperator<HttpOptions> http) {
        return new HttpFixture(dir, store.apply(CaskadeOptions.defaults().withDurability(Durability.NONE)), http);
    }

    @Test
    void twoWatchesOnOneSocketEachGetExactlyTheirCommitsInOrder() throws Exception {
        try (HttpFixture http = new HttpFixture(dir);
                WsClient ws = WsClient.open(http)) {
            assertThat(ws.watch("a", "a/", null).get("revision").asLong()).isZero();
            assertThat(ws.watch("b", "b/", null).get("revision").asLong()).isZero();
            Map<String, List<Long>> expected = Map.of("a", new ArrayList<>(), "b", new ArrayList<>());
            for (int i = 0; i < 20; i++) {
                expected.get("a").add(http.db.put("a/" + i, "va" + i));
                http.db.put("c/" + i, "x");
                expected.get("b").add(http.db.put("b/" + i, "vb" + i));
            }
            long both = http.db.commit(
                    Batch.create().put("a/both", "1").put("b/both", "2").put("c/both", "3"));
            expected.get("a").add(both);
            expected.get("b").add(both);

            Map<String, List<Long>> got = Map.of("a", new ArrayList<>(), "b", new ArrayList<>());
            for (int n = 0; n < 42; n++) {
                JsonNode m = ws.next();
                assertThat(m.get("type").asString()).isEqualTo("commit");
                String watch = m.get("watch").asString();
                long rev = m.get("revision").asLong();
                assertThat(m.get("timestamp").asLong()).isPositive();
                JsonNode changes = m.get("changes");
                assertThat(changes.size()).isEqualTo(1); // only the change under its own prefix
                JsonNode change = changes.get(0);
                assertThat(change.get("type").asString()).isEqualTo("put");
                assertThat(change.get("key").asString()).startsWith(watch + "/");
                if (rev != both) {
                    String key = change.get("key").asString();
                    assertThat(change.get("value").asString()).isEqualTo("v" + watch + key.substring(2));
                }
                got.get(watch).add(rev);
            }
            assertThat(got).isEqualTo(expected);
            ws.send("{\"op\":\"ping\"}");
            assertThat(ws.next().get("type").asString()).isEqualTo("pong"); // nothing else was pending
        }
    }

    @Test
    void fromAPastRevisionReplaysHistoryThenLive() throws Exception {
        try (HttpFixture http = new HttpFixture(dir);
                WsClient ws = WsClient.open(http)) {
            for (int i = 1; i <= 10; i++) {
                http.db.put("h/" + i, "v" + i);
                http.db.put("other/" + i, "x");
            }
            http.db.delete("h/1");
            JsonNode watching = ws.watch("h", "h/", 6L);
            assertThat(watching.get("revision").asLong()).isEqualTo(6);
            List<Long> revisions = new ArrayList<>();
            for (int i = 0; i < 8; i++)
                revisions.add(ws.next("commit").get("revision").asLong());
            assertThat(revisions).containsExactly(7L, 9L, 11L, 13L, 15L, 17L, 19L, 21L);
            long live = http.db.put("h/live", "now");
            JsonNode m = ws.next("commit");
            assertThat(m.get("revision").asLong()).isEqualTo(live);
            assertThat(m.get("changes").get(0).get("value").asString()).isEqualTo("now");
        }
    }

    @Test
    void deletesAndBinaryKeysLookLikeTheSseEvents() throws Exception {
        try (HttpFixture http = new HttpFixture(dir);
                WsClient ws = WsClient.open(http)) {
            byte[] binary = {'k', '/', (byte) 0xff, 0};
            http.db.put(binary, new byte[] {(byte) 0xfe});
            http.db.delete(binary);
            ws.send("{\"op\":\"watch\",\"id\":\"k\",\"prefix_base64\":\""
                    + Base64.getEncoder().encodeToString(new byte[] {'k', '/', (byte) 0xff}) + "\",\"from\":0}");
            assertThat(ws.next().get("type").asString()).isEqualTo("watching");
            JsonNode put = ws.next("commit").get("changes").get(0);
            assertThat(put.has("key")).isFalse();
            assertThat(Base64.getDecoder().decode(put.get("key_base64").asString()))
                    .isEqualTo(binary);
            assertThat(Base64.getDecoder().decode(put.get("value_base64").asString()))
                    .containsExactly((byte) 0xfe);
            JsonNode delete = ws.next("commit").get("changes").get(0);
            assertThat(delete.get("type").asString()).isEqualTo("delete");
        }
    }

    @Test
    void snapshotGivesTheStateThenEveryLaterCommitWithoutGapOrDuplicate() throws Exception {
        int writes = 400;
        try (HttpFixture http = fixture(s -> s, o -> o.withSnapshotChunk(7));
                WsClient ws = WsClient.open(http)) {
            for (int i = 0; i < 30; i++) http.db.put("s/%02d".formatted(i), "init");
            AtomicReference<Throwable> failure = new AtomicReference<>();
            Thread writer = Thread.ofVirtual().start(() -> {
                try {
                    for (int i = 1; i <= writes; i++) {
                        if (i % 7 == 0) http.db.delete("s/%02d".formatted(i % 40));
                        else http.db.put("s/%02d".formatted(i % 40), "w" + i);
                        if (i % 4 == 0) Thread.sleep(1); // still writing while the snapshot is taken
                    }
                } catch (Throwable t) {
                    failure.set(t);
                }
            });
            await().atMost(TIMEOUT).until(() -> http.db.revision() > 60); // mid-stream
            ws.send("{\"op\":\"watch\",\"id\":\"s\",\"prefix\":\"s/\",\"snapshot\":true}");
            JsonNode watching = ws.next();
            assertThat(watching.get("type").asString()).isEqualTo("watching");
            long r = watching.get("revision").asLong();
            Map<String, String> state = new TreeMap<>();
            boolean last = false;
            for (int chunk = 0; chunk < 100 && !last; chunk++) {
                JsonNode m = ws.next();
                assertThat(m.get("type").asString()).isEqualTo("snapshot");
                assertThat(m.get("watch").asString()).isEqualTo("s");
                assertThat(m.get("revision").asLong()).isEqualTo(r);
                assertThat(m.get("items").size()).isLessThanOrEqualTo(7);
                m.get("items")
                        .forEach(item -> state.put(
                                item.get("key").asString(), item.get("value").asString()));
                last = m.get("last").asBoolean();
            }
            assertThat(last).isTrue();
            writer.join(TIMEOUT);
            assertThat(failure.get()).isNull();
            long end = http.db.revision();
            assertThat(end).as("commits after the snapshot").isGreaterThan(r);
            // every commit after r touches s/: their revisions follow r one by one
            for (long expected = r + 1; expected <= end; expected++) {
                JsonNode m = ws.next("commit");
                assertThat(m.get("revision").asLong()).isEqualTo(expected);
                for (JsonNode c : m.get("changes")) {
                    if (c.get("type").asString().equals("put"))
                        state.put(c.get("key").asString(), c.get("value").asString());
                    else state.remove(c.get("key").asString());
                }
            }
            Map<String, String> actual = new TreeMap<>();
            try (Stream<Entry> s = http.db.scan("s/")) {
                s.forEach(e -> actual.put(e.keyString(), e.valueString()));
            }
            assertThat(state).isEqualTo(actual);
        }
    }

    @Test
    void unwatchStopsTheEventsAndGivesTheRevisionToResumeFrom() throws Exception {
        try (HttpFixture http = new HttpFixture(dir);
                WsClient ws = WsClient.open(http)) {
            ws.watch("u", "u/", null);
            ws.watch("v", "v/", null);
            long first = http.db.put("u/1", "1");
            assertThat(ws.next("commit").get("revision").asLong()).isEqualTo(first);
            ws.send("{\"op\":\"unwatch\",\"id\":\"u\"}");
            JsonNode unwatched = ws.next();
            assertThat(unwatched.get("type").asString()).isEqualTo("unwatched");
            assertThat(unwatched.get("watch").asString()).isEqualTo("u");
            assertThat(unwatched.get("resume").asLong()).isEqualTo(first);
            long missed = http.db.put("u/2", "2");
            long other = http.db.put("v/1", "1");
            JsonNode m = ws.next();
            assertThat(m.get("watch").asString()).isEqualTo("v"); // nothing for u any more
            assertThat(m.get("revision").asLong()).isEqualTo(other);
            // the id is free again; resuming gets exactly what was missed
            ws.watch("u", "u/", first);
            assertThat(ws.next("commit").get("revision").asLong()).isEqualTo(missed);
            await().atMost(TIMEOUT).until(() -> http.db.stats().watches() == 2);
        }
    }

    @Test
    void badRequestsAnswerAnErrorAndLeaveTheSocketUsable() throws Exception {
        try (HttpFixture http = new HttpFixture(dir);
                WsClient ws = WsClient.open(http)) {
            ws.watch("dup", "d/", null);
            Map<String, String> cases = new LinkedHashMap<>();
            cases.put("{not json", "bad JSON");
            cases.put("[1,2]", "bad JSON");
            cases.put("null", "JSON object");
            cases.put("{\"op\":\"dance\",\"id\":\"x\"}", "unknown op: dance");
            cases.put("{\"id\":\"x\"}", "needs \\\"op\\\"");
            cases.put("{\"op\":\"watch\",\"id\":\"x\",\"color\":\"red\"}", "bad JSON");
            cases.put("{\"op\":\"watch\",\"prefix\":\"x/\"}", "needs an \\\"id\\\"");
            cases.put("{\"op\":\"watch\",\"id\":\"dup\",\"prefix\":\"x/\"}", "already in use: dup");
            cases.put("{\"op\":\"watch\",\"id\":\"x\",\"from\":-1}", "must not be negative");
            cases.put("{\"op\":\"watch\",\"id\":\"x\",\"from\":\"soon\"}", "bad JSON");
            cases.put("{\"op\":\"watch\",\"id\":\"x\",\"from\":1,\"snapshot\":true}", "not both");
            cases.put("{\"op\":\"watch\",\"id\":\"x\",\"prefix\":\"a\",\"prefix_base64\":\"YQ==\"}", "not both");
            cases.put("{\"op\":\"watch\",\"id\":\"x\",\"prefix_base64\":\"%%%\"}", "bad prefix_base64");
            cases.put("{\"op\":\"watch\",\"id\":\"" + "i".repeat(129) + "\"}", "longer than 128");
            cases.put("{\"op\":\"unwatch\",\"id\":\"nobody\"}", "no watch nobody");
            for (Map.Entry<String, String> c : cases.entrySet()) {
                ws.send(c.getKey());
                JsonNode m = ws.next();
                assertThat(m.get("type").asString()).as(c.getKey()).isEqualTo("error");
                assertThat(m.toString()).as(c.getKey()).contains(c.getValue());
                assertThat(m.has("watch")).as(c.getKey()).isFalse(); // an error to a request ends no watch
            }
            ws.sendBinary(new byte[] {1, 2});
            assertThat(ws.next().get("message").asString()).contains("text frames");
            ws.send("{\"op\":\"watch\",\"id\":\"dup\",\"prefix\":\"x/\"}");
            assertThat(ws.next().get("id").asString()).isEqualTo("dup");
            // still usable: the first watch still delivers, and a ping answers with its id
            long rev = http.db.put("d/1", "1");
            assertThat(ws.next("commit").get("revision").asLong()).isEqualTo(rev);
            ws.send("{\"op\":\"ping\",\"id\":\"p1\"}");
            JsonNode pong = ws.next();
            assertThat(pong.get("type").asString()).isEqualTo("pong");
            assertThat(pong.get("id").asString()).isEqualTo("p1");
            assertThat(http.db.stats().watches()).isEqualTo(1);
            // a message larger than the frame limit closes the socket (1009)
            ws.send("{\"op\":\"ping\",\"id\":\""
                    + "x".repeat(HttpOptions.WebSocketLimits.defaults().maxFrameBytes()) + "\"}");
            assertThat(ws.closed.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)).isEqualTo(1009);
            await().atMost(TIMEOUT).until(() -> http.db.stats().watches() == 0);
        }
    }

    @Test
    void aSocketHoldsAtMostTheLimitOfWatches() throws Exception {
        try (HttpFixture http =
                        fixture(s -> s, o -> o.withWebSocket(new HttpOptions.WebSocketLimits(1 << 20, 3, 1 << 20)));
                WsClient ws = WsClient.open(http);
                WsClient other = WsClient.open(http)) {
            for (int i = 0; i < 3; i++) ws.watch("w" + i, "p" + i + "/", null);
            ws.send("{\"op\":\"watch\",\"id\":\"w3\",\"prefix\":\"p3/\"}");
            JsonNode error = ws.next();
            assertThat(error.get("type").asString()).isEqualTo("error");
            assertThat(error.get("id").asString()).isEqualTo("w3");
            assertThat(error.get("message").asString()).contains("too many watches", "at most 3");
            other.watch("w3", "p3/", null); // the limit is per socket
            ws.send("{\"op\":\"unwatch\",\"id\":\"w0\"}");
            assertThat(ws.next().get("type").asString()).isEqualTo("unwatched");
            ws.watch("w3", "p3/", null);
            long rev = http.db.put("p3/x", "1");
            assertThat(ws.next("commit").get("watch").asString()).isEqualTo("w3");
            assertThat(other.next("commit").get("revision").asLong()).isEqualTo(rev);
            assertThat(http.db.stats().watches()).isEqualTo(4);
        }
    }

    @Test
    void belowRetentionTheWatchSaysCompacted() throws Exception {
        try (HttpFixture http = fixture(s -> s.withSegmentBytes(4096).withHistory(Duration.ZERO, 0), o -> o);
                WsClient ws = WsClient.open(http)) {
            String value = "x".repeat(200);
            for (int i = 0; i < 100; i++) http.db.put("c/" + (i % 5), value + i);
            assertThat(http.db.merge()).isTrue();
            long oldest = http.db.compactedRevision();
            assertThat(oldest).isPositive();
            ws.send("{\"op\":\"watch\",\"id\":\"c\",\"prefix\":\"c/\",\"from\":1}");
            JsonNode m = ws.next();
            assertThat(m.get("type").asString()).isEqualTo("compacted");
            assertThat(m.get("watch").asString()).isEqualTo("c");
            assertThat(m.get("oldest").asLong()).isEqualTo(oldest);
            // the watch never started, so its id is free; from the oldest allowed revision it streams the rest
            JsonNode watching = ws.watch("c", "c/", oldest);
            assertThat(watching.get("revision").asLong()).isEqualTo(oldest);
            assertThat(ws.next("commit").get("revision").asLong()).isEqualTo(oldest + 1);
        }
    }

    @Test
    void aStalledSocketIsClosedWhileOthersKeepReceivingAndWritersNeverWait() throws Exception {
        int commits = 200;
        String big = "b".repeat(64 * 1024);
        try (HttpFixture http = fixture(
                        s -> s.withWatchBuffer(commits * 2),
                        o -> o.withTimeouts(Duration.ofSeconds(1), Duration.ofSeconds(10))
                                .withWebSocket(new HttpOptions.WebSocketLimits(1 << 20, 64, 64 * 1024)));
                WsClient live = WsClient.open(http);
                RawSocket stalled = new RawSocket(http.server.port(), 4096)) {
            live.watch("o", "o/", null);
            stalled.send("{\"op\":\"watch\",\"id\":\"o\",\"prefix\":\"o/\"}");
            await().atMost(TIMEOUT).until(() -> http.db.stats().watches() == 2);
            await().atMost(TIMEOUT).until(() -> metric(http, "caskade_http_websockets") == 2);
            long start = System.nanoTime();
            for (int i = 1; i <= commits; i++) http.db.put("o/" + (i % 3), i + big);
            Duration writing = Duration.ofNanos(System.nanoTime() - start);
            assertThat(writing).isLessThan(Duration.ofSeconds(5));
            for (long rev = 1; rev <= commits; rev++) {
                JsonNode m = live.next("commit");
                assertThat(m.get("revision").asLong()).isEqualTo(rev);
                assertThat(m.get("changes").get(0).get("value").asString()).startsWith(rev + "b");
            }
            // the stalled client's watch waited for room, then gave up on it after the idle timeout
            await().atMost(TIMEOUT).until(() -> http.db.stats().watches() == 1);
            await().atMost(TIMEOUT).until(() -> metric(http, "caskade_http_websockets") == 1);
            assertThat(stalled.drain(TIMEOUT)).isLessThan(commits);
            long next = http.db.put("o/after", "a");
            assertThat(live.next("commit").get("revision").asLong()).isEqualTo(next);
        }
    }

    @Test
    void aWatchThatFallsBehindOverflowsAndResumesOnTheSameSocket() throws Exception {
        int commits = 150;
        String big = "b".repeat(128 * 1024); // enough to fill the socket buffers of a client that does not read
        try (HttpFixture http = fixture(
                        s -> s.withWatchBuffer(4),
                        o -> o.withWebSocket(new HttpOptions.WebSocketLimits(1 << 20, 64, 64 * 1024)));
                RawSocket stalled = new RawSocket(http.server.port(), 4096)) {
            stalled.send("{\"op\":\"watch\",\"id\":\"o\",\"prefix\":\"o/\",\"from\":0}");
            await().atMost(TIMEOUT).until(() -> http.db.stats().watches() == 1);
            long start = System.nanoTime();
            for (int i = 1; i <= commits; i++) http.db.put("o/" + (i % 3), i + big);
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(5));
            assertThat(stalled.next().get("type").asString()).isEqualTo("watching");
            List<Long> seen = new ArrayList<>();
            JsonNode m;
            while ((m = stalled.next()) != null && m.get("type").asString().equals("commit")) {
                seen.add(m.get("revision").asLong());
                assertThat(seen.size()).isLessThanOrEqualTo(commits);
            }
            assertThat(m).isNotNull();
            assertThat(m.get("type").asString()).isEqualTo("overflow");
            assertThat(m.get("watch").asString()).isEqualTo("o");
            long resume = m.get("resume").asLong();
            assertThat(seen)
                    .containsExactlyElementsOf(
                            LongStream.rangeClosed(1, seen.size()).boxed().toList());
            assertThat(resume).isEqualTo(seen.size()).isLessThan(commits);
            // the socket stays open: the same id resumes with no gap and no duplicate
            stalled.send("{\"op\":\"watch\",\"id\":\"o\",\"prefix\":\"o/\",\"from\":" + resume + "}");
            assertThat(stalled.next().get("revision").asLong()).isEqualTo(resume);
            for (long rev = resume + 1; rev <= commits; rev++) {
                JsonNode c = stalled.next();
                assertThat(c.get("type").asString()).isEqualTo("commit");
                assertThat(c.get("revision").asLong()).isEqualTo(rev);
                assertThat(c.get("changes").get(0).get("value").asString()).startsWith(rev + "b");
            }
        }
    }

    @Test
    void reconnectingWithTheLastSeenRevisionResumesWithoutGapOrDuplicate() throws Exception {
        long seed = System.nanoTime();
        Random random = new Random(seed);
        int commits = 300;
        try (HttpFixture http = new HttpFixture(dir)) {
            AtomicReference<Throwable> writerFailure = new AtomicReference<>();
            Thread writer = Thread.ofVirtual().start(() -> {
                try {
                    for (int i = 1; i <= commits; i++) {
                        http.db.put("r/" + (i % 17), "v" + i);
                        if (i % 10 == 0) Thread.sleep(2);
                    }
                } catch (Throwable t) {
                    writerFailure.set(t);
                }
            });
            List<Long> seen = new ArrayList<>();
            long last = 0;
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            for (int connection = 0; connection < 8 && seen.size() < commits; connection++) {
                assertThat(System.nanoTime()).as("seed " + seed).isLessThan(deadline);
                try (WsClient ws = WsClient.open(http)) {
                    // sometimes several watches come and go on one socket before it drops
                    for (int round = 0; round < 3 && seen.size() < commits; round++) {
                        String id = "r" + round;
                        assertThat(ws.watch(id, "r/", last).get("revision").asLong())
                                .as("seed " + seed)
                                .isEqualTo(last);
                        int take = connection == 7 ? Integer.MAX_VALUE : 1 + random.nextInt(40);
                        for (int n = 0; n < take && seen.size() < commits; n++) {
                            last = record(ws.next("commit"), seen, seed);
                        }
                        if (seen.size() == commits || random.nextBoolean()) break; // drop the socket
                        ws.send("{\"op\":\"unwatch\",\"id\":\"" + id + "\"}");
                        JsonNode m;
                        // commits already on their way before the unwatch still count
                        while ((m = ws.next()).get("type").asString().equals("commit")) last = record(m, seen, seed);
                        assertThat(m.get("type").asString()).as("seed " + seed).isEqualTo("unwatched");
                        assertThat(m.get("resume").asLong()).as("seed " + seed).isEqualTo(last);
                    }
                }
            }
            writer.join(TIMEOUT);
            assertThat(writerFailure.get()).isNull();
            assertThat(seen)
                    .as("seed " + seed)
                    .containsExactlyElementsOf(
                            LongStream.rangeClosed(1, commits).boxed().toList());
            await().atMost(TIMEOUT).until(() -> http.db.stats().watches() == 0);
        }
    }

    private static long record(JsonNode commit, List<Long> seen, long seed) {
        long rev = commit.get("revision").asLong();
        assertThat(commit.get("changes").get(0).get("value").asString())
                .as("seed " + seed)
                .isEqualTo("v" + rev);
        assertThat(seen.size()).as("seed " + seed).isLessThan(400);
        seen.add(rev);
        return rev;
    }

    @Test
    void onlyAWebSocketHandshakeUpgradesAndItCountsInTheMetrics() throws Exception {
        try (HttpFixture http = new HttpFixture(dir)) {
            HttpResponse<byte[]> plain = http.get(WatchSocket.PATH);
            assertThat(plain.statusCode()).isEqualTo(400);
            assertThat(HttpFixture.json(plain).get("error").asString()).contains("WebSocket");
            HttpResponse<byte[]> post = http.post(WatchSocket.PATH, "{}");
            assertThat(post.statusCode()).isEqualTo(405);
            assertThat(post.headers().firstValue("Allow")).hasValue("GET");
            // the connection still serves plain requests after those answers
            assertThat(http.get("/healthz").statusCode()).isEqualTo(200);
            assertThat(handshake(http, "8")).startsWith("HTTP/1.1 426").contains("sec-websocket-version: 13");
            try (WsClient ws = WsClient.open(http)) {
                ws.watch("m", "m/", null);
                ws.watch("n", "n/", null);
                await().atMost(TIMEOUT).until(() -> metric(http, "caskade_http_websockets") == 1);
                Thread.sleep(150); // past the stats cache of a scrape
                assertThat(metric(http, "caskade_watches")).isEqualTo(2);
                assertThat(HttpFixture.json(http.get("/v1/status"))
                                .get("watches")
                                .asInt())
                        .isEqualTo(2);
                // a close frame from the client closes the socket and its watches
                ws.socket.sendClose(WebSocket.NORMAL_CLOSURE, "bye").get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
                assertThat(ws.closed.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS))
                        .isEqualTo(1000);
                await().atMost(TIMEOUT).until(() -> http.db.stats().watches() == 0);
            }
            await().atMost(TIMEOUT).until(() -> http.db.stats().watches() == 0);
            await().atMost(TIMEOUT).until(() -> metric(http, "caskade_http_websockets") == 0);
        }
    }

    @Test
    void pingsKeepAQuietSocketOpenPastTheIdleAndHeaderTimeouts() throws Exception {
        try (HttpFixture http = fixture(
                        s -> s,
                        o -> o.withTimeouts(Duration.ofMillis(400), Duration.ofMillis(200))
                                .withKeepAlive(Duration.ofMillis(50)));
                WsClient ws = WsClient.open(http)) {
            ws.watch("q", "q/", null);
            Thread.sleep(1000);
            assertThat(ws.pings.get()).isGreaterThanOrEqualTo(5);
            assertThat(ws.closed).isNotDone();
            long rev = http.db.put("q/1", "1");
            assertThat(ws.next("commit").get("revision").asLong()).isEqualTo(rev);
        }
    }

    @Test
    void aClientThatAnswersNoPingsIsClosedAfterTheIdleTimeout() throws Exception {
        try (HttpFixture http = fixture(s -> s, o -> o.withTimeouts(Duration.ofMillis(500), Duration.ofSeconds(10)));
                RawSocket silent = new RawSocket(http.server.port(), 64 * 1024)) {
            silent.answerPings = false;
            silent.send("{\"op\":\"watch\",\"id\":\"q\",\"prefix\":\"q/\"}");
            assertThat(silent.next().get("type").asString()).isEqualTo("watching");
            await().atMost(TIMEOUT).until(() -> http.db.stats().watches() == 0);
            assertThat(silent.drain(TIMEOUT)).isZero();
        }
    }

    @Test
    void closingTheServerClosesSocketsAndTheirWatchesButNotTheStore() throws Exception {
        try (HttpFixture http = new HttpFixture(dir);
                WsClient ws = WsClient.open(http)) {
            ws.watch("z", "z/", null);
            ws.watch("y", "y/", null);
            http.db.put("z/1", "1");
            assertThat(ws.next("commit").get("revision").asLong()).isEqualTo(1);
            long start = System.nanoTime();
            http.server.close();
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(4));
            assertThat(ws.closed.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)).isEqualTo(1001);
            await().atMost(TIMEOUT).until(() -> http.db.stats().watches() == 0);
            assertThat(http.db.put("z/2", "2")).isEqualTo(2);
        }
    }

    /** A handshake by hand (the JDK client cannot send another version); returns the head of the answer. */
    private static String handshake(HttpFixture http, String version) throws IOException {
        try (Socket s = new Socket("127.0.0.1", http.server.port())) {
            s.setSoTimeout((int) TIMEOUT.toMillis());
            s.getOutputStream()
                    .write(("GET " + WatchSocket.PATH + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                    + "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                    + "Sec-WebSocket-Version: " + version + "\r\n\r\n")
                            .getBytes(UTF_8));
            String answer = new String(s.getInputStream().readNBytes(40), UTF_8);
            byte[] rest = new byte[4096];
            int n = s.getInputStream().read(rest);
            return (answer + (n > 0 ? new String(rest, 0, n, UTF_8) : ""))
                    .toLowerCase(java.util.Locale.ROOT)
                    .replace("http/1.1", "HTTP/1.1");
        }
    }

    private static double metric(HttpFixture http, String name) {
        String text = HttpFixture.text(http.get("/metrics"));
        return text.lines()
                .filter(l -> l.startsWith(name + " "))
                .mapToDouble(l -> Double.parseDouble(l.substring(name.length() + 1)))
                .findFirst()
                .orElseThrow(() -> new AssertionError("no " + name + " in " + text));
    }

    /** A JDK WebSocket client on {@code /v1/ws}: messages are parsed into a queue as they arrive. */
    static final class WsClient implements AutoCloseable {
        private static final JsonNode EOF = HttpJson.MAPPER.createObjectNode().put("type", "<eof>");

        final WebSocket socket;
        /** The close code the server sent, or -1 if the connection failed. */
        final CompletableFuture<Integer> closed = new CompletableFuture<>();

        final AtomicInteger pings = new AtomicInteger();
        private final HttpClient client =
                HttpClient.newBuilder().connectTimeout(TIMEOUT).build();
        private final BlockingQueue<JsonNode> messages = new LinkedBlockingQueue<>();

        private WsClient(URI uri) throws Exception {
            StringBuilder partial = new StringBuilder();
            socket = client.newWebSocketBuilder()
                    .connectTimeout(TIMEOUT)
                    .buildAsync(uri, new WebSocket.Listener() {
                        @Override
                        public CompletionStage<?> onText(WebSocket ws, CharSequence data, boolean last) {
                            partial.append(data);
                            if (last) {
                                messages.add(HttpJson.MAPPER.readTree(partial.toString()));
                                partial.setLength(0);
                            }
                            ws.request(1);
                            return null;
                        }

                        @Override
                        public CompletionStage<?> onPing(WebSocket ws, ByteBuffer message) {
                            pings.incrementAndGet();
                            return WebSocket.Listener.super.onPing(ws, message); // answers with a pong
                        }

                        @Override
                        public CompletionStage<?> onClose(WebSocket ws, int status, String reason) {
                            closed.complete(status);
                            messages.add(EOF);
                            return null;
                        }

                        @Override
                        public void onError(WebSocket ws, Throwable error) {
                            closed.complete(-1);
                            messages.add(EOF);
                        }
                    })
                    .get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        }

        static WsClient open(HttpFixture http) throws Exception {
            return new WsClient(URI.create("ws://127.0.0.1:" + http.server.port() + WatchSocket.PATH));
        }

        void send(String text) throws Exception {
            socket.sendText(text, true).get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        }

        void sendBinary(byte[] bytes) throws Exception {
            socket.sendBinary(ByteBuffer.wrap(bytes), true).get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        }

        /** Opens a watch and returns its {@code watching} answer. */
        JsonNode watch(String id, String prefix, Long from) throws Exception {
            send("{\"op\":\"watch\",\"id\":\"" + id + "\",\"prefix\":\"" + prefix + "\""
                    + (from == null ? "" : ",\"from\":" + from) + "}");
            JsonNode m = next();
            assertThat(m.get("type").asString()).as(m.toString()).isEqualTo("watching");
            assertThat(m.get("watch").asString()).isEqualTo(id);
            return m;
        }

        /** The next message; fails after {@code TIMEOUT} or when the socket has closed. */
        JsonNode next() throws InterruptedException {
            JsonNode m = messages.poll(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            if (m == null) throw new AssertionError("no message within " + TIMEOUT);
            if (m == EOF) {
                messages.add(EOF);
                throw new AssertionError("the socket closed: " + closed.getNow(null));
            }
            return m;
        }

        /** The next message, which must be of {@code type}. */
        JsonNode next(String type) throws InterruptedException {
            JsonNode m = next();
            assertThat(m.get("type").asString()).as(m.toString()).isEqualTo(type);
            return m;
        }

        @Override
        public void close() {
            socket.abort();
            client.shutdownNow();
        }
    }

    /**
     * A WebSocket client on a plain socket with a small receive buffer: it reads only when asked to, so it
     * can stall the server's output as a client on a slow network would.
     */
    static final class RawSocket implements AutoCloseable {
        final Socket socket = new Socket();
        final DataInputStream in;
        final OutputStream out;
        volatile boolean answerPings = true;
        private final Random masks = new Random();

        RawSocket(int port, int receiveBuffer) throws IOException {
            socket.setReceiveBufferSize(receiveBuffer);
            socket.setSoTimeout((int) TIMEOUT.toMillis());
            socket.connect(new InetSocketAddress("127.0.0.1", port), (int) TIMEOUT.toMillis());
            in = new DataInputStream(new BufferedInputStream(socket.getInputStream()));
            out = socket.getOutputStream();
            byte[] key = new byte[16];
            masks.nextBytes(key);
            out.write(("GET " + WatchSocket.PATH + " HTTP/1.1\r\nHost: 127.0.0.1:" + port
                            + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
                            + Base64.getEncoder().encodeToString(key) + "\r\nSec-WebSocket-Version: 13\r\n\r\n")
                    .getBytes(UTF_8));
            out.flush();
            StringBuilder head = new StringBuilder();
            while (!head.toString().endsWith("\r\n\r\n")) {
                int b = in.read();
                if (b < 0 || head.length() > 4096) throw new EOFException("no handshake answer: " + head);
                head.append((char) b);
            }
            assertThat(head.toString()).startsWith("HTTP/1.1 101");
        }

        void send(String text) throws IOException {
            frame(0x1, text.getBytes(UTF_8));
        }

        private synchronized void frame(int opcode, byte[] payload) throws IOException {
            byte[] mask = new byte[4];
            masks.nextBytes(mask);
            ByteArrayOutputStream f = new ByteArrayOutputStream();
            f.write(0x80 | opcode);
            if (payload.length < 126) {
                f.write(0x80 | payload.length);
            } else if (payload.length < 65536) {
                f.write(0x80 | 126);
                f.write(payload.length >>> 8);
                f.write(payload.length & 0xff);
            } else {
                f.write(0x80 | 127);
                f.write(ByteBuffer.allocate(8).putLong(payload.length).array());
            }
            f.write(mask);
            for (int i = 0; i < payload.length; i++) f.write(payload[i] ^ mask[i % 4]);
            out.write(f.toByteArray());
            out.flush();
        }

        /** The next text message, answering pings on the way; null once the server closed. */
        JsonNode next() throws IOException {
            for (int frames = 0; frames < 100_000; frames++) {
                int b0 = in.read();
                if (b0 < 0) return null;
                int opcode = b0 & 0x0f;
                long length = in.readUnsignedByte() & 0x7f; // server frames are not masked
                if (length == 126) length = in.readUnsignedShort();
                else if (length == 127) length = in.readLong();
                byte[] payload = in.readNBytes((int) length);
                switch (opcode) {
                    case 0x1 -> {
                        return HttpJson.MAPPER.readTree(payload);
                    }
                    case 0x8 -> {
                        return null;
                    }
                    case 0x9 -> {
                        if (answerPings) frame(0xA, payload);
                    }
                    default -> {
                        // pong or continuation: not sent by this server
                    }
                }
            }
            throw new AssertionError("no text message in 100000 frames");
        }

        /** Reads to the end of the stream; returns how many commits arrived. */
        int drain(Duration within) throws IOException {
            long deadline = System.nanoTime() + within.toNanos();
            int commits = 0;
            try {
                for (JsonNode m; (m = next()) != null; ) {
                    if (m.get("type").asString().equals("commit")) commits++;
                    if (System.nanoTime() > deadline) throw new AssertionError("the socket did not end");
                }
            } catch (SocketException e) {
                // reset by the server: the end as well
            }
            return commits;
        }

        @Override
        public void close() {
            try {
                socket.close();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }
}
