package dev.caskade;

import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * A watch listener that records what it is given and what it should never be given: an event after the
 * End, or two calls at once. Optionally blocks on its first commit until a gate opens (a slow listener).
 */
final class EventLog implements Consumer<WatchEvent> {
    private final List<WatchEvent> events = new ArrayList<>();
    private final List<String> violations = new ArrayList<>();
    private final AtomicBoolean inside = new AtomicBoolean();
    private final CountDownLatch gate;
    private volatile long lastCommit = -1;
    private volatile boolean ended;
    private volatile boolean blocked;

    EventLog() {
        this(null);
    }

    EventLog(CountDownLatch gate) {
        this.gate = gate;
    }

    @Override
    public void accept(WatchEvent event) {
        if (!inside.compareAndSet(false, true)) violation("listener called concurrently with " + event);
        try {
            synchronized (this) {
                if (ended) violation("event after End: " + event);
                if (event instanceof WatchEvent.Commit c && c.revision() <= lastCommit) {
                    violation("revision " + c.revision() + " after " + lastCommit);
                }
                events.add(event);
            }
            switch (event) {
                case WatchEvent.Commit c -> lastCommit = Math.max(lastCommit, c.revision());
                case WatchEvent.End e -> ended = true;
            }
            if (gate != null && event instanceof WatchEvent.Commit && gate.getCount() > 0) {
                blocked = true;
                try {
                    if (!gate.await(60, TimeUnit.SECONDS)) violation("gate never opened");
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    violation("interrupted while blocked");
                }
            }
        } finally {
            inside.set(false);
        }
    }

    private synchronized void violation(String what) {
        violations.add(what);
    }

    synchronized List<WatchEvent> events() {
        return List.copyOf(events);
    }

    synchronized List<WatchEvent.Commit> commits() {
        return events.stream()
                .filter(WatchEvent.Commit.class::isInstance)
                .map(WatchEvent.Commit.class::cast)
                .toList();
    }

    synchronized Optional<WatchEvent.End> end() {
        return events.stream()
                .filter(WatchEvent.End.class::isInstance)
                .map(WatchEvent.End.class::cast)
                .findFirst();
    }

    synchronized List<String> violations() {
        return List.copyOf(violations);
    }

    /** The highest revision delivered so far, 0 when none. */
    long lastCommitRevision() {
        return Math.max(0, lastCommit);
    }

    boolean blocked() {
        return blocked;
    }

    /** Waits until a commit at or after {@code revision} arrived; fails (naming the End, if any) otherwise. */
    void awaitRevision(long revision, Duration atMost) {
        await().atMost(atMost)
                .pollInterval(Duration.ofMillis(5))
                .until(() -> lastCommitRevision() >= revision || ended);
        if (lastCommitRevision() < revision) {
            throw new AssertionError("watch ended at " + lastCommitRevision() + " before revision " + revision + ": "
                    + end().orElse(null));
        }
    }

    WatchEvent.End awaitEnd(Duration atMost) {
        await().atMost(atMost).pollInterval(Duration.ofMillis(5)).until(() -> ended);
        return end().orElseThrow();
    }

    @Override
    public synchronized String toString() {
        return "EventLog[" + events.size() + " events, last commit " + lastCommitRevision() + ", end "
                + end().orElse(null) + ", violations " + violations + "]";
    }
}
