package dev.caskade.cli;

import dev.caskade.Caskade;
import dev.caskade.WatchEvent;
import dev.caskade.client.CaskadeClient;
import dev.caskade.client.LocalReplica;
import dev.caskade.client.ReplicaOptions;
import dev.caskade.cluster.ClusterNode;
import dev.caskade.cluster.ClusterOptions;
import dev.caskade.server.ClusterStatus;
import dev.caskade.server.FollowStatus;
import dev.caskade.server.Role;
import dev.caskade.server.Server;
import java.io.PrintWriter;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A server over a copy that something else keeps up to date: a follower's {@link LocalReplica} of its primary
 * ({@code serve --follow}), or a cluster node's store fed by the cluster's log ({@code serve --cluster}). Reads,
 * scans, watches and digests are answered from the copy; writes go where the copy's store sends them (the primary,
 * the cluster's log) and are answered once they are applied here. It serves as soon as a copy exists, and keeps
 * serving it while its source is away.
 *
 * <p>When a fresh snapshot replaces the copy (history compacted past it), the listeners stop just before the swap
 * and start again on the same ports right after it. Clients reconnect; a watcher resuming from a revision the fresh
 * copy does not hold is told it was compacted, and reloads.
 */
final class ServedCopy implements LocalReplica.Listener, ClusterNode.Listener, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ServedCopy.class);

    private final String source;
    private Server.Options options;
    private Supplier<Caskade> store;
    private Supplier<Role> role;
    private AutoCloseable owner;
    private LocalReplica replica;
    private ClusterNode node;
    private Server server;
    private boolean closed;
    private RuntimeException failure;

    private ServedCopy(Server.Options options, String source) {
        this.options = options;
        this.source = source;
    }

    /**
     * {@code serve --follow}: follows the server {@code client} talks to, into {@code options.data()/store}, and
     * returns once the server listens (after the first snapshot when there is no copy yet).
     */
    static ServedCopy follow(
            Server.Options options,
            CaskadeClient client,
            String prefix,
            ReplicaOptions replicaOptions,
            PrintWriter progress) {
        ServedCopy c = new ServedCopy(options, client.base());
        try {
            LocalReplica r = LocalReplica.open(client, prefix, options.data(), replicaOptions, c);
            boolean readOnly = replicaOptions.readOnly();
            c.attach(r, r::store, () -> followStatus(r, readOnly));
            c.replica = r;
            c.awaitServing(
                    progress,
                    () -> r.status().state()
                            + (r.status().lastError() == null
                                    ? ""
                                    : ": " + r.status().lastError()));
            return c;
        } catch (RuntimeException | Error e) {
            c.close();
            throw e;
        }
    }

    /**
     * {@code serve --cluster}: joins the cluster {@code cluster} names, with its store in {@code
     * options.data()/store}, advertises its HTTP URL to the other nodes (for their re-bootstrap), and returns once the
     * server listens.
     */
    static ServedCopy cluster(Server.Options options, ClusterOptions cluster, PrintWriter progress) {
        ServedCopy c = new ServedCopy(options, cluster.redis().toString());
        try {
            ClusterNode n = ClusterNode.open(options.data(), cluster, c);
            c.attach(n, n::store, () -> clusterStatus(n));
            c.node = n;
            c.awaitServing(
                    progress,
                    () -> n.status().state()
                            + (n.status().lastError() == null
                                    ? ""
                                    : ": " + n.status().lastError()));
            n.advertise((options.tls() == null ? "http://" : "https://") + host(options.bind()) + ":" + c.httpPort());
            return c;
        } catch (RuntimeException | Error e) {
            c.close();
            throw e;
        }
    }

    private static String host(String bind) {
        if (bind.equals("0.0.0.0") || bind.equals("::")) {
            try {
                return java.net.InetAddress.getLocalHost().getHostName();
            } catch (java.net.UnknownHostException e) {
                return "127.0.0.1";
            }
        }
        return bind.contains(":") ? "[" + bind + "]" : bind;
    }

    private synchronized void attach(AutoCloseable owner, Supplier<Caskade> store, Supplier<Role> role) {
        this.owner = owner;
        this.store = store;
        this.role = role;
    }

    private synchronized void awaitServing(PrintWriter progress, Supplier<String> where) {
        serve();
        long next = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
        while (server == null && failure == null && !closed) {
            try {
                wait(250);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for the first copy");
            }
            if (server == null && System.nanoTime() > next) {
                progress.printf("waiting for the first copy from %s (%s)%n", source, where.get());
                progress.flush();
                next = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            }
        }
        if (failure != null) throw failure;
    }

    /** Starts the listeners on the current store; after a restart, on the ports bound the first time. */
    private void serve() {
        if (server != null || closed || store == null) return;
        Caskade db = store.get();
        if (db == null) return;
        try {
            server = Server.serve(options, db, role);
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
            LOG.error("cannot serve the copy of {}: {}", source, e.getMessage());
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
                source,
                revision);
        server.close();
        server = null;
    }

    @Override
    public synchronized void reset(long revision) {
        serve();
    }

    private static FollowStatus followStatus(LocalReplica r, boolean readOnly) {
        LocalReplica.Status s = r.status();
        return new FollowStatus(
                r.server(),
                r.prefix(),
                readOnly,
                s.state(),
                s.revision(),
                s.serverRevision(),
                s.lagRevisions(),
                s.breaker().name(),
                r.writeBreaker().name(),
                s.lastError(),
                s.lastAppliedAt());
    }

    private static ClusterStatus clusterStatus(ClusterNode n) {
        ClusterNode.Status s = n.status();
        return new ClusterStatus(
                s.cluster(),
                s.nodeId(),
                s.redis(),
                s.state(),
                s.revision(),
                s.streamHead(),
                s.lag(),
                s.breaker(),
                n.options().whenBusDown().name(),
                s.queuedWrites(),
                s.bootstraps(),
                s.lastError(),
                s.shards(),
                s.positions());
    }

    /** How the copy is doing: a {@link FollowStatus} or a {@link ClusterStatus}. */
    Role status() {
        return role.get();
    }

    synchronized int respPort() {
        return server == null ? options.respPort() : server.respPort();
    }

    synchronized int httpPort() {
        return server == null ? options.httpPort() : server.httpPort();
    }

    /** The follower's replica; null on a cluster node. */
    LocalReplica replica() {
        return replica;
    }

    /** The cluster node; null on a follower. */
    ClusterNode node() {
        return node;
    }

    /** Stops serving, then following; the copy stays on disk, and the next start resumes from its revision. */
    @Override
    public void close() {
        Server s;
        AutoCloseable o;
        synchronized (this) {
            closed = true;
            s = server;
            server = null;
            o = owner;
            notifyAll();
        }
        try {
            if (s != null) s.close();
        } finally {
            try {
                if (o != null) o.close();
            } catch (Exception e) {
                LOG.warn("error while closing the copy of {}: {}", source, e.toString());
            }
        }
    }
}
