package dev.caskade.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.caskade.CaskadeOptions;
import dev.caskade.Durability;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** HTTP on the wire: malformed and oversized requests, slow clients, pipelining. */
class HttpProtocolTest {
    @TempDir
    Path dir;

    HttpFixture http;

    @BeforeEach
    void start() {
        http = new HttpFixture(
                dir,
                CaskadeOptions.defaults().withDurability(Durability.NONE),
                o -> o.withMaxRequestBytes(4096).withTimeouts(Duration.ofSeconds(30), Duration.ofMillis(500)));
    }

    @AfterEach
    void stop() {
        http.close();
    }

    /** Sends raw bytes and reads until the server closes the connection (or 5 s pass). */
    private String exchange(String raw) throws IOException {
        try (Socket s = new Socket("127.0.0.1", http.server.port())) {
            s.setSoTimeout(5000);
            s.getOutputStream().write(raw.getBytes(StandardCharsets.ISO_8859_1));
            s.getOutputStream().flush();
            return readToEnd(s.getInputStream());
        }
    }

    private static String readToEnd(InputStream in) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[4096];
        try {
            for (int n; (n = in.read(buf)) >= 0; ) out.write(buf, 0, n);
        } catch (SocketTimeoutException e) {
            throw new AssertionError("server did not close the connection; got: " + out, e);
        }
        return out.toString(StandardCharsets.ISO_8859_1);
    }

    @Test
    void malformedRequestsGet400AndTheServerKeepsServing() throws IOException {
        for (String garbage : List.of(
                "GARBAGE\r\n\r\n",
                "GET /healthz HTTP/9.x\r\n\r\n",
                "GET /healthz HTTP/1.1\r\nNo colon here\r\n\r\n",
                "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
                "GET /v1/kv/bad%G1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) {
            String answer = exchange(garbage);
            assertThat(answer).as(garbage).startsWith("HTTP/1.1 400");
            assertThat(answer).as(garbage).contains("\"code\":400");
        }
        assertThat(http.get("/healthz").statusCode()).isEqualTo(200);
    }

    @Test
    void tooLargeRequestGets413() {
        HttpResponse<byte[]> r = http.send(HttpRequest.newBuilder(http.uri("/v1/kv/big"))
                .PUT(HttpRequest.BodyPublishers.ofByteArray(new byte[8192])));
        assertThat(r.statusCode()).isEqualTo(413);
        assertThat(HttpFixture.json(r).get("code").asInt()).isEqualTo(413);
        assertThat(http.db.get("big")).isEmpty();
        assertThat(http.put("/v1/kv/small", "fits").statusCode()).isEqualTo(200);
    }

    @Test
    void slowRequestIsCutOffAtTheHeaderTimeout() throws IOException {
        long start = System.nanoTime();
        try (Socket s = new Socket("127.0.0.1", http.server.port())) {
            s.setSoTimeout(5000);
            s.getOutputStream().write("GET /healthz HTTP/1.1\r\nHost: x\r\n".getBytes(StandardCharsets.US_ASCII));
            s.getOutputStream().flush();
            assertThat(readToEnd(s.getInputStream())).isEmpty();
        }
        assertThat(Duration.ofNanos(System.nanoTime() - start))
                .isBetween(Duration.ofMillis(400), Duration.ofSeconds(4));
        assertThat(http.get("/healthz").statusCode()).isEqualTo(200);
    }

    @Test
    void idleKeepAliveConnectionIsClosed() throws IOException {
        http.close();
        http = new HttpFixture(
                dir,
                CaskadeOptions.defaults().withDurability(Durability.NONE),
                o -> o.withTimeouts(Duration.ofMillis(300), Duration.ofSeconds(10)));
        long start = System.nanoTime();
        String answer = exchange("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        assertThat(answer).startsWith("HTTP/1.1 200").endsWith("{\"status\":\"ok\"}");
        assertThat(Duration.ofNanos(System.nanoTime() - start))
                .isBetween(Duration.ofMillis(250), Duration.ofSeconds(4));
    }

    @Test
    void aTakenPortFailsClearlyAndTheFirstServerKeepsServing() {
        HttpOptions same = HttpOptions.defaults().withAddress("127.0.0.1", http.server.port());
        assertThatThrownBy(() -> HttpServer.start(http.db, same))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("127.0.0.1:" + http.server.port());
        assertThat(http.get("/healthz").statusCode()).isEqualTo(200);
    }

    @Test
    void pipelinedRequestsAreAnsweredInOrder() throws IOException {
        StringBuilder raw = new StringBuilder();
        for (int i = 0; i < 20; i++) {
            String body = "v" + i;
            raw.append("PUT /v1/kv/k")
                    .append(i)
                    .append(" HTTP/1.1\r\nHost: x\r\nContent-Length: ")
                    .append(body.length())
                    .append("\r\n\r\n")
                    .append(body);
        }
        raw.append("GET /v1/kv/k19 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        String answer = exchange(raw.toString());
        for (int i = 1; i <= 20; i++) assertThat(answer).contains("{\"revision\":" + i + "}");
        int last = -1;
        for (int i = 1; i <= 20; i++) {
            int at = answer.indexOf("{\"revision\":" + i + "}");
            assertThat(at).isGreaterThan(last);
            last = at;
        }
        assertThat(answer).endsWith("v19");
        assertThat(http.db.revision()).isEqualTo(20);
    }
}
