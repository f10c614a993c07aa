package dev.caskade.cli;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.function.LongPredicate;

/**
 * A webhook receiver on loopback (the JDK's HttpServer) whose behaviour a test switches: answer 2xx, fail with 500,
 * stall past the adapter's timeout (then process the request anyway, as a slow real receiver would), or refuse
 * with 400. It de-duplicates by {@code Idempotency-Key} like a careful receiver: {@link #processed()} holds each key's
 * first body, in the order they were processed.
 */
final class WebhookReceiver implements AutoCloseable {
    enum Mode {
        OK,
        FAIL,
        STALL,
        REFUSE
    }

    /** One request as it arrived. */
    record Attempt(long revision, String key, long atNanos, Mode answeredWith) {}

    private final HttpServer server;
    private final long stallMillis;
    private volatile Mode mode = Mode.OK;
    /** Revisions refused (400) whatever the mode, while present. */
    private volatile LongPredicate refuse = r -> false;

    private final List<Attempt> attempts = new ArrayList<>();
    private final Map<String, String> processed = new LinkedHashMap<>();
    private final List<Long> processedRevisions = new ArrayList<>();

    WebhookReceiver(long stallMillis) throws IOException {
        this.stallMillis = stallMillis;
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor()); // a stalled request holds no other
        server.createContext("/hook", ex -> {
            String body;
            try (InputStream in = ex.getRequestBody()) {
                body = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            }
            String key = ex.getRequestHeaders().getFirst("Idempotency-Key");
            long revision = Long.parseLong(ex.getRequestHeaders().getFirst("Caskade-Revision"));
            Mode m = refuse.test(revision) ? Mode.REFUSE : mode;
            synchronized (this) {
                attempts.add(new Attempt(revision, key, System.nanoTime(), m));
            }
            int status = switch (m) {
                case OK -> {
                    process(key, revision, body);
                    yield 204;
                }
                case FAIL -> 500;
                case REFUSE -> 400;
                case STALL -> {
                    try {
                        Thread.sleep(stallMillis);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                    process(key, revision, body); // done, but the answer comes too late
                    yield 200;
                }
            };
            try {
                ex.sendResponseHeaders(status, -1);
            } catch (IOException gone) {
                // the adapter gave up on us
            }
            ex.close();
        });
        server.start();
    }

    private synchronized void process(String key, long revision, String body) {
        if (processed.putIfAbsent(key, body) == null) processedRevisions.add(revision);
    }

    URI url() {
        return URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/hook");
    }

    void mode(Mode m) {
        mode = m;
    }

    void refuse(LongPredicate which) {
        refuse = which;
    }

    synchronized List<Attempt> attempts() {
        return List.copyOf(attempts);
    }

    synchronized int attemptCount() {
        return attempts.size();
    }

    /** Revisions in the order first processed (each key once). */
    synchronized List<Long> processedRevisions() {
        return List.copyOf(processedRevisions);
    }

    synchronized Map<String, String> processed() {
        return new LinkedHashMap<>(processed);
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
