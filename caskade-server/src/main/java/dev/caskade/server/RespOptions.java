package dev.caskade.server;

import java.time.Duration;
import java.util.Objects;

/**
 * Settings of a {@link RespServer}.
 *
 * @param bindAddress the address to listen on
 * @param port the TCP port; 0 picks any free port
 * @param maxClients connections beyond this are refused with an error
 * @param maxRequestBytes the largest bulk string a client may send (Redis's {@code proto-max-bulk-len})
 * @param idleTimeout a connection idle this long is closed; {@link Duration#ZERO} never closes one. Connections
 *     with subscriptions or watches are exempt, as pub/sub clients are in Redis
 * @param maxSubscriptions channels, patterns and {@code CASKADE.WATCH} streams one connection may hold
 * @param maxPushBytes pub/sub messages and watch commits a connection may have waiting to be sent; a subscriber
 *     further behind is disconnected (Redis's {@code client-output-buffer-limit pubsub}), a watch stream ends
 *     with the revision to resume from
 */
public record RespOptions(
        String bindAddress,
        int port,
        int maxClients,
        long maxRequestBytes,
        Duration idleTimeout,
        int maxSubscriptions,
        long maxPushBytes) {

    /** Netty's RESP decoder refuses anything larger, as Redis does by default. */
    public static final long MAX_REQUEST_BYTES = 512L * 1024 * 1024;

    /** Validates every field. */
    public RespOptions {
        Objects.requireNonNull(bindAddress, "bindAddress");
        Objects.requireNonNull(idleTimeout, "idleTimeout");
        if (bindAddress.isBlank()) throw new IllegalArgumentException("bindAddress must not be blank");
        if (port < 0 || port > 65535) throw new IllegalArgumentException("port must be in 0..65535: " + port);
        if (maxClients < 1) throw new IllegalArgumentException("maxClients must be positive: " + maxClients);
        if (maxRequestBytes < 1 || maxRequestBytes > MAX_REQUEST_BYTES)
            throw new IllegalArgumentException(
                    "maxRequestBytes must be in 1.." + MAX_REQUEST_BYTES + ": " + maxRequestBytes);
        if (idleTimeout.isNegative()) throw new IllegalArgumentException("idleTimeout must not be negative");
        if (maxSubscriptions < 1)
            throw new IllegalArgumentException("maxSubscriptions must be positive: " + maxSubscriptions);
        if (maxPushBytes < 1) throw new IllegalArgumentException("maxPushBytes must be positive: " + maxPushBytes);
    }

    /**
     * Loopback, port 6479, 10,000 clients, 512 MiB requests, no idle timeout, 10,000 subscriptions per
     * connection, 32 MiB of unsent pushes per connection.
     */
    public static RespOptions defaults() {
        return new RespOptions("127.0.0.1", 6479, 10_000, MAX_REQUEST_BYTES, Duration.ZERO, 10_000, 32L << 20);
    }

    /** A copy with another bind address. */
    public RespOptions withBindAddress(String value) {
        return new RespOptions(value, port, maxClients, maxRequestBytes, idleTimeout, maxSubscriptions, maxPushBytes);
    }

    /** A copy with another port. */
    public RespOptions withPort(int value) {
        return new RespOptions(
                bindAddress, value, maxClients, maxRequestBytes, idleTimeout, maxSubscriptions, maxPushBytes);
    }

    /** A copy with another client limit. */
    public RespOptions withMaxClients(int value) {
        return new RespOptions(bindAddress, port, value, maxRequestBytes, idleTimeout, maxSubscriptions, maxPushBytes);
    }

    /** A copy with another request size limit. */
    public RespOptions withMaxRequestBytes(long value) {
        return new RespOptions(bindAddress, port, maxClients, value, idleTimeout, maxSubscriptions, maxPushBytes);
    }

    /** A copy with another idle timeout. */
    public RespOptions withIdleTimeout(Duration value) {
        return new RespOptions(bindAddress, port, maxClients, maxRequestBytes, value, maxSubscriptions, maxPushBytes);
    }

    /** A copy with another limit on subscriptions per connection. */
    public RespOptions withMaxSubscriptions(int value) {
        return new RespOptions(bindAddress, port, maxClients, maxRequestBytes, idleTimeout, value, maxPushBytes);
    }

    /** A copy with another bound on a connection's unsent pushes. */
    public RespOptions withMaxPushBytes(long value) {
        return new RespOptions(bindAddress, port, maxClients, maxRequestBytes, idleTimeout, maxSubscriptions, value);
    }
}
