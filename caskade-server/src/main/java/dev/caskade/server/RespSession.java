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
    /** The last command's name as the client sent it; turned into text only when someone asks (CLIENT LIST). */
    volatile byte[] lastCommandName;

    String lastCommand() {
        byte[] b = lastCommandName;
        return b == null
                ? "NULL"
                : new String(b, 0, Math.min(b.length, 32), java.nio.charset.StandardCharsets.UTF_8)
                        .toLowerCase(java.util.Locale.ROOT);
    }

    volatile String name;
    volatile String libName = "";
    volatile String libVersion = "";
    volatile RespProtocol protocol = RespProtocol.RESP2;
    /** Who this connection acts as; null until it logs in, when the server has users. */
    volatile User user;
    /** The user it acts as before logging in, and again after RESET. */
    private final User anonymous;

    /** Non-null while inside MULTI: the queued commands. */
    List<List<byte[]>> queue;
    /** A command was refused while queueing, so EXEC must abort. */
    boolean queueFailed;
    /** QUIT was sent: close once the reply is written. */
    boolean closing;
    /** WATCHed keys and the revision each had when watched (0 = absent). */
    final Map<ByteBuffer, Long> watched = new LinkedHashMap<>();
    /** Pub/sub state, made by the first command that needs it (SUBSCRIBE, CASKADE.WATCH...). */
    volatile RespSubscriber subscriber;

    /** SCAN cursors handed out on this connection: number to the last key returned; the oldest are forgotten. */
    private final Map<Long, byte[]> scanCursors = new LinkedHashMap<>() {
        private static final long serialVersionUID = 1L;

        @Override
        protected boolean removeEldestEntry(Map.Entry<Long, byte[]> eldest) {
            return size() > MAX_SCAN_CURSORS;
        }
    };

    private static final int MAX_SCAN_CURSORS = 1024;
    private long lastScanCursor;

    RespSession(long id, String remoteAddress, String localAddress, long now, User anonymous) {
        this.id = id;
        this.anonymous = anonymous;
        this.user = anonymous;
        this.remoteAddress = remoteAddress;
        this.localAddress = localAddress;
        this.createdAt = now;
        this.lastCommandAt = now;
    }

    /** Remembers where a scan stopped; returns the cursor to hand out (never 0, which means done). */
    synchronized long rememberScan(byte[] lastKey) {
        long c = ++lastScanCursor;
        scanCursors.put(c, lastKey);
        return c;
    }

    /** The last key of the scan page that returned {@code cursor}, or null when it is unknown or forgotten. */
    synchronized byte[] scanCursor(long cursor) {
        return scanCursors.get(cursor);
    }

    /** Subscribed to a channel or pattern: in RESP2, the connection is then in subscribed mode. */
    boolean subscribed() {
        RespSubscriber sub = subscriber;
        return sub != null && sub.subscriptions() > 0;
    }

    /** Waiting for pushes (messages or watch commits): such a connection is never idle-timed-out, as in Redis. */
    boolean listening() {
        RespSubscriber sub = subscriber;
        return sub != null && sub.listening() > 0;
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
        RespSubscriber sub = subscriber;
        if (sub != null) sub.clear(); // leaves subscribed mode without confirmations, as Redis's RESET does
        name = null;
        protocol = RespProtocol.RESP2;
        user = anonymous;
    }
}
