package dev.caskade.server;

import java.time.Duration;
import java.util.Objects;

/**
 * Settings of the HTTP/JSON front.
 *
 * @param bind the address to listen on
 * @param port the port; 0 picks a free one
 * @param maxRequestBytes the largest request (headers and body) accepted; larger ones get 413
 * @param idleTimeout a connection with no traffic for this long is closed
 * @param headerTimeout a request must arrive completely within this long after its first byte (slowloris)
 * @param keepAlive how often an event stream sends a {@code : keep-alive} comment, and a WebSocket a ping
 * @param snapshotChunk keys per {@code snapshot} event of a watch with {@code snapshot=true}
 * @param webSocket the limits of one {@code GET /v1/ws} socket
 */
public record HttpOptions(
        String bind,
        int port,
        int maxRequestBytes,
        Duration idleTimeout,
        Duration headerTimeout,
        Duration keepAlive,
        int snapshotChunk,
        WebSocketLimits webSocket) {

    /**
     * The limits of one WebSocket ({@code GET /v1/ws}).
     *
     * @param maxFrameBytes the largest message a client may send; a larger one closes the socket (1009)
     * @param maxWatches how many watches one socket may hold open at once
     * @param bufferBytes outbound bytes a socket may have queued: beyond this its watches wait (their own
     *     bounded buffers then overflow, never slowing writers) and it reads no more requests until half drained
     */
    public record WebSocketLimits(int maxFrameBytes, int maxWatches, int bufferBytes) {
        /** Validates every field. */
        public WebSocketLimits {
            if (maxFrameBytes < 1024) throw new IllegalArgumentException("maxFrameBytes must be >= 1024");
            if (maxWatches < 1) throw new IllegalArgumentException("maxWatches must be >= 1");
            if (bufferBytes < 1024) throw new IllegalArgumentException("bufferBytes must be >= 1024");
        }

        /** 1 MiB messages, 64 watches, 4 MiB of queued output. */
        public static WebSocketLimits defaults() {
            return new WebSocketLimits(1 << 20, 64, 4 << 20);
        }
    }

    /** Room for a maximal value plus its key and headers. */
    public static final int DEFAULT_MAX_REQUEST_BYTES = (64 << 20) + (1 << 20);

    /** Validates every field. */
    public HttpOptions {
        Objects.requireNonNull(bind, "bind");
        if (bind.isBlank()) throw new IllegalArgumentException("bind address must not be blank");
        if (port < 0 || port > 65535) throw new IllegalArgumentException("port out of range: " + port);
        if (maxRequestBytes < 1024) throw new IllegalArgumentException("maxRequestBytes must be >= 1024");
        positive(idleTimeout, "idleTimeout");
        positive(headerTimeout, "headerTimeout");
        positive(keepAlive, "keepAlive");
        if (snapshotChunk < 1) throw new IllegalArgumentException("snapshotChunk must be >= 1");
        Objects.requireNonNull(webSocket, "webSocket");
    }

    private static void positive(Duration d, String name) {
        Objects.requireNonNull(d, name);
        if (d.isNegative() || d.isZero()) throw new IllegalArgumentException(name + " must be positive: " + d);
    }

    /**
     * Loopback, port 8479, 65 MiB requests, 5 min idle, 10 s header timeout, 15 s keep-alive, WebSocket
     * {@link WebSocketLimits#defaults()}.
     */
    public static HttpOptions defaults() {
        return new HttpOptions(
                "127.0.0.1",
                8479,
                DEFAULT_MAX_REQUEST_BYTES,
                Duration.ofMinutes(5),
                Duration.ofSeconds(10),
                Duration.ofSeconds(15),
                1000,
                WebSocketLimits.defaults());
    }

    /** A copy listening on {@code bind}:{@code port}. */
    public HttpOptions withAddress(String bind, int port) {
        return new HttpOptions(
                bind, port, maxRequestBytes, idleTimeout, headerTimeout, keepAlive, snapshotChunk, webSocket);
    }

    /** A copy with another request size limit. */
    public HttpOptions withMaxRequestBytes(int maxRequestBytes) {
        return new HttpOptions(
                bind, port, maxRequestBytes, idleTimeout, headerTimeout, keepAlive, snapshotChunk, webSocket);
    }

    /** A copy with other idle and header timeouts. */
    public HttpOptions withTimeouts(Duration idleTimeout, Duration headerTimeout) {
        return new HttpOptions(
                bind, port, maxRequestBytes, idleTimeout, headerTimeout, keepAlive, snapshotChunk, webSocket);
    }

    /** A copy with another keep-alive period for event streams. */
    public HttpOptions withKeepAlive(Duration keepAlive) {
        return new HttpOptions(
                bind, port, maxRequestBytes, idleTimeout, headerTimeout, keepAlive, snapshotChunk, webSocket);
    }

    /** A copy with another number of keys per snapshot event. */
    public HttpOptions withSnapshotChunk(int snapshotChunk) {
        return new HttpOptions(
                bind, port, maxRequestBytes, idleTimeout, headerTimeout, keepAlive, snapshotChunk, webSocket);
    }

    /** A copy with other WebSocket limits. */
    public HttpOptions withWebSocket(WebSocketLimits webSocket) {
        return new HttpOptions(
                bind, port, maxRequestBytes, idleTimeout, headerTimeout, keepAlive, snapshotChunk, webSocket);
    }
}
