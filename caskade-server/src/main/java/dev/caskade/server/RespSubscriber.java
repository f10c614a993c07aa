package dev.caskade.server;

import dev.caskade.Caskade;
import dev.caskade.CompactedException;
import dev.caskade.WatchEvent;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One connection's side of pub/sub: its channels, patterns and {@code CASKADE.WATCH} streams, and the only
 * writer of pushes to its socket. Every change and every write happens under this object's lock, from whatever
 * thread publishes, so a SUBSCRIBE confirmation is on the wire before the first message it announces, and
 * nothing from a channel follows its UNSUBSCRIBE confirmation.
 *
 * <p>The bytes queued but not yet handed to the socket are counted. Messages are queued without waiting; beyond
 * {@link RespOptions#maxPushBytes()} the subscriber is too slow and the connection is closed, as Redis does with
 * {@code client-output-buffer-limit pubsub}. A watch stream may wait for its client instead (on the watch's own
 * thread, which no writer waits for); one whose client stalls ends with the revision to resume from.
 */
final class RespSubscriber {
    private static final Logger LOG = LoggerFactory.getLogger(RespSubscriber.class);

    private static final RespReply SUBSCRIBE = RespReply.bulk("subscribe");
    private static final RespReply UNSUBSCRIBE = RespReply.bulk("unsubscribe");
    private static final RespReply PSUBSCRIBE = RespReply.bulk("psubscribe");
    private static final RespReply PUNSUBSCRIBE = RespReply.bulk("punsubscribe");

    /** How long a watch stream waits for a client that drains nothing before ending the stream. */
    static final long WATCH_STALL_NANOS = 2_000_000_000L;

    final RespSession session;
    private final Channel channel;
    private final RespPubSub pubsub;
    private final Supplier<RespOptions> options;

    // guarded by this
    private final Set<ByteBuffer> channels = new LinkedHashSet<>();
    private final Set<ByteBuffer> patterns = new LinkedHashSet<>();
    private final Map<ByteBuffer, RespWatchStream> watches = new LinkedHashMap<>();
    private boolean closed;
    private boolean tooSlow;
    /** Frames sent from other threads, waiting for the event loop to write them. */
    private final ArrayDeque<ByteBuf> pending = new ArrayDeque<>();

    private boolean drainScheduled;

    /** Bytes sent (pending, or handed to the channel) whose write to the socket has not completed yet. */
    private final AtomicLong unsent = new AtomicLong();

    RespSubscriber(RespSession session, Channel channel, RespPubSub pubsub, Supplier<RespOptions> options) {
        this.session = session;
        this.channel = channel;
        this.pubsub = pubsub;
        this.options = options;
    }

    /** Channels and patterns: what the confirmations count, and what puts a RESP2 connection in subscribed mode. */
    synchronized int subscriptions() {
        return channels.size() + patterns.size();
    }

    synchronized int channelCount() {
        return channels.size();
    }

    synchronized int patternCount() {
        return patterns.size();
    }

    synchronized int watchCount() {
        return watches.size();
    }

    /** Everything the connection listens to, which is what the per-connection limit counts. */
    synchronized int listening() {
        return channels.size() + patterns.size() + watches.size();
    }

    /** SUBSCRIBE or PSUBSCRIBE: one confirmation per name, written here ahead of any message. */
    synchronized RespReply subscribe(List<byte[]> names, boolean pattern) {
        Set<ByteBuffer> mine = pattern ? patterns : channels;
        Set<ByteBuffer> fresh = new HashSet<>();
        for (byte[] n : names) {
            ByteBuffer k = ByteBuffer.wrap(n);
            if (!mine.contains(k)) fresh.add(k);
        }
        int limit = options.get().maxSubscriptions();
        if (listening() + fresh.size() > limit) return tooMany(limit);
        if (closed) return RespReply.SENT; // the connection is gone: nobody to confirm to
        for (byte[] n : names) {
            ByteBuffer k = ByteBuffer.wrap(n);
            if (mine.add(k)) {
                if (pattern) pubsub.psubscribe(k, this);
                else pubsub.subscribe(k, this);
            }
            send(new RespReply.Push(List.of(
                    pattern ? PSUBSCRIBE : SUBSCRIBE, new RespReply.Bulk(n), RespReply.integer(subscriptions()))));
        }
        return RespReply.SENT;
    }

    /** UNSUBSCRIBE or PUNSUBSCRIBE, of the names given or (none given) of all; one confirmation each. */
    synchronized RespReply unsubscribe(List<byte[]> names, boolean pattern) {
        Set<ByteBuffer> mine = pattern ? patterns : channels;
        RespReply kind = pattern ? PUNSUBSCRIBE : UNSUBSCRIBE;
        List<ByteBuffer> targets = new ArrayList<>();
        if (names.isEmpty()) targets.addAll(mine);
        else for (byte[] n : names) targets.add(ByteBuffer.wrap(n));
        if (targets.isEmpty()) {
            // nothing to leave: Redis still confirms, with a null name
            send(new RespReply.Push(List.of(kind, RespReply.NULL, RespReply.integer(subscriptions()))));
            return RespReply.SENT;
        }
        for (ByteBuffer k : targets) {
            if (mine.remove(k)) {
                if (pattern) pubsub.punsubscribe(k, this);
                else pubsub.unsubscribe(k, this);
            }
            send(new RespReply.Push(List.of(kind, new RespReply.Bulk(k.array()), RespReply.integer(subscriptions()))));
        }
        return RespReply.SENT;
    }

    /**
     * A message for a channel ({@code pattern} false) or a pattern this connection may be subscribed to; false
     * when it was not delivered (not or no longer subscribed, disconnected, or too far behind).
     */
    synchronized boolean deliver(ByteBuffer name, boolean pattern, RespReply frame) {
        if (closed || tooSlow || !(pattern ? patterns : channels).contains(name)) return false;
        long behind = unsent.get();
        long limit = options.get().maxPushBytes();
        if (behind > limit) {
            // Redis's pubsub output buffer limit: a subscriber this far behind is disconnected, never waited for
            tooSlow = true;
            LOG.warn(
                    "disconnecting slow subscriber id={} addr={}: {} bytes unsent (limit {})",
                    session.id,
                    session.remoteAddress,
                    behind,
                    limit);
            channel.close();
            return false;
        }
        send(frame);
        return true;
    }

    /** CASKADE.WATCH: opens the stream and confirms it with +OK ahead of its first push. */
    synchronized RespReply watch(Caskade db, byte[] prefix, long from) {
        ByteBuffer k = ByteBuffer.wrap(prefix);
        if (watches.containsKey(k))
            return RespReply.err("ERR this connection already watches that prefix; CASKADE.UNWATCH it first");
        int limit = options.get().maxSubscriptions();
        if (listening() + 1 > limit) return tooMany(limit);
        if (closed) return RespReply.SENT;
        RespWatchStream w = new RespWatchStream(this, prefix, from);
        try {
            // its first event waits for this lock, so it cannot overtake the +OK below
            w.open(db);
        } catch (CompactedException e) {
            return RespReply.err("ERR compacted: oldest revision " + e.oldest());
        }
        watches.put(k, w);
        send(RespReply.OK);
        return RespReply.SENT;
    }

    /**
     * CASKADE.UNWATCH: stops the streams of the prefixes given, or all, and answers how many were stopped; the
     * answer is sent here, in order with their pushes, so none of them follows it.
     */
    synchronized RespReply unwatch(List<byte[]> prefixes) {
        List<RespWatchStream> stopped = new ArrayList<>();
        if (prefixes.isEmpty()) {
            stopped.addAll(watches.values());
            watches.clear();
        } else {
            for (byte[] p : prefixes) {
                RespWatchStream w = watches.remove(ByteBuffer.wrap(p));
                if (w != null) stopped.add(w);
            }
        }
        // out of the map now, so nothing more of them is written: the reply is their last word
        stopped.forEach(RespWatchStream::stop);
        send(RespReply.integer(stopped.size()));
        return RespReply.SENT;
    }

    /**
     * One commit of a watch stream, on the watch's own thread. Beyond {@link RespOptions#maxPushBytes()} unsent,
     * it waits for the client to drain (the engine's watch buffer absorbs the writes meanwhile); a client that
     * drains nothing for {@link #WATCH_STALL_NANOS} gets the end of the stream with the revision to resume from.
     * The wait is outside the lock, so messages to this connection and their publishers never wait for it.
     */
    void commit(RespWatchStream w, WatchEvent.Commit c) {
        long behind = unsent.get();
        long lastProgress = System.nanoTime();
        while (behind > options.get().maxPushBytes() && channel.isActive()) {
            if (System.nanoTime() - lastProgress > WATCH_STALL_NANOS) {
                synchronized (this) {
                    if (current(w)) end(w, "overflow");
                }
                return;
            }
            LockSupport.parkNanos(1_000_000);
            long now = unsent.get();
            if (now < behind) lastProgress = System.nanoTime();
            behind = now;
        }
        synchronized (this) {
            if (!current(w)) return;
            send(w.frame(c));
            w.delivered(c.revision());
        }
    }

    /** The engine ended a watch stream (it overflowed, failed, or the store closed). */
    synchronized void ended(RespWatchStream w, WatchEvent.Reason reason) {
        if (!current(w)) return; // we stopped it ourselves
        end(
                w,
                switch (reason) {
                    case OVERFLOW -> "overflow";
                    case FAILED -> "failed";
                    case CLOSED, STORE_CLOSED -> "closed";
                });
    }

    private boolean current(RespWatchStream w) {
        return !closed && watches.get(ByteBuffer.wrap(w.prefix)) == w;
    }

    private void end(RespWatchStream w, String reason) {
        watches.remove(ByteBuffer.wrap(w.prefix));
        send(w.endFrame(reason));
        w.stop();
    }

    /** RESET: leaves every channel, pattern and watch stream without confirmations. */
    synchronized void clear() {
        for (ByteBuffer k : channels) pubsub.unsubscribe(k, this);
        for (ByteBuffer k : patterns) pubsub.punsubscribe(k, this);
        channels.clear();
        patterns.clear();
        watches.values().forEach(RespWatchStream::stop);
        watches.clear();
    }

    /** The connection closed: nothing is written any more and everything it held is released. */
    synchronized void close() {
        clear();
        closed = true;
        discardPending();
    }

    /**
     * Queues one frame for the socket without waiting for it to be written. Frames reach the wire in the order
     * they are sent under this lock: a thread other than the connection's event loop appends to {@link #pending},
     * which the event loop drains; the event loop itself drains what is pending before its own frame. (Writing
     * from other threads straight to the channel would let the event loop's own writes overtake them.)
     */
    private void send(RespReply frame) {
        ByteBuf out = channel.alloc().buffer();
        session.protocol.encode(frame, out);
        unsent.addAndGet(out.readableBytes());
        pending.add(out);
        if (channel.eventLoop().inEventLoop()) {
            drain();
        } else if (!drainScheduled) {
            drainScheduled = true;
            try {
                channel.eventLoop().execute(this::drainScheduled);
            } catch (RejectedExecutionException stopping) {
                discardPending(); // the server is shutting down with the connection
            }
        }
    }

    private synchronized void drainScheduled() {
        drainScheduled = false;
        drain();
    }

    /** On the event loop, under the lock: hands every pending frame to the channel, then flushes once. */
    private void drain() {
        if (pending.isEmpty()) return;
        for (ByteBuf b; (b = pending.poll()) != null; ) {
            int size = b.readableBytes();
            channel.write(b).addListener(f -> unsent.addAndGet(-size));
        }
        channel.flush();
    }

    private void discardPending() {
        for (ByteBuf b; (b = pending.poll()) != null; ) {
            unsent.addAndGet(-b.readableBytes());
            b.release();
        }
    }

    private static RespReply tooMany(int limit) {
        return RespReply.err(
                "ERR too many subscriptions on this connection (limit " + limit + " channels, patterns and watches)");
    }
}
