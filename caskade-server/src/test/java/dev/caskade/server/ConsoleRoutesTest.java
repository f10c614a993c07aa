package dev.caskade.server;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.Durability;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The web console's static routes over plain HTTP: content types, caching, 404s, no traversal, no login needed. */
class ConsoleRoutesTest {
    @TempDir
    Path dir;

    HttpFixture fx;

    @BeforeEach
    void start() {
        fx = new HttpFixture(dir);
    }

    @AfterEach
    void stop() {
        fx.close();
    }

    @Test
    void thePageAndItsAssetsWithTheirTypes() {
        HttpResponse<byte[]> page = fx.get("/");
        assertThat(page.statusCode()).isEqualTo(200);
        assertThat(page.headers().firstValue("Content-Type")).hasValue("text/html; charset=utf-8");
        assertThat(HttpFixture.text(page))
                .startsWith("<!doctype html>")
                .contains("<script src=\"/console/app.js\" defer></script>")
                .contains("href=\"/console/app.css\"");
        assertThat(fx.get("/console/index.html").body()).isEqualTo(page.body());

        HttpResponse<byte[]> js = fx.get("/console/app.js");
        assertThat(js.statusCode()).isEqualTo(200);
        assertThat(js.headers().firstValue("Content-Type")).hasValue("text/javascript; charset=utf-8");
        assertThat(HttpFixture.text(js)).contains("/v1/watch");

        HttpResponse<byte[]> css = fx.get("/console/app.css");
        assertThat(css.statusCode()).isEqualTo(200);
        assertThat(css.headers().firstValue("Content-Type")).hasValue("text/css; charset=utf-8");

        for (HttpResponse<byte[]> r : java.util.List.of(page, js, css)) {
            assertThat(r.headers().firstValue("Cache-Control")).hasValue("no-cache");
            assertThat(r.headers().firstValue("X-Content-Type-Options")).hasValue("nosniff");
            assertThat(r.headers().firstValue("Content-Security-Policy"))
                    .hasValueSatisfying(p -> assertThat(p).contains("default-src 'self'"));
            assertThat(r.headers().firstValue("ETag")).isPresent();
            // nothing from another site at run time: no CDN, no fonts, no analytics
            assertThat(HttpFixture.text(r)).doesNotContain("http://", "https://", "//cdn");
        }
    }

    @Test
    void anUnchangedFileIsRevalidatedWith304() {
        HttpResponse<byte[]> js = fx.get("/console/app.js");
        String etag = js.headers().firstValue("ETag").orElseThrow();
        HttpResponse<byte[]> again =
                fx.send(HttpRequest.newBuilder(fx.uri("/console/app.js")).header("If-None-Match", etag));
        assertThat(again.statusCode()).isEqualTo(304);
        assertThat(again.body()).isEmpty();
        HttpResponse<byte[]> other =
                fx.send(HttpRequest.newBuilder(fx.uri("/console/app.js")).header("If-None-Match", "\"other\""));
        assertThat(other.statusCode()).isEqualTo(200);
        assertThat(other.body()).isEqualTo(js.body());
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "/console/",
                "/console/nope.js",
                "/console/app.jsx",
                "/console/app.java",
                "/console/.app.js",
                "/console/sub/app.js",
                "/console/../console/app.js",
                "/console/..%2fHttpApi.class",
                "/console/%2e%2e/%2e%2e/logback-test.xml",
                "/console/..\\..\\Console.class",
                "/console/app.js%00.css",
                "/console/Console.class",
                "/console//etc/passwd"
            })
    void unknownFilesAndTraversalAre404(String path) throws IOException {
        // a raw request line, so that no client normalizes the path first
        String reply = raw("GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assertThat(reply)
                .startsWith("HTTP/1.1 404 ")
                .contains("application/json")
                .contains("no console file");
    }

    @Test
    void onlyGet() {
        HttpResponse<byte[]> post = fx.post("/", "{}");
        assertThat(post.statusCode()).isEqualTo(405);
        assertThat(post.headers().firstValue("Allow")).hasValue("GET");
        assertThat(fx.put("/console/app.js", "x").statusCode()).isEqualTo(405);
    }

    @Test
    void staticFilesNeedNoLoginButTheApiDoes() {
        try (Caskade db = Caskade.open(
                        dir.resolve("users"), CaskadeOptions.defaults().withDurability(Durability.NONE));
                HttpServer server = HttpServer.start(
                        db, HttpOptions.defaults().withAddress("127.0.0.1", 0), AuthFixture.USERS, null)) {
            var client = java.net.http.HttpClient.newHttpClient();
            try {
                for (String path : new String[] {"/", "/console/app.js", "/console/app.css"}) {
                    HttpResponse<String> r = client.send(
                            HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:" + server.port() + path))
                                    .timeout(Duration.ofSeconds(10))
                                    .build(),
                            HttpResponse.BodyHandlers.ofString());
                    assertThat(r.statusCode()).as(path).isEqualTo(200);
                }
                HttpResponse<String> status = client.send(
                        HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:" + server.port() + "/v1/status"))
                                .timeout(Duration.ofSeconds(10))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
                assertThat(status.statusCode()).isEqualTo(401);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            } finally {
                client.shutdownNow();
            }
        }
    }

    private String raw(String request) throws IOException {
        try (Socket s = new Socket("127.0.0.1", fx.server.port())) {
            s.setSoTimeout(10_000);
            OutputStream out = s.getOutputStream();
            out.write(request.getBytes(UTF_8));
            out.flush();
            InputStream in = s.getInputStream();
            return new String(in.readAllBytes(), UTF_8);
        }
    }
}
