package dev.caskade.server;

import dev.caskade.Caskade;
import io.netty.util.concurrent.EventExecutor;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.RejectedExecutionException;

/**
 * The replies of one event loop's connections that wait for an fsync. Under SYNC every write on the loop adds a
 * connection here; when the store is durable far enough, one task on the loop releases all of them. A callback
 * per connection would wake the loop once per connection per fsync: with 50 clients that was most of the system
 * time of a durable SET. Used only on its event loop.
 */
final class ReplyGate {
    /** A connection with replies held until its newest is durable. */
    interface Waiter {
        /** Sends what is durable; {@code failure} is the fsync failure, if one happened. */
        void release(Throwable failure);
    }

    private final Caskade db;
    private final EventExecutor loop;
    private List<Waiter> waiting = new ArrayList<>();
    private long wanted;
    private boolean requested;

    ReplyGate(Caskade db, EventExecutor loop) {
        this.db = db;
        this.loop = loop;
    }

    /** Wakes {@code w} once the store is durable up to at least {@code revision} (or has failed). */
    void await(Waiter w, long revision) {
        waiting.add(w);
        if (revision > wanted) wanted = revision;
        if (!requested) request();
    }

    private void request() {
        requested = true;
        long target = wanted;
        db.whenDurable(target).whenComplete((rev, failure) -> {
            try {
                loop.execute(() -> fire(failure));
            } catch (RejectedExecutionException stopping) {
                // the event loop is shutting down with the server
            }
        });
    }

    private void fire(Throwable failure) {
        requested = false;
        List<Waiter> now = waiting;
        waiting = new ArrayList<>();
        // a waiter whose replies are not all durable yet awaits again, which requests the next round
        for (Waiter w : now) w.release(failure);
        if (!waiting.isEmpty() && !requested) request();
    }
}
