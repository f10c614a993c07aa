package dev.caskade.server;

import static java.nio.charset.StandardCharsets.UTF_8;

import dev.caskade.Caskade;
import dev.caskade.Change;
import dev.caskade.CompactedException;
import dev.caskade.Watch;
import dev.caskade.WatchEvent;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Redis keyspace notifications ({@code notify-keyspace-events}), fed by one watch on the store's change feed, so
 * a write made by any path (RESP, HTTP, the embedded API) is announced. The watch exists only while the flags
 * ask for an event Caskade can produce.
 *
 * <p>The change feed knows three things happen to a key, so those are the events: a put is {@code set} (class
 * {@code $}), a delete {@code del} (class {@code g}), an expiry {@code expired} (class {@code x}). Unlike Redis,
 * commands do not name their own events: INCR, APPEND or EXPIRE announce {@code set}, not {@code incrby},
 * {@code append} or {@code expire}. Notifications are published just after the commit, not before the reply.
 */
final class RespKeyspaceEvents {
    private static final Logger LOG = LoggerFactory.getLogger(RespKeyspaceEvents.class);

    // Redis's flag bits (server.h NOTIFY_*)
    static final int KEYSPACE = 1;
    static final int KEYEVENT = 1 << 1;
    static final int GENERIC = 1 << 2;
    static final int STRING = 1 << 3;
    static final int LIST = 1 << 4;
    static final int SET = 1 << 5;
    static final int HASH = 1 << 6;
    static final int ZSET = 1 << 7;
    static final int EXPIRED = 1 << 8;
    static final int EVICTED = 1 << 9;
    static final int STREAM = 1 << 10;
    static final int KEY_MISS = 1 << 11;
    static final int MODULE = 1 << 12;
    static final int NEW = 1 << 13;
    /** What "A" stands for: every class but key-miss and new-key, as in Redis. */
    static final int ALL = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

    private static final byte[] KEYSPACE_PREFIX = "__keyspace@0__:".getBytes(UTF_8);
    private static final byte[] KEYEVENT_PREFIX = "__keyevent@0__:".getBytes(UTF_8);

    private final Caskade db;
    private final RespPubSub pubsub;
    private volatile int flags;
    /** The change feed while one is needed; written under this object's lock. */
    private volatile Feed feed;

    RespKeyspaceEvents(Caskade db, RespPubSub pubsub) {
        this.db = db;
        this.pubsub = pubsub;
    }

    /** Redis's parser: each character adds a class; -1 for a character Redis does not know. */
    static int parse(String classes) {
        int f = 0;
        for (int i = 0; i < classes.length(); i++) {
            f |= switch (classes.charAt(i)) {
                case 'A' -> ALL;
                case 'g' -> GENERIC;
                case '$' -> STRING;
                case 'l' -> LIST;
                case 's' -> SET;
                case 'h' -> HASH;
                case 'z' -> ZSET;
                case 'x' -> EXPIRED;
                case 'e' -> EVICTED;
                case 'K' -> KEYSPACE;
                case 'E' -> KEYEVENT;
                case 't' -> STREAM;
                case 'm' -> KEY_MISS;
                case 'd' -> MODULE;
                case 'n' -> NEW;
                default -> -1;
            };
            if (f == -1) return -1;
        }
        return f;
    }

    /** Redis's canonical spelling, as CONFIG GET shows it. */
    static String format(int f) {
        StringBuilder sb = new StringBuilder();
        if ((f & ALL) == ALL) {
            sb.append('A');
        } else {
            String letters = "g$lshzxetdn";
            int[] bits = {GENERIC, STRING, LIST, SET, HASH, ZSET, EXPIRED, EVICTED, STREAM, MODULE, NEW};
            for (int i = 0; i < bits.length; i++) if ((f & bits[i]) != 0) sb.append(letters.charAt(i));
        }
        if ((f & ALL) == ALL && (f & NEW) != 0) sb.append('n');
        if ((f & KEYSPACE) != 0) sb.append('K');
        if ((f & KEYEVENT) != 0) sb.append('E');
        if ((f & KEY_MISS) != 0) sb.append('m');
        return sb.toString();
    }

