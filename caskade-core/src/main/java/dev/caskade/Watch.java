package dev.caskade;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * A live subscription to the commits under one key prefix, created by {@link Caskade#watch}. It first
 * replays the retained history after its start revision from the log, then delivers new commits as they
 * are made, with neither a gap nor a duplicate at the switch. The listener runs on the watch's own
 * (virtual) thread, one event at a time; a listener that falls behind by more than the watch buffer ends
 * the watch with {@link WatchEvent.Reason#OVERFLOW} and the revision to resume from, so writers are never
 * slowed down by it.
 */
public final class Watch implements AutoCloseable {
    private final byte[] prefix;
    private final long from;
    private final Consumer<WatchEvent> listener;
    /** Bounded, but grows as commits arrive: an idle watch holds no 10,000-slot array (40 KB each). */
    private final LinkedBlockingQueue<WatchEvent.Commit> queue;

    private final WatchHub hub;
    private volatile long lastRevision;
    private volatile boolean live;
    private volatile boolean overflow;
    private volatile WatchEvent.Reason endReason;
    private final AtomicBoolean ended = new AtomicBoolean();
    private Thread thread;

    Watch(WatchHub hub, byte[] prefix, long from, int buffer, Consumer<WatchEvent> listener) {
        this.hub = hub;
        this.prefix = prefix.clone();
        this.from = from;
        this.lastRevision = from;
        this.listener = listener;
        this.queue = new LinkedBlockingQueue<>(buffer);
    }

    /** The watched key prefix. */
    public byte[] prefix() {
        return prefix.clone();
    }

    /**
     * The revision to resume from: every commit under the prefix up to it has been delivered. Pass it as
     * {@code fromRevision} to a new watch to continue exactly where this one stopped.
     */
    public long lastRevision() {
        return lastRevision;
    }

    /** True until the watch has delivered its {@link WatchEvent.End}. */
    public boolean isOpen() {
        return !ended.get();
    }

    /** Stops the watch; the listener receives {@link WatchEvent.Reason#CLOSED} as its last event. */
    @Override
    public void close() {
        stop(WatchEvent.Reason.CLOSED);
    }

    /**
     * The oldest revision this watch still needs from the log. Once it is live with nothing queued, it
     * needs nothing older than what has been published.
     */
    long pin(long published) {
        return live && queue.isEmpty() && !overflow ? Math.max(lastRevision, published) : lastRevision;
    }

    void start(long registeredAt, WatchHub.History history) {
        thread = Thread.ofVirtual().name("caskade-watch").start(() -> run(registeredAt, history));
    }

    private void run(long registeredAt, WatchHub.History history) {
        try {
            if (registeredAt > from) {
                history.replay(prefix, from, registeredAt, c -> {
                    if (endReason != null) return false;
                    deliver(c);
                    return true;
                });
            }
            live = true;
            while (endReason == null) {
                if (overflow && queue.isEmpty()) {
                    // everything that fit was delivered; what did not fit is lost to this watch
                    endReason = WatchEvent.Reason.OVERFLOW;
                    break;
                }
                // no timeout: a full queue (overflow) is never empty here, and an end is signalled by WAKE
                deliver(queue.take());
            }
            end(endReason);
        } catch (InterruptedException e) {
            end(endReason == null ? WatchEvent.Reason.CLOSED : endReason);
        } catch (CompactedException e) {
            end(WatchEvent.Reason.FAILED);
        } catch (RuntimeException | Error e) {
            end(WatchEvent.Reason.FAILED);
        }
    }

    private void deliver(WatchEvent.Commit c) {
        if (c.revision() <= lastRevision) return;
        listener.accept(c);
        lastRevision = c.revision();
    }

    /** Offers a published commit; never blocks the publisher. */
    void offer(WatchEvent.Commit c) {
        if (c.revision() <= from || overflow || endReason != null) return;
        WatchEvent.Commit mine = filter(c);
        if (mine != null && !queue.offer(mine)) overflow = true;
    }

    private WatchEvent.Commit filter(WatchEvent.Commit c) {
        List<Change> changes = c.changes();
        int matching = 0;
        for (Change ch : changes) if (matches(ch.key())) matching++;
        if (matching == 0) return null;
        if (matching == changes.size()) return c;
        List<Change> mine = new ArrayList<>(matching);
        for (Change ch : changes) if (matches(ch.key())) mine.add(ch);
        return new WatchEvent.Commit(c.revision(), c.timestamp(), List.copyOf(mine));
    }

    boolean matches(byte[] key) {
        return key.length >= prefix.length && Arrays.equals(key, 0, prefix.length, prefix, 0, prefix.length);
    }

    /** Asks the watch to end without waiting for it. */
    void signal(WatchEvent.Reason reason) {
        if (endReason == null) endReason = reason;
        queue.offer(WAKE); // a waiting thread sees the end now, not at its next poll timeout
    }

    /** Not a commit: wakes the watch's thread (its revision is below every real one, so it is never delivered). */
    private static final WatchEvent.Commit WAKE = new WatchEvent.Commit(-1, 0, List.of());

    void stop(WatchEvent.Reason reason) {
        signal(reason);
        Thread t = thread;
        if (t == null) {
            end(reason);
        } else if (t != Thread.currentThread()) {
            // no interrupt: an interrupt inside a FileChannel read would close the segment for everyone
            try {
                t.join(2_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private void end(WatchEvent.Reason reason) {
        if (!ended.compareAndSet(false, true)) return;
        hub.remove(this);
        try {
            listener.accept(new WatchEvent.End(lastRevision, reason));
        } catch (RuntimeException ignored) {
            // the watch is over either way
        }
    }
}
