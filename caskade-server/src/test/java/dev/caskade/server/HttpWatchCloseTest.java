package dev.caskade.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Subscribers that go away must not stall the server. Found by {@code bench/fanout.sh}: closing 1,000 idle event
 * streams kept every HTTP event loop busy for about 20 s, during which an unrelated {@code GET /healthz} waited 20 s.
 * {@code SseStream} ends its watch from the channel's close listener, which runs on the event loop, and {@code
 * Watch.close()} joined the watch thread, which noticed the end only when its {@code poll(100 ms)} timed out: up to
 * 100 ms of a blocked event loop per closed subscriber, one after another. Fixed by waking the watch thread at once
 * and closing off the event loop.
 */
@Timeout(120)
class HttpWatchCloseTest {
    private static final int SUBSCRIBERS = 400;

    @TempDir
    Path dir;

    @Test
    void closingManySubscribersDoesNotStallOtherRequests() throws Exception {
        try (HttpFixture http = new HttpFixture(dir)) {
            assertThat(http.get("/healthz").statusCode()).isEqualTo(200); // the client is connected and warm
            List<Socket> subscribers = new ArrayList<>();
            try {
                for (int i = 0; i < SUBSCRIBERS; i++) subscribers.add(subscribe(http.server.port()));
                // the head goes out before the watch is registered
                await().atMost(Duration.ofSeconds(30))
                        .until(() -> http.db.stats().watches() == SUBSCRIBERS);
            } finally {
                for (Socket s : subscribers) s.close();
            }
            long start = System.nanoTime();
            HttpResponse<byte[]> health = http.send(HttpRequest.newBuilder(http.uri("/healthz")));
            long millis = (System.nanoTime() - start) / 1_000_000;
            assertThat(health.statusCode()).isEqualTo(200);
            assertThat(millis)
                    .as("GET /healthz right after %d subscribers went away took %d ms", SUBSCRIBERS, millis)
                    .isLessThan(500);
        }
    }

    /** A raw connection that asks for an event stream and reads its head, then only waits. */
    private static Socket subscribe(int port) throws IOException {
        Socket s = new Socket();
        s.connect(new InetSocketAddress("127.0.0.1", port), 5_000);
        s.setSoTimeout(10_000);
        s.getOutputStream()
                .write("GET /v1/watch?prefix=w/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
                        .getBytes(StandardCharsets.US_ASCII));
        byte[] head = new byte[12];
        InputStream in = s.getInputStream();
        int n = 0;
        while (n < head.length) {
            int r = in.read(head, n, head.length - n);
            if (r < 0) throw new IOException("closed before the head");
            n += r;
        }
        assertThat(new String(head, StandardCharsets.US_ASCII)).isEqualTo("HTTP/1.1 200");
        return s;
    }
}