    int flags() {
        return flags;
    }

    /** Applies new flags; starts or stops the change feed as they need it. */
    void configure(int newFlags) {
        Watch stale = null;
        synchronized (this) {
            flags = newFlags;
            boolean needed = (newFlags & (KEYSPACE | KEYEVENT)) != 0 && (newFlags & (GENERIC | STRING | EXPIRED)) != 0;
            if (needed && feed == null) {
                feed = new Feed();
                feed.watch = db.watch(new byte[0], db.revision(), feed);
            } else if (!needed && feed != null) {
                stale = feed.watch;
                feed = null;
            }
        }
        // closing waits for the watch thread: not on an event loop, and not under the lock its End takes
        if (stale != null) Thread.ofVirtual().name("caskade-resp-keyspace-stop").start(stale::close);
    }

    /** Stops the feed (the server is closing). */
    void close() {
        Watch stale;
        synchronized (this) {
            stale = feed == null ? null : feed.watch;
            feed = null;
        }
        if (stale != null) stale.close();
    }

    /** The listener of one watch; a replaced or stopped feed ignores what it still receives. */
    private final class Feed implements Consumer<WatchEvent> {
        volatile Watch watch;

        @Override
        public void accept(WatchEvent event) {
            switch (event) {
                case WatchEvent.Commit c -> {
                    // a stopped feed may still be draining; nobody listening: skip building names
                    if (feed != this || pubsub.isEmpty()) return;
                    int f = flags;
                    for (Change ch : c.changes()) announce(f, ch);
                }
                case WatchEvent.End end -> restart(this, end);
            }
        }
    }

    private void announce(int f, Change ch) {
        String event;
        int type;
        switch (ch.type()) {
            case PUT -> {
                event = "set";
                type = STRING;
            }
            case DELETE -> {
                event = "del";
                type = GENERIC;
            }
            case EXPIRE -> {
                event = "expired";
                type = EXPIRED;
            }
            default -> throw new IllegalStateException("unknown change " + ch.type());
        }
        if ((f & type) == 0) return;
        byte[] name = event.getBytes(UTF_8);
        if ((f & KEYSPACE) != 0) pubsub.publish(concat(KEYSPACE_PREFIX, ch.key()), name);
        if ((f & KEYEVENT) != 0) pubsub.publish(concat(KEYEVENT_PREFIX, name), ch.key());
    }

    /** A feed that fell behind continues where it stopped, so no notification is lost or repeated. */
    private synchronized void restart(Feed ended, WatchEvent.End end) {
        if (feed != ended) return; // stopped or replaced on purpose
        feed = null;
        long from;
        switch (end.reason()) {
            case CLOSED, STORE_CLOSED -> {
                return;
            }
            case OVERFLOW -> {
                LOG.debug("keyspace notifications fell behind; resuming from {}", end.resumeFrom());
                from = end.resumeFrom();
            }
            case FAILED -> {
                // resuming could fail the same way again and again: carry on from now, and say what was lost
                from = -1;
            }
            default -> throw new IllegalStateException("unknown end " + end.reason());
        }
        Feed next = new Feed();
        feed = next; // before it starts: its first events check that they are current
        try {
            try {
                next.watch = db.watch(new byte[0], from < 0 ? db.revision() : from, next);
            } catch (CompactedException e) {
                from = -1;
                next.watch = db.watch(new byte[0], db.revision(), next);
            }
            if (from < 0)
                LOG.warn(
                        "keyspace notifications failed or fell behind the retained history; "
                                + "events after revision {} up to now are not announced",
                        end.resumeFrom());
        } catch (IllegalStateException closedStore) {
            feed = null;
        }
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = new byte[a.length + b.length];
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
