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
 * @param idleTimeout a connection idle this long is closed; {@link Duration#ZERO} never closes one
 */
public record RespOptions(String bindAddress, int port, int maxClients, long maxRequestBytes, Duration idleTimeout) {

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
    }

    /** Loopback, port 6479, 10,000 clients, 512 MiB requests, no idle timeout. */
    public static RespOptions defaults() {
        return new RespOptions("127.0.0.1", 6479, 10_000, MAX_REQUEST_BYTES, Duration.ZERO);
    }

    /** A copy with another bind address. */
    public RespOptions withBindAddress(String value) {
        return new RespOptions(value, port, maxClients, maxRequestBytes, idleTimeout);
    }

    /** A copy with another port. */
    public RespOptions withPort(int value) {
        return new RespOptions(bindAddress, value, maxClients, maxRequestBytes, idleTimeout);
    }

    /** A copy with another client limit. */
    public RespOptions withMaxClients(int value) {
        return new RespOptions(bindAddress, port, value, maxRequestBytes, idleTimeout);
    }

    /** A copy with another request size limit. */
    public RespOptions withMaxRequestBytes(long value) {
        return new RespOptions(bindAddress, port, maxClients, value, idleTimeout);
    }

    /** A copy with another idle timeout. */
    public RespOptions withIdleTimeout(Duration value) {
        return new RespOptions(bindAddress, port, maxClients, maxRequestBytes, value);
    }
}
