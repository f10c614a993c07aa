package dev.caskade.cli;

import static dev.caskade.cli.Invocation.run;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The remote client against a scripted stand-in server (the JDK's), for what a real server does only under
 * conditions a test cannot cheaply make: refused credentials, dropped event streams, overflow, compaction.
 */
@Timeout(60)
class RemoteStoreTest {

    /** What the stand-in saw of each request: method, path with query, Authorization, Last-Event-ID. */
    record Seen(String method, String target, String authorization, String lastEventId) {}

    private final BlockingQueue<Seen> seen = new LinkedBlockingQueue<>();
    private final CountDownLatch release = new CountDownLatch(1);
    private HttpServer http;

    private String serve(Map<String, Handler> routes) throws IOException {
        http = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        http.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        http.createContext("/", exchange -> {
            try (exchange) {
                String path = exchange.getRequestURI().getRawPath();
                seen.add(new Seen(
                        exchange.getRequestMethod(),
                        exchange.getRequestURI().getRawPath()
                                + (exchange.getRequestURI().getRawQuery() == null
                                        ? ""
                                        : "?" + exchange.getRequestURI().getRawQuery()),
                        exchange.getRequestHeaders().getFirst("Authorization"),
                        exchange.getRequestHeaders().getFirst("Last-Event-ID")));
                Handler h = routes.get(path);
                if (h == null) reply(exchange, 404, "{\"error\":\"no route for " + path + "\",\"code\":404}");
                else h.handle(exchange);
            }
        });
        http.start();
        return "http://127.0.0.1:" + http.getAddress().getPort();
    }

    @AfterEach
    void stop() {
        release.countDown();
        if (http != null) http.stop(0);
    }

    interface Handler {
        void handle(HttpExchange exchange) throws IOException;
    }

    private static void reply(HttpExchange exchange, int status, String json) throws IOException {
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", "application/json");
        exchange.sendResponseHeaders(status, body.length);
        exchange.getResponseBody().write(body);
    }

    /** Starts an event stream and writes {@code events} (already in SSE text form) to it. */
    private static OutputStream events(HttpExchange exchange, String... events) throws IOException {
        exchange.getResponseHeaders().set("Content-Type", "text/event-stream");
        exchange.sendResponseHeaders(200, 0);
        OutputStream out = exchange.getResponseBody();
        for (String e : events) out.write(e.getBytes(StandardCharsets.UTF_8));
        out.flush();
        return out;
    }

    private static String commit(long revision, String key, String value) {
        return "id: " + revision + "\nevent: commit\ndata: {\"revision\":" + revision
                + ",\"timestamp\":1,\"changes\":[{\"type\":\"put\",\"key\":\"" + key + "\",\"value\":\"" + value
                + "\"}]}\n\n";
    }

    @Test
    void credentialsAreSentAndRefusalsExitWith77() throws Exception {
        String url = serve(Map.of("/v1/kv/k", exchange -> {
            String auth = exchange.getRequestHeaders().getFirst("Authorization");
            if (auth == null) reply(exchange, 401, "{\"error\":\"authentication required\",\"code\":401}");
            else if (auth.equals("Bearer good")) reply(exchange, 403, "{\"error\":\"not allowed\",\"code\":403}");
            else reply(exchange, 500, "{\"error\":\"boom\",\"code\":500}");
        }));

        Invocation none = run("get", "--server", url, "k");
        assertThat(none.code()).as("%s", none).isEqualTo(Main.NO_PERMISSION);
        assertThat(none.err())
                .isEqualTo("caskade: " + url + " wants credentials (401: authentication required); give --token or"
                        + " --user (or CASKADE_TOKEN)\n");
        assertThat(seen.poll().authorization()).isNull();

        Invocation token = run("get", "--server", url, "--token", "good", "k");
        assertThat(token.code()).as("%s", token).isEqualTo(Main.NO_PERMISSION);
        assertThat(token.err()).isEqualTo("caskade: " + url + " refused the request (403: not allowed)\n");
        assertThat(seen.poll().authorization()).isEqualTo("Bearer good");

        Invocation user = run("get", "--server", url, "--user", "ann:s3cret:x", "k");
        assertThat(user.code()).as("%s", user).isEqualTo(Main.FAILED);
        assertThat(user.err()).isEqualTo("caskade: " + url + " answered 500: boom\n");
        assertThat(seen.poll().authorization()).isEqualTo("Basic YW5uOnMzY3JldDp4"); // ann:s3cret:x
    }

    @Test
    void watchResumesAfterADroppedStreamAndAnOverflowWithoutGapOrDuplicate() throws Exception {
        List<String> lastEventIds = new CopyOnWriteArrayList<>();
        int[] connection = {0};
        String url = serve(Map.of("/v1/watch", exchange -> {
            lastEventIds.add(String.valueOf(exchange.getRequestHeaders().getFirst("Last-Event-ID")));
            switch (connection[0]++) {
                // the connection drops after revision 5
                case 0 -> events(exchange, ": keep-alive\n\n", commit(5, "a", "five"));
                // the reader was too slow: the server names the revision to resume from
                case 1 -> events(exchange, commit(6, "a", "six"), "event: overflow\ndata: {\"resume\":6}\n\n");
                default -> {
                    events(exchange, commit(7, "a", "seven"), commit(8, "a", "eight"));
                    await(release);
                }
            }
        }));
        Invocation r = run("watch", "--server", url, "--from", "4", "--count", "3", "a");
        assertThat(r.code()).as("%s", r).isZero();
        assertThat(r.out()).isEqualTo("5 PUT a five\n6 PUT a six\n7 PUT a seven\n");
        assertThat(r.err())
                .as("%s", r)
                .isEqualTo(
                        "caskade: watch connection lost (the server ended the stream); reconnecting after revision 5\n");
        assertThat(lastEventIds).containsExactly("null", "5", "6");
        assertThat(seen.stream().map(Seen::target).toList())
                .containsExactly("/v1/watch?prefix=a&from=4", "/v1/watch?prefix=a&from=5", "/v1/watch?prefix=a&from=6");
    }

    @Test
    void compactedHistoryAndServerErrorsEndTheWatchLikeEmbeddedMode() throws Exception {
        String url = serve(Map.of(
                "/v1/watch",
                exchange -> events(exchange, "event: compacted\ndata: {\"oldest\":9}\n\n"),
                "/v1/status",
                exchange -> reply(exchange, 200, "{\"revision\":12}")));
        Invocation compacted = run("watch", "--server", url, "--from", "3");
        assertThat(compacted.code()).as("%s", compacted).isEqualTo(Main.FAILED);
        assertThat(compacted.err().lines()).as("%s", compacted).hasSize(1);
        assertThat(compacted.err()).contains("compacted").contains("--from 9");

        // without --from the watch starts at the revision the server has now
        run("watch", "--server", url);
        assertThat(seen.stream().map(Seen::target).toList()).contains("/v1/status", "/v1/watch?prefix=&from=12");
    }

    @Test
    void aServerThatKeepsDroppingIsGivenUpOn() throws Exception {
        // every connection replays revision 1 and ends: nothing new, so every reconnection counts as a failure
        String url = serve(Map.of("/v1/watch", exchange -> events(exchange, commit(1, "k", "v"))));
        StringWriter err = new StringWriter();
        List<Long> delivered = new CopyOnWriteArrayList<>();
        try (RemoteStore store = new RemoteStore(URI.create(url), null, new PrintWriter(err, true), 10)) {
            store.firstPauseMillis = 1;
            assertThatThrownBy(() -> store.watch(
                            new byte[0], 0L, new CompletableFuture<>(), () -> {}, c -> delivered.add(c.revision())))
                    .isInstanceOf(StoreCommand.Failure.class)
                    .hasMessageStartingWith(
                            "lost the watch on " + url + " after revision 1: the server ended the stream")
                    .hasMessageEndingWith("(gave up after " + RemoteStore.RECONNECTS + " reconnections)");
        }
        assertThat(delivered).containsExactly(1L);
        assertThat(err.toString().lines().filter(l -> l.contains("reconnecting after revision 1")))
                .hasSize(RemoteStore.RECONNECTS);
        assertThat(seen).hasSize(RemoteStore.RECONNECTS + 1);
    }

    @Test
    void urlsAndKeysAreEncodedForThePath() {
        assertThat(RemoteStore.parseUrl("127.0.0.1:8479")).isEqualTo(URI.create("http://127.0.0.1:8479"));
        assertThat(RemoteStore.parseUrl("https://db.example:443/base/"))
                .isEqualTo(URI.create("https://db.example:443/base"));
        assertThatThrownBy(() -> RemoteStore.parseUrl("ftp://x")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> RemoteStore.parseUrl("http://x/?q")).isInstanceOf(IllegalArgumentException.class);

        assertThat(RemoteStore.encode("a/b c/ü".getBytes(StandardCharsets.UTF_8), true))
                .isEqualTo("a/b%20c/%C3%BC");
        assertThat(RemoteStore.encode("../x/./y/.z".getBytes(StandardCharsets.UTF_8), true))
                .isEqualTo("%2E%2E/x/%2E/y/.z");
        assertThat(RemoteStore.encode("a/b+c&d=e?f#g%".getBytes(StandardCharsets.UTF_8), false))
                .isEqualTo("a%2Fb%2Bc%26d%3De%3Ff%23g%25");
        assertThat(RemoteStore.encode(new byte[] {(byte) 0xff, 0}, true)).isEqualTo("%FF%00");
    }

    private static void await(CountDownLatch latch) {
        try {
            latch.await(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
