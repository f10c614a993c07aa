package dev.caskade.cli;

import dev.caskade.Caskade;
import dev.caskade.WatchEvent;
import dev.caskade.client.CaskadeClient;
import dev.caskade.client.LocalReplica;
import dev.caskade.client.ReplicaOptions;
import dev.caskade.server.FollowStatus;
import dev.caskade.server.Server;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code caskade serve --follow}: a server whose store is a {@link LocalReplica} of a primary. Reads, scans, watches
 * and digests are answered from the local copy; writes go to the primary and are answered once they are applied
 * here (or refused, read-only). It serves as soon as a copy exists, and keeps serving it while the primary is away.
 *
 * <p>When the primary's history no longer reaches the copy, a fresh snapshot replaces the store: the listeners stop
 * just before the swap and start again on the same ports right after it. Clients reconnect; a watcher resuming from
 * a revision the fresh copy does not hold is told it was compacted, and reloads, exactly as from the primary.
 */
final class Follower implements LocalReplica.Listener, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Follower.class);

    private final LocalReplica replica;
    private final boolean readOnly;
    private Server.Options options;
    private Server server;
    private boolean closed;
    private RuntimeException failure;

    private Follower(Server.Options options, CaskadeClient client, String prefix, ReplicaOptions replicaOptions) {
        this.options = options;
        this.readOnly = replicaOptions.readOnly();
        this.replica = LocalReplica.open(client, prefix, options.data(), replicaOptions, this);
    }

    /**
     * Starts following and returns once the server listens, which waits for the first snapshot when there is no
     * copy yet (printing where it stands every few seconds).
     */
    static Follower start(
            Server.Options options,
            CaskadeClient client,
            String prefix,
            ReplicaOptions replicaOptions,
            java.io.PrintWriter progress) {
        Follower f = new Follower(options, client, prefix, replicaOptions);
        try {
            f.awaitServing(progress);
            return f;
        } catch (RuntimeException | Error e) {
            f.close();
            throw e;
        }
    }

    private synchronized void awaitServing(java.io.PrintWriter progress) {
        if (replica.store() != null) serve();
        long next = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
        while (server == null && failure == null && !closed) {
            try {
                wait(250);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for the first snapshot");
            }
            if (server == null && System.nanoTime() > next) {
                LocalReplica.Status s = replica.status();
                progress.printf(
                        "waiting for the first snapshot from %s (%s%s)%n",
                        replica.server(), s.state(), s.lastError() == null ? "" : ": " + s.lastError());
                progress.flush();
                next = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            }
        }
        if (failure != null) throw failure;
    }

    /** Starts the listeners on the current store; after a restart, on the ports bound the first time. */
    private void serve() {
        if (server != null || closed) return;
        Caskade store = replica.store();
        if (store == null) return;
        try {
            server = Server.follow(options, store, this::status);
            // a restart after a fresh snapshot binds the very same ports, so clients find it again
            options = new Server.Options(
                    options.data(),
                    options.bind(),
                    server.respPort(),
                    server.httpPort(),
                    options.durability(),
                    options.insecure(),
                    options.users(),
                    options.tls(),
                    options.replication());
        } catch (RuntimeException e) {
            failure = e;
            LOG.error("cannot serve the copy of {}: {}", replica.server(), e.getMessage());
        }
        notifyAll();
    }

    @Override
    public void commit(WatchEvent.Commit commit) {}

    @Override
    public synchronized void beforeReset(long revision) {
        if (server == null) return;
        LOG.warn(
                "a fresh snapshot of {} at revision {} replaces the copy: restarting the listeners on the same ports",
                replica.server(),
                revision);
        server.close();
        server = null;
    }

    @Override
    public synchronized void reset(long revision) {
        serve();
    }

    FollowStatus status() {
        LocalReplica.Status s = replica.status();
        return new FollowStatus(
                replica.server(),
                replica.prefix(),
                readOnly,
                s.state(),
                s.revision(),
                s.serverRevision(),
                s.lagRevisions(),
                s.breaker().name(),
                replica.writeBreaker().name(),
                s.lastError(),
                s.lastAppliedAt());
    }

    synchronized int respPort() {
        return server == null ? options.respPort() : server.respPort();
    }

    synchronized int httpPort() {
        return server == null ? options.httpPort() : server.httpPort();
    }

    LocalReplica replica() {
        return replica;
    }

    /** Stops serving, then following; the copy stays on disk, and the next start resumes from its revision. */
    @Override
    public void close() {
        Server s;
        synchronized (this) {
            closed = true;
            s = server;
            server = null;
            notifyAll();
        }
        try {
            if (s != null) s.close();
        } finally {
            replica.close();
        }
    }
}
