package dev.caskade.server;

import dev.caskade.Caskade;
import dev.caskade.Change;
import dev.caskade.Watch;
import dev.caskade.WatchEvent;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;

/**
 * One {@code CASKADE.WATCH prefix from}: a {@link Watch} whose commits its connection receives as RESP3 pushes
 * {@code ["caskade.watch", prefix, revision, timestamp, [[type, key, value, expiresAt], ...]]}, and whose end is
 * {@code ["caskade.watch.end", prefix, resumeFrom, reason]}. The writing, and the decision to end a stream whose
 * client is too far behind, are its {@link RespSubscriber}'s.
 */
final class RespWatchStream implements Consumer<WatchEvent> {
    private static final RespReply WATCH = RespReply.bulk("caskade.watch");
    private static final RespReply WATCH_END = RespReply.bulk("caskade.watch.end");

    final byte[] prefix;
    private final RespSubscriber subscriber;
    private final long from;
    private volatile Watch watch;
    private volatile boolean stopped;
    /** The last revision pushed: everything under the prefix up to it was sent, so a resume starts there. */
    private long delivered;

    RespWatchStream(RespSubscriber subscriber, byte[] prefix, long from) {
        this.subscriber = subscriber;
        this.prefix = prefix;
        this.from = from;
        this.delivered = from;
    }

    /** @throws dev.caskade.CompactedException when {@code from} is older than the retained history */
    void open(Caskade db) {
        watch = db.watch(prefix, from, this);
    }

    @Override
    public void accept(WatchEvent event) {
        switch (event) {
            case WatchEvent.Commit c -> subscriber.commit(this, c);
            case WatchEvent.End e -> subscriber.ended(this, e.reason());
        }
    }

    void delivered(long revision) {
        delivered = revision;
    }

    RespReply frame(WatchEvent.Commit c) {
        List<RespReply> changes = new ArrayList<>(c.changes().size());
        for (Change ch : c.changes()) {
            changes.add(RespReply.array(List.of(
                    RespReply.bulk(ch.type().name().toLowerCase(Locale.ROOT)),
                    new RespReply.Bulk(ch.key()),
                    new RespReply.Bulk(ch.value()),
                    RespReply.integer(ch.expiresAt()))));
        }
        return new RespReply.Push(List.of(
                WATCH,
                new RespReply.Bulk(prefix),
                RespReply.integer(c.revision()),
                RespReply.integer(c.timestamp()),
                RespReply.array(changes)));
    }

    RespReply endFrame(String reason) {
        return new RespReply.Push(
                List.of(WATCH_END, new RespReply.Bulk(prefix), RespReply.integer(delivered), RespReply.bulk(reason)));
    }

    /**
     * Closes the watch off the caller's thread: closing waits for the watch thread, which must not hold up an
     * event loop or the publisher that found the client too slow.
     */
    void stop() {
        if (stopped) return;
        stopped = true;
        Watch w = watch;
        if (w != null) Thread.ofVirtual().name("caskade-resp-unwatch").start(w::close);
    }
}
