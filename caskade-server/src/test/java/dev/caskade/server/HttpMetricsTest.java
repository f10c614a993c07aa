package dev.caskade.server;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import java.net.http.HttpResponse;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** /metrics is Prometheus text with the store's series under caskade_ and the JVM's. */
class HttpMetricsTest {
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
    void exposesStoreAndRequestSeries() throws Exception {
        fx.put("/v1/kv/a", "1");
        fx.put("/v1/kv/b", "2");
        fx.put("/v1/kv/a", "3");
        Thread.sleep(150); // past the stats cache of a scrape
        HttpResponse<byte[]> r = fx.get("/metrics");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("content-type"))
                .hasValueSatisfying(t -> assertThat(t).startsWith("text/plain"));
        String text = new String(r.body(), UTF_8);
        assertThat(text).containsPattern("(?m)^caskade_revision 3\\.0$");
        assertThat(text).containsPattern("(?m)^caskade_keys 2\\.0$");
        assertThat(text).containsPattern("(?m)^caskade_pins_dropped 0\\.0$");
        assertThat(text).containsPattern("(?m)^caskade_http_requests_total [4-9]\\.0$");
        assertThat(text).contains("caskade_dead_bytes", "caskade_watches", "jvm_memory_used_bytes");
        assertThat(fx.send(java.net.http.HttpRequest.newBuilder(fx.uri("/metrics"))
                                .POST(java.net.http.HttpRequest.BodyPublishers.noBody()))
                        .statusCode())
                .isEqualTo(405);
    }
}
