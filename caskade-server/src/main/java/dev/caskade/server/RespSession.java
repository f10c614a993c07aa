package dev.caskade.server;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The state of one RESP connection: identity, protocol version, and the MULTI queue with its WATCHed keys. Only
 * the connection's event loop thread touches it, except for the read-only fields shown by CLIENT LIST.
 */
final class RespSession {
    final long id;
    final String remoteAddress;
    final String localAddress;
    final long createdAt;
    volatile long lastCommandAt;
    volatile String lastCommand = "NULL";
    volatile String name;
    volatile String libName = "";
    volatile String libVersion = "";
    volatile RespProtocol protocol = RespProtocol.RESP2;

    /** Non-null while inside MULTI: the queued commands. */
    List<List<byte[]>> queue;
    /** A command was refused while queueing, so EXEC must abort. */
    boolean queueFailed;
    /** QUIT was sent: close once the reply is written. */
    boolean closing;
    /** WATCHed keys and the revision each had when watched (0 = absent). */
    final Map<ByteBuffer, Long> watched = new LinkedHashMap<>();

    RespSession(long id, String remoteAddress, String localAddress, long now) {
        this.id = id;
        this.remoteAddress = remoteAddress;
        this.localAddress = localAddress;
        this.createdAt = now;
        this.lastCommandAt = now;
    }

    boolean inMulti() {
        return queue != null;
    }

    void beginMulti() {
        queue = new ArrayList<>();
        queueFailed = false;
    }

    /** Ends MULTI (by EXEC or DISCARD); WATCHes end with it, as in Redis. */
    void endMulti() {
        queue = null;
        queueFailed = false;
        watched.clear();
    }

    /** RESET: back to a fresh connection's state, keeping the id. */
    void reset() {
        endMulti();
        name = null;
        protocol = RespProtocol.RESP2;
    }
}
