package dev.caskade;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import java.util.function.Predicate;

/**
 * Hands each published commit to every open watch. Commits are published in revision order by one
 * thread at a time; a watch registers under the same lock, so the revision it registers at splits the
 * history it reads back from the log and the live commits it is offered, with nothing in between.
 */
final class WatchHub {
    /** Reads commits in (from, to] under a prefix back from the log, oldest first. */
    interface History {
        void replay(byte[] prefix, long from, long to, Predicate<WatchEvent.Commit> sink);
    }

    private final List<Watch> watches = new CopyOnWriteArrayList<>();
    private final ReentrantLock lock = new ReentrantLock();
    private volatile long published;

    WatchHub(long revision) {
        this.published = revision;
    }

    long published() {
        return published;
    }

    int size() {
        return watches.size();
    }

    /** Publishes commit {@code revision}; its event is built only when some watch is open. */
    void publish(long revision, java.util.function.Supplier<WatchEvent.Commit> event) {
        lock.lock();
        try {
            if (!watches.isEmpty()) {
                WatchEvent.Commit c = event.get();
                for (Watch w : watches) w.offer(c);
            }
            published = revision;
        } finally {
            lock.unlock();
        }
    }

    /** Registers a watch; {@code check} runs under the lock (compaction check) before it is added. */
    void register(Watch w, History history, Consumer<Long> check) {
        long at;
        lock.lock();
        try {
            at = published;
            check.accept(at);
            watches.add(w);
        } finally {
            lock.unlock();
        }
        w.start(at, history);
    }

    /** Runs {@code action} while no watch can register or be published to (merge's compaction decision). */
    <T> T locked(java.util.function.Supplier<T> action) {
        lock.lock();
        try {
            return action.get();
        } finally {
            lock.unlock();
        }
    }

    void remove(Watch w) {
        watches.remove(w);
    }

    /** The oldest revision any watch still needs; Long.MAX_VALUE when none. */
    long oldestPin() {
        long p = Long.MAX_VALUE;
        long pub = published;
        for (Watch w : watches) p = Math.min(p, w.pin(pub));
        return p;
    }

    void closeAll(WatchEvent.Reason reason) {
        for (Watch w : watches) w.signal(reason);
        for (Watch w : watches) w.stop(reason);
    }
}
