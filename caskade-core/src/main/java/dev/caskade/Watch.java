package dev.caskade;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * A live subscription to the commits under one key prefix, created by {@link Caskade#watch}. It first
 * replays the retained history after its start revision from the log, then delivers new commits as they
 * are made, with neither a gap nor a duplicate at the switch. The listener runs on a virtual thread of the
 * watch's, one event at a time and never two at once (an idle watch holds no thread); a listener that falls behind by more than the watch buffer ends
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
    /** Held by the thread delivering events; the replay thread holds it from the start. */
    private final AtomicBoolean draining = new AtomicBoolean(true);

    private final CountDownLatch finished = new CountDownLatch(1);
    private volatile boolean started;
    /** The thread delivering now (or last): a listener closing its own watch must not wait for itself. */
    private volatile Thread drainer;

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
        started = true;
        Thread.ofVirtual().name("caskade-watch").start(() -> {
            drainer = Thread.currentThread();
            try {
                if (registeredAt > from) {
                    history.replay(prefix, from, registeredAt, c -> {
                        if (endReason != null) return false;
                        deliver(c);
                        return true;
                    });
                }
                live = true;
            } catch (RuntimeException | Error e) { // CompactedException included: history that merge removed
                endReason = endReason == null ? WatchEvent.Reason.FAILED : endReason;
            }
            drain(); // this thread holds the drain from the start, so live commits queued meanwhile wait for it
        });
    }

    /**
     * Delivers what is queued, then lets go: an idle watch has no thread, parked or not (a parked virtual thread
     * keeps its stack, about 2.3 KB). The next commit starts a drainer again; at most one runs at a time, so the
     * listener sees events one at a time and in order.
     */
    private void drain() {
        drainer = Thread.currentThread();
        try {
            while (true) {
                for (WatchEvent.Commit c; endReason == null && (c = queue.poll()) != null; ) deliver(c);
                if (endReason != null) {
                    end(endReason);
                    return;
                }
                if (overflow) {
                    // everything that fit was delivered; what did not fit is lost to this watch
                    end(WatchEvent.Reason.OVERFLOW);
                    return;
                }
                drainer = null; // a finished thread is still an object: an idle watch keeps none
                draining.set(false);
                // a commit or an end that arrived after the last poll, whose offer saw us still draining
                boolean more = !queue.isEmpty() || overflow || endReason != null;
                if (!more || !draining.compareAndSet(false, true)) return;
                drainer = Thread.currentThread();
            }
        } catch (RuntimeException | Error e) {
            end(WatchEvent.Reason.FAILED);
        }
    }

    /** Starts a drainer unless one is running. */
    private void schedule() {
        if (started && draining.compareAndSet(false, true)) {
            Thread.ofVirtual().name("caskade-watch").start(this::drain);
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
        if (mine == null) return;
        if (!queue.offer(mine)) overflow = true;
        schedule();
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
        schedule(); // an idle watch has no thread to notice: start one to deliver the end
    }

    void stop(WatchEvent.Reason reason) {
        signal(reason);
        if (!started) {
            end(reason);
        } else if (drainer != Thread.currentThread()) {
            // no interrupt: an interrupt inside a FileChannel read would close the segment for everyone
            try {
                finished.await(2, TimeUnit.SECONDS);
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
        } finally {
            finished.countDown();
        }
    }
}
