package dev.caskade.server;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.Durability;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Authentication (Bearer, Basic) and per-prefix access on every HTTP route: 401 and 403 paths. */
class HttpAuthTest {
    static final Duration TIMEOUT = Duration.ofSeconds(10);

    @TempDir
    Path dir;

    Caskade db;
    HttpServer server;
    final HttpClient client = HttpClient.newBuilder().connectTimeout(TIMEOUT).build();

    @BeforeEach
    void start() {
        db = Caskade.open(dir, CaskadeOptions.defaults().withDurability(Durability.NONE));
        server = HttpServer.start(
                db,
                HttpOptions.defaults().withAddress("127.0.0.1", 0).withKeepAlive(Duration.ofMillis(200)),
                AuthFixture.USERS,
                null);
    }

    @AfterEach
    void stop() {
        client.shutdownNow();
        server.close();
        db.close();
    }

    static String basic(String user, String password) {
        return "Basic " + Base64.getEncoder().encodeToString((user + ":" + password).getBytes(UTF_8));
    }

    static String bearer(String token) {
        return "Bearer " + token;
    }

    private HttpRequest.Builder request(String method, String path, String body, String authorization) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                .timeout(TIMEOUT)
                .method(
                        method,
                        body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (authorization != null) b.header("Authorization", authorization);
        return b;
    }

