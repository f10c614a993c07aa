package dev.caskade.server;

import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.Durability;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.UnaryOperator;
import tools.jackson.databind.JsonNode;

/** A store in a temporary directory with an HTTP server on a free loopback port, and a client for it. */
final class HttpFixture implements AutoCloseable {
    static final Duration TIMEOUT = Duration.ofSeconds(10);

    final Caskade db;
    final HttpServer server;
    final HttpClient client = HttpClient.newBuilder().connectTimeout(TIMEOUT).build();

    HttpFixture(Path dir) {
        this(dir, CaskadeOptions.defaults().withDurability(Durability.NONE), opts -> opts);
    }

    HttpFixture(Path dir, CaskadeOptions storeOptions, UnaryOperator<HttpOptions> tune) {
        db = Caskade.open(dir, storeOptions);
        server = HttpServer.start(
                db,
                tune.apply(HttpOptions.defaults().withAddress("127.0.0.1", 0).withKeepAlive(Duration.ofMillis(200))));
    }

    URI uri(String pathAndQuery) {
        return URI.create("http://127.0.0.1:" + server.port() + pathAndQuery);
    }

    HttpResponse<byte[]> send(HttpRequest.Builder request) {
        try {
            return client.send(request.timeout(TIMEOUT).build(), HttpResponse.BodyHandlers.ofByteArray());
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    HttpResponse<byte[]> get(String path) {
        return send(HttpRequest.newBuilder(uri(path)).GET());
    }

    HttpResponse<byte[]> put(String path, String body) {
        return send(HttpRequest.newBuilder(uri(path)).PUT(HttpRequest.BodyPublishers.ofString(body)));
    }

    HttpResponse<byte[]> delete(String path) {
        return send(HttpRequest.newBuilder(uri(path)).DELETE());
    }

    HttpResponse<byte[]> post(String path, String json) {
        return send(HttpRequest.newBuilder(uri(path))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json)));
    }

    static JsonNode json(HttpResponse<byte[]> response) {
        return HttpJson.MAPPER.readTree(response.body());
    }

    static String text(HttpResponse<byte[]> response) {
        return new String(response.body(), StandardCharsets.UTF_8);
    }

    /** Opens {@code GET path} as an event stream, optionally resuming after {@code lastEventId}. */
    SseClient watch(String path, Long lastEventId) {
        return new SseClient(uri(path), lastEventId, new CountDownLatch(0));
    }

    /** Like {@link #watch(String, Long)}, but reads nothing until {@code gate} opens: a stalled client. */
    SseClient watch(String path, Long lastEventId, CountDownLatch gate) {
        return new SseClient(uri(path), lastEventId, gate);
    }

    @Override
    public void close() {
        client.shutdownNow();
        server.close();
        db.close();
    }

    /** One Server-Sent Event. */
    record SseEvent(String id, String event, String data) {
        JsonNode json() {
            return HttpJson.MAPPER.readTree(data);
        }
    }

    /**
     * A minimal SSE reader on the JDK client: a thread parses lines into events; {@link #close()} drops the
     * connection (its own client, shut down), as a browser tab going away would.
     */
    static final class SseClient implements AutoCloseable {
        private static final SseEvent EOF = new SseEvent(null, "<eof>", null);

        final HttpResponse<InputStream> response;
        final AtomicInteger comments = new AtomicInteger();
        private final HttpClient client =
                HttpClient.newBuilder().connectTimeout(TIMEOUT).build();
        private final BlockingQueue<SseEvent> events = new LinkedBlockingQueue<>();
        private final Thread reader;

        SseClient(URI uri, Long lastEventId, CountDownLatch gate) {
            HttpRequest.Builder b = HttpRequest.newBuilder(uri).header("Accept", "text/event-stream");
            if (lastEventId != null) b.header("Last-Event-ID", Long.toString(lastEventId));
            try {
                response = client.send(b.build(), HttpResponse.BodyHandlers.ofInputStream());
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
            reader = Thread.ofVirtual().start(() -> {
                try {
                    gate.await();
                } catch (InterruptedException e) {
                    return;
                }
                read();
            });
        }

        private void read() {
            try (BufferedReader in =
                    new BufferedReader(new InputStreamReader(response.body(), StandardCharsets.UTF_8))) {
                String id = null;
                String event = null;
                StringBuilder data = new StringBuilder();
                for (String line; (line = in.readLine()) != null; ) {
                    if (line.isEmpty()) {
                        if (event != null || !data.isEmpty()) events.add(new SseEvent(id, event, data.toString()));
                        id = null;
                        event = null;
                        data.setLength(0);
                    } else if (line.startsWith(":")) {
                        comments.incrementAndGet();
                    } else if (line.startsWith("id: ")) {
                        id = line.substring(4);
                    } else if (line.startsWith("event: ")) {
                        event = line.substring(7);
                    } else if (line.startsWith("data: ")) {
                        data.append(line.substring(6));
                    }
                }
            } catch (IOException e) {
                // the connection was dropped: the same as the end of the stream here
            } finally {
                events.add(EOF);
            }
        }

        /** The next event, or null at the end of the stream; fails after {@code TIMEOUT}. */
        SseEvent next() throws InterruptedException {
            SseEvent e = events.poll(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            if (e == null) throw new AssertionError("no event within " + TIMEOUT);
            if (e != EOF) return e;
            events.add(EOF); // the end stays the end for later calls
            return null;
        }

        @Override
        public void close() {
            client.shutdownNow();
            try {
                response.body().close();
                reader.join(TIMEOUT.toMillis());
            } catch (IOException e) {
                // already gone
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