    private HttpResponse<String> send(String method, String path, String body, String authorization) {
        try {
            return client.send(
                    request(method, path, body, authorization).build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Every route that touches data or the server, as method, path and body. */
    static final List<String[]> ROUTES = List.of(
            new String[] {"GET", "/v1/kv/pub/a", null},
            new String[] {"PUT", "/v1/kv/app/a", "v"},
            new String[] {"DELETE", "/v1/kv/app/a", null},
            new String[] {"GET", "/v1/kv?prefix=app/", null},
            new String[] {"POST", "/v1/txn", "{\"success\":[{\"op\":\"put\",\"key\":\"app/t\",\"value\":\"1\"}]}"},
            new String[] {"GET", "/v1/watch?prefix=app/", null},
            new String[] {"GET", "/v1/digest?prefix=app/", null},
            new String[] {"GET", "/v1/status", null},
            new String[] {"GET", "/metrics", null},
            new String[] {"GET", "/no/such/route", null});

    @Test
    void withoutOrWithWrongCredentialsEveryRouteAnswers401WithAChallenge() {
        List<String> wrong = List.of(
                bearer("cask_not-a-token"),
                bearer(""),
                basic("app", "wrong"),
                basic("nobody", "app-pw"),
                basic("scraper", "wrong"),
                "Basic !!!not-base64!!!",
                "Basic " + Base64.getEncoder().encodeToString("no-colon".getBytes(UTF_8)),
                "Digest username=\"app\"",
                "app-pw");
        for (String[] r : ROUTES) {
            HttpResponse<String> none = send(r[0], r[1], r[2], null);
            assertThat(none.statusCode()).as("%s %s", r[0], r[1]).isEqualTo(401);
            assertThat(none.headers().firstValue("WWW-Authenticate"))
                    .contains("Basic realm=\"caskade\", Bearer realm=\"caskade\"");
            assertThat(none.body()).isEqualTo("{\"error\":\"authentication required\",\"code\":401}");
            for (String auth : wrong) {
                HttpResponse<String> bad = send(r[0], r[1], r[2], auth);
                assertThat(bad.statusCode())
                        .as("%s %s with %s", r[0], r[1], auth)
                        .isEqualTo(401);
                assertThat(bad.body()).contains("invalid credentials");
                assertThat(bad.headers().firstValue("WWW-Authenticate")).isPresent();
            }
        }
        assertThat(db.revision()).as("nothing was written").isZero();
    }

    @Test
    void healthAndReadinessStayOpen() {
        assertThat(send("GET", "/healthz", null, null).statusCode()).isEqualTo(200);
        assertThat(send("GET", "/readyz", null, null).statusCode()).isEqualTo(200);
    }

    @Test
    void bearerAndBasicBothLogIn() {
        assertThat(send("PUT", "/v1/kv/app/a", "1", bearer(AuthFixture.APP_TOKEN))
                        .statusCode())
                .isEqualTo(200);
        assertThat(send("GET", "/v1/kv/app/a", null, basic("app", "app-pw")).body())
                .isEqualTo("1");
        assertThat(send("GET", "/v1/kv/app/a", null, basic("app", AuthFixture.APP_TOKEN))
                        .statusCode())
                .as("Basic with the token as password")
                .isEqualTo(200);
        // the scheme is case-insensitive
        assertThat(send("GET", "/v1/kv/app/a", null, "bearer " + AuthFixture.APP_TOKEN)
                        .statusCode())
                .isEqualTo(200);
        // a repeated Basic login is answered from the cache of verified passwords, and still right
        for (int i = 0; i < 3; i++) {
            assertThat(send("GET", "/v1/kv/app/a", null, basic("app", "app-pw")).statusCode())
                    .isEqualTo(200);
            assertThat(send("GET", "/v1/kv/app/a", null, basic("app", "app-pw2"))
                            .statusCode())
                    .isEqualTo(401);
        }
    }

    @Test
    void rulesDeny403OnKeys() {
        db.put("pub/a", "p");
        db.put("app/secret/s", "s");
        db.put("other", "o");
        String app = bearer(AuthFixture.APP_TOKEN);
        assertThat(send("GET", "/v1/kv/pub/a", null, app).statusCode()).isEqualTo(200);
        for (String[] r : List.of(
                new String[] {"PUT", "/v1/kv/pub/a", "x"},
                new String[] {"DELETE", "/v1/kv/pub/a", null},
                new String[] {"GET", "/v1/kv/other", null},
                new String[] {"GET", "/v1/kv/no-such-key", null},
                new String[] {"GET", "/v1/kv/app/secret/s", null},
                new String[] {"PUT", "/v1/kv/app/secret/s", "x"},
                new String[] {"PUT", "/v1/kv/app%2Fsecret%2Fs", "x"},
                new String[] {"POST", "/v1/kv/pub/a", "x"})) {
            HttpResponse<String> res = send(r[0], r[1], r[2], app);
            assertThat(res.statusCode()).as("%s %s", r[0], r[1]).isEqualTo(403);
            assertThat(res.body()).startsWith("{\"error\":\"user app may not ").endsWith("\"code\":403}");
        }
        assertThat(send("PUT", "/v1/kv/x", "1", bearer(AuthFixture.SCRAPER_TOKEN))
                        .statusCode())
                .isEqualTo(403);
        assertThat(db.get("pub/a").orElseThrow().valueString()).isEqualTo("p");
        assertThat(db.get("app/secret/s").orElseThrow().valueString()).isEqualTo("s");
        assertThat(db.get("x")).isEmpty();
    }

    @Test
    void listWatchAndDigestNeedReadOnEveryKeyUnderThePrefix() throws Exception {
        db.put("app/1", "v");
        String app = bearer(AuthFixture.APP_TOKEN);
        // app/ holds app/secret/ (none): the whole prefix is not readable
        for (String path : List.of(
                "/v1/kv?prefix=app/",
                "/v1/kv",
                "/v1/kv?prefix=ot",
                "/v1/watch?prefix=app/",
                "/v1/watch",
                "/v1/watch?prefix=app/secret/&snapshot=true",
                "/v1/digest?prefix=app/",
                "/v1/digest")) {
            HttpResponse<String> res = send("GET", path, null, app);
            assertThat(res.statusCode()).as(path).isEqualTo(403);
            assertThat(res.body()).contains("may not read every key under the prefix");
        }
        assertThat(send("GET", "/v1/kv?prefix=app/1", null, app).statusCode()).isEqualTo(200);
        assertThat(send("GET", "/v1/kv?prefix=pub/", null, app).statusCode()).isEqualTo(200);
        assertThat(send("GET", "/v1/digest?prefix=pub/", null, app).statusCode())
                .isEqualTo(200);
        assertThat(send("GET", "/v1/kv?prefix=app/", null, basic("admin", "admin-pw"))
                        .body())
                .contains("\"key\":\"app/1\"");
        // a permitted watch streams
        HttpResponse<InputStream> watch = client.send(
                request("GET", "/v1/watch?prefix=pub/&from=0", null, app).build(),
                HttpResponse.BodyHandlers.ofInputStream());
        try {
            assertThat(watch.statusCode()).isEqualTo(200);
            assertThat(watch.headers().firstValue("Content-Type"))
                    .hasValueSatisfying(v -> assertThat(v).startsWith("text/event-stream"));
        } finally {
            watch.body().close();
        }
    }

    @Test
    void aTransactionNeedsReadOnItsComparesAndWriteOnTheOpsOfBothBranches() {
        db.put("other", "o");
        String app = bearer(AuthFixture.APP_TOKEN);
        for (String body : List.of(
                "{\"compare\":[{\"key\":\"other\",\"revision\":1}],"
                        + "\"success\":[{\"op\":\"put\",\"key\":\"app/t\",\"value\":\"1\"}]}",
                "{\"success\":[{\"op\":\"put\",\"key\":\"app/t\",\"value\":\"1\"},"
                        + "{\"op\":\"put\",\"key\":\"pub/t\",\"value\":\"1\"}]}",
                "{\"compare\":[{\"key\":\"app/t\",\"revision\":0}],"
                        + "\"success\":[{\"op\":\"put\",\"key\":\"app/t\",\"value\":\"1\"}],"
                        + "\"failure\":[{\"op\":\"delete\",\"key\":\"other\"}]}")) {
            HttpResponse<String> res = send("POST", "/v1/txn", body, app);
            assertThat(res.statusCode()).as(body).isEqualTo(403);
        }
        assertThat(db.get("app/t")).isEmpty();
        HttpResponse<String> ok = send(
                "POST",
                "/v1/txn",
                "{\"compare\":[{\"key\":\"pub/t\",\"revision\":0}],"
                        + "\"success\":[{\"op\":\"put\",\"key\":\"app/t\",\"value\":\"1\"}]}",
                app);
        assertThat(ok.statusCode()).as(ok.body()).isEqualTo(200);
        assertThat(ok.body()).contains("\"succeeded\":true");
    }

    @Test
    void statusAndMetricsNeedOnlyALogin() {
        String scraper = bearer(AuthFixture.SCRAPER_TOKEN);
        assertThat(send("GET", "/v1/status", null, scraper).statusCode()).isEqualTo(200);
        assertThat(send("GET", "/metrics", null, scraper).statusCode()).isEqualTo(200);
        assertThat(send("GET", "/no/such/route", null, scraper).statusCode()).isEqualTo(404);
        assertThat(send("GET", "/v1/kv/x", null, scraper).statusCode()).isEqualTo(403);
    }

    @Test
    void webSocketNeedsCredentialsAndEachWatchNeedsReadOnItsPrefix() throws Exception {
        URI uri = URI.create("ws://127.0.0.1:" + server.port() + WatchSocket.PATH);
        // no credentials: the upgrade is refused with 401
        var refused = client.newWebSocketBuilder()
                .connectTimeout(TIMEOUT)
                .buildAsync(uri, new java.net.http.WebSocket.Listener() {});
        assertThat(refused)
                .failsWithin(TIMEOUT)
                .withThrowableThat()
                .havingRootCause()
                .withMessageContaining("401");

        java.util.concurrent.BlockingQueue<String> got = new java.util.concurrent.LinkedBlockingQueue<>();
        java.net.http.WebSocket ws = client.newWebSocketBuilder()
                .header("Authorization", bearer(AuthFixture.APP_TOKEN))
                .buildAsync(uri, new java.net.http.WebSocket.Listener() {
                    @Override
                    public java.util.concurrent.CompletionStage<?> onText(
                            java.net.http.WebSocket w, CharSequence data, boolean last) {
                        got.add(data.toString());
                        w.request(1);
                        return null;
                    }
                })
                .get(10, java.util.concurrent.TimeUnit.SECONDS);
        try {
            // app may not read everything under app/ (app/secret/ is denied), nor under other/
            for (String prefix : List.of("app/", "other/", "")) {
                ws.sendText("{\"op\":\"watch\",\"id\":\"w\",\"prefix\":\"" + prefix + "\"}", true)
                        .get(10, java.util.concurrent.TimeUnit.SECONDS);
                String m = got.poll(10, java.util.concurrent.TimeUnit.SECONDS);
                assertThat(m).as(prefix).contains("\"type\":\"error\"").contains("may not read");
            }
            ws.sendText("{\"op\":\"watch\",\"id\":\"w\",\"prefix\":\"pub/\"}", true)
                    .get(10, java.util.concurrent.TimeUnit.SECONDS);
            assertThat(got.poll(10, java.util.concurrent.TimeUnit.SECONDS)).contains("\"type\":\"watching\"");
            db.put("pub/x", "1");
            assertThat(got.poll(10, java.util.concurrent.TimeUnit.SECONDS))
                    .contains("\"type\":\"commit\"")
                    .contains("pub/x");
        } finally {
            ws.abort();
        }
    }
}
