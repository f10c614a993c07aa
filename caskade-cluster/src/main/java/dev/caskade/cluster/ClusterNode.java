package dev.caskade.cluster;

import dev.caskade.Batch;
import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.Change;
import dev.caskade.Durability;
import dev.caskade.Entry;
import dev.caskade.Loader;
import dev.caskade.Pin;
import dev.caskade.UnavailableException;
import dev.caskade.Upstream;
import dev.caskade.WatchEvent;
import dev.caskade.client.CaskadeClient;
import dev.caskade.client.ClientOptions;
import dev.caskade.client.RemoteEvent;
import dev.caskade.client.RemoteWatch;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLongArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import redis.clients.jedis.util.JedisClusterCRC16;

/**
 * One node of a cluster: a {@code caskade-core} store of its own ({@code DIR/store}) kept in the cluster's one global
 * order by a Redis stream. Every write made through {@link #store()} (put, delete, batch, compare-and-set) is decided
 * by a script in Redis (preconditions checked, the next revision taken and the stream entry appended in one atomic
 * step) and returns once this node has applied it (read-your-writes). A reader thread applies every stream entry
 * with its stream revision, so the store's {@link Caskade#revision()} is the stream position, kept atomically with
 * the data: a restart resumes exactly there.
 *
 * <p>A node whose position the stream no longer holds (it was away longer than the retention) loads a peer's
 * snapshot over HTTP (the peers register their URL in Redis, see {@link #advertise}), or else the store of its
 * {@link ClusterOptions#bootstrap() bootstrap source} (a backup), swaps it in and resumes from it. While Redis cannot
 * be reached, reads and watches keep working from the local store; writes follow {@link
 * ClusterOptions#whenBusDown()}.
 *
 * <p>Directory layout: {@code DIR/store} (the store), {@code DIR/store.new} (a snapshot while it loads), {@code
 * DIR/queue} (writes queued while Redis was down), {@code DIR/node-id}.
 */
public final class ClusterNode implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ClusterNode.class);
    private static final Duration HEARTBEAT = Duration.ofSeconds(1);

    /** Told about what the node applies, on the node's reader thread, in revision order. */
    public interface Listener {
        /** One commit of the cluster (from any node) was applied locally. */
        default void commit(WatchEvent.Commit commit) {}

        /**
         * A peer's snapshot (or the bootstrap source's store) at {@code revision} is loaded and about to replace the
         * current {@link #store() store}, which closes right after this returns: whoever serves that store stops using
         * it here.
         */
        default void beforeReset(long revision) {}

        /**
         * The store was replaced by a peer's snapshot (or the bootstrap source's store) at {@code revision}; {@link
         * #store()} is the new one.
         */
        default void reset(long revision) {}
    }

    /**
     * What the node is doing.
     *
     * @param state {@code joining} (not read from Redis yet), {@code live}, {@code reconnecting} (Redis unreachable),
     *     {@code bootstrapping} (loading a peer's snapshot or a backup) or {@code closed}
     * @param redis the cluster URL without password
     * @param revision the last revision applied here: the node's position in the stream
     * @param streamHead the cluster's last revision as last seen in Redis (never below {@code revision})
     * @param lag {@code streamHead - revision}
     * @param breaker the circuit breaker around Redis: CLOSED, OPEN or HALF_OPEN
     * @param queuedWrites writes waiting in the durable queue for Redis
     * @param bootstraps how many times a peer's snapshot or the bootstrap source's store replaced the store
     * @param lastError the last failure (reading, sending, bootstrapping), or null once things work again
     * @param shards how many streams the cluster's keys are spread over
     * @param positions per shard, the last stream revision applied here (with one shard: {@code revision})
     */
    public record Status(
            String nodeId,
            String cluster,
            String redis,
            String state,
            long revision,
            long streamHead,
            long lag,
            String breaker,
            long queuedWrites,
            long bootstraps,
            String lastError,
            int shards,
            List<Long> positions) {}

    private final Path dir;
    private final ClusterOptions options;
    private final CaskadeOptions storeOptions;
    private final String nodeId;
    /** The node registry; with one shard also the one stream. */
    private final ClusterBus bus;
    /** With more than one shard: the streams, by shard; else just {@link #bus}. */
    private final ClusterBus[] streams;

    private final int shards;
    /**
     * Sharded: per shard, the last stream revision applied; written under {@link #applyLock}, read without it (a
     * waiter must not take {@link #applyLock} while it holds {@link #applied}).
     */
    private final AtomicLongArray positions;
    /** Sharded: the node's revision of recently applied stream entries, by shard and stream revision. */
    private final long[][] localOf;
    /** Sharded: each stream's head as last seen. */
    private final long[] heads;
    /** Sharded: holds the store's history after the last checkpoint. */
    private volatile Pin pin;
    /** Whether Redis agrees on the number of shards: null until asked, then the answer. */
    private volatile String shardsRefused;

    private volatile boolean shardsChecked;
    private final Object applyLock = new Object();
    private final WriteQueue queue;
    private final List<Listener> listeners = new CopyOnWriteArrayList<>();
    private final Object applied = new Object();
    private final Object wake = new Object();
    private final Thread[] readers;
    private final Thread heartbeat;
    private final Thread sender;
    private volatile Caskade db;
    private volatile long revision;
    private volatile long streamHead;
    private volatile boolean closed;
    private volatile String state = "joining";
    private volatile String lastError;
    private volatile String httpUrl;
    private volatile long bootstraps;
    private volatile boolean behindWarned;

    private ClusterNode(Path dir, ClusterOptions options, CaskadeOptions storeOptions, Listener listener) {
        this.dir = Objects.requireNonNull(dir, "dir");
        this.options = Objects.requireNonNull(options, "options");
        // the store's reaper hands expired versions to the cluster, which deletes each once for every node
        this.storeOptions = Objects.requireNonNull(storeOptions, "storeOptions").withUpstream(new Upstream() {
            @Override
            public long commit(List<Change> changes, List<Batch.Expect> expects) {
                return ClusterNode.this.commit(changes, expects);
            }

            @Override
            public void expire(List<Batch.Expect> versions) {
                ClusterNode.this.expire(versions);
            }
        });
        if (listener != null) listeners.add(listener);
        try {
            Files.createDirectories(dir);
            Loader.discard(dir.resolve("store.new")); // a load cut short by a crash
        } catch (IOException e) {
            throw new UncheckedIOException("cannot prepare cluster node directory " + dir + ": " + e.getMessage(), e);
        }
        this.nodeId = options.nodeId() != null ? options.nodeId() : savedNodeId(dir);
        this.shards = options.shards();
        this.positions = new AtomicLongArray(shards);
        this.heads = new long[shards];
        this.localOf = shards == 1 ? null : new long[shards][RING];
        this.db = Caskade.open(dir.resolve("store"), this.storeOptions);
        this.revision = db.revision();
        this.streamHead = revision;
        try {
            loadPositions();
            this.queue = new WriteQueue(dir.resolve("queue"));
            this.bus = new ClusterBus(options);
            this.streams = new ClusterBus[shards];
            if (shards == 1) streams[0] = bus;
            else for (int i = 0; i < shards; i++) streams[i] = new ClusterBus(options, shardTag(options, i));
        } catch (RuntimeException e) {
            db.close();
            throw e;
        }
        this.readers = new Thread[shards];
        for (int i = 0; i < shards; i++) {
            int shard = i;
            readers[i] = Thread.ofPlatform()
                    .name("caskade-cluster-reader" + (shards == 1 ? "" : "-" + i))
                    .daemon()
                    .unstarted(() -> read(shard));
        }
        this.heartbeat =
                Thread.ofPlatform().name("caskade-cluster-heartbeat").daemon().unstarted(this::beat);
        this.sender =
                Thread.ofPlatform().name("caskade-cluster-sender").daemon().unstarted(this::send);
    }

    /** Joins the cluster with a store that keeps no fsync per commit: the stream is the source of truth. */
    public static ClusterNode open(Path dir, ClusterOptions options) {
        return open(dir, options, null);
    }

    /** Like {@link #open(Path, ClusterOptions)}, with {@code listener} told from the very first applied commit. */
    public static ClusterNode open(Path dir, ClusterOptions options, Listener listener) {
        return open(dir, options, defaultStoreOptions(), listener);
    }

    /**
     * Joins with these store options (the upstream is the node; the reaper hands expired versions to the cluster).
     * {@code listener} (may be null) is registered before anything is applied.
     */
    public static ClusterNode open(Path dir, ClusterOptions options, CaskadeOptions storeOptions, Listener listener) {
        ClusterNode n = new ClusterNode(dir, options, storeOptions, listener);
        for (Thread t : n.readers) t.start();
        n.heartbeat.start();
        n.sender.start();
        return n;
    }

    /** Durability NONE: a node that lost its tail in a crash reads it again from the stream. */
    public static CaskadeOptions defaultStoreOptions() {
        return CaskadeOptions.defaults().withDurability(Durability.NONE);
    }

    /**
     * The node's store: serve it, read it, write to it (writes go through the cluster). A peer's snapshot may replace
     * it ({@link Listener#beforeReset}).
     */
    public Caskade store() {
        Caskade d = db;
        if (d == null) throw new IllegalStateException("cluster node is closed or swapping its store: " + dir);
        return d;
    }

    public String nodeId() {
        return nodeId;
    }

    public ClusterOptions options() {
        return options;
    }

    /**
     * Sets the HTTP base URL ({@code http://host:port}) where this node serves its store, which peers use to load a
     * snapshot from it; null: none. Registered in Redis with the next heartbeat (within a second).
     */
    public void advertise(String url) {
        if (url != null) URI.create(url); // fail early on garbage
        httpUrl = url;
        synchronized (wake) {
            wake.notifyAll();
        }
    }

    /** Adds a listener from the next applied commit on. */
    public void onChange(Listener l) {
        listeners.add(Objects.requireNonNull(l, "listener"));
    }

    /** The last revision applied here. */
    public long revision() {
        return revision;
    }

    /** Waits until this node has applied {@code revision}. */
    public boolean awaitRevision(long rev, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (applied) {
            while (revision < rev) {
                long left = deadline - System.nanoTime();
                if (left <= 0 || closed) return revision >= rev;
                TimeUnit.NANOSECONDS.timedWait(applied, left);
            }
        }
        return true;
    }

    public Status status() {
        long rev;
        long head;
        List<Long> at;
        if (shards == 1) {
            rev = revision;
            head = Math.max(streamHead, rev);
            at = List.of(rev);
        } else {
            synchronized (applyLock) {
                rev = revision;
                long lag = 0;
                Long[] p = new Long[shards];
                for (int i = 0; i < shards; i++) {
                    p[i] = positions.get(i);
                    lag += Math.max(0, heads[i] - positions.get(i));
                }
                head = rev + lag;
                at = List.of(p);
            }
        }
        String breaker = "CLOSED";
        for (ClusterBus b : streams) {
            String st = b.breakerState();
            if (!st.equals("CLOSED")) breaker = st;
            if (st.equals("OPEN")) break;
        }
        if (shards > 1 && !bus.breakerState().equals("CLOSED") && breaker.equals("CLOSED"))
            breaker = bus.breakerState();
        return new Status(
                nodeId,
                options.redis().cluster(),
                options.redis().toString(),
                closed ? "closed" : state,
                rev,
                head,
                head - rev,
                breaker,
                queue.size(),
                bootstraps,
                shardsRefused != null ? shardsRefused : lastError,
                shards,
                at);
    }

    /** Per shard, the last stream revision applied here (with one shard: the node's revision). */
    public long[] positions() {
        if (shards == 1) return new long[] {revision};
        long[] out = new long[shards];
        for (int i = 0; i < shards; i++) out[i] = positions.get(i);
        return out;
    }

    /** Waits until this node has applied, in every shard, at least the stream revision {@code target} gives. */
    public boolean awaitPositions(long[] target, Duration timeout) throws InterruptedException {
        if (target.length != shards)
            throw new IllegalArgumentException("expected " + shards + " positions, got " + target.length);
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (applied) {
            while (true) {
                long[] now = positions();
                boolean there = true;
                for (int i = 0; i < shards; i++) there &= now[i] >= target[i];
                if (there) return true;
                long left = deadline - System.nanoTime();
                if (left <= 0 || closed) return false;
                TimeUnit.NANOSECONDS.timedWait(applied, Math.min(left, 50_000_000L));
            }
        }
    }

    /** How many streams the cluster's keys are spread over. */
    public int shards() {
        return shards;
    }

    /**
     * The shard of {@code key}: its Redis Cluster hash slot (CRC16 of the key, or of its first non-empty {@code
     * {...}} hash tag, modulo 16384) modulo the number of shards. Keys with one hash tag share a shard.
     */
    public int shardOf(byte[] key) {
        return shards == 1 ? 0 : JedisClusterCRC16.getSlot(key) % shards;
    }

    private static final int RING = 1 << 16;

    static String shardTag(ClusterOptions o, int shard) {
        return o.redis().cluster() + ":" + shard;
    }

    /** The one shard of a commit's keys; a commit across shards is refused before anything is sent. */
    private int shardOf(List<Change> changes, List<Batch.Expect> expects) {
        if (shards == 1) return 0;
        byte[] first = changes.isEmpty()
                ? expects.getFirst().key()
                : changes.getFirst().key();
        int s = shardOf(first);
        List<byte[]> keys = new ArrayList<>(changes.size() + expects.size());
        for (Change c : changes) keys.add(c.key());
        for (Batch.Expect e : expects) keys.add(e.key());
        for (byte[] k : keys) {
            int t = shardOf(k);
            if (t != s)
                throw new IllegalArgumentException("keys " + show(first) + " and " + show(k)
                        + " are in different shards (" + s + " and " + t + ") of cluster "
                        + options.redis().cluster() + ", which has " + shards
                        + ": a transaction's keys must share a shard, e.g. by one hash tag ({user42}:a and"
                        + " {user42}:b); nothing was written");
        }
        return s;
    }

    private static String show(byte[] key) {
        String k = new String(key, StandardCharsets.UTF_8);
        return "'" + (k.length() > 64 ? k.substring(0, 64) + "..." : k) + "'";
    }

    /**
     * Restores the shard positions at the store's revision from {@code DIR/positions} (see {@link Checkpoint}); with
     * one shard there must be none.
     */
    private void loadPositions() {
        Checkpoint c = Checkpoint.read(dir);
        if (shards == 1) {
            if (c != null)
                throw new IllegalStateException(dir + " belongs to a node of a cluster with " + c.positions().length
                        + " shards (see " + dir.resolve(Checkpoint.FILE) + "), but this node has 1: start it with "
                        + c.positions().length + " shards, or give another directory");
            return;
        }
        if (c == null) {
            if (db.revision() > 0)
                throw new IllegalStateException(dir.resolve("store") + " is at revision " + db.revision()
                        + " but has no shard positions (" + dir.resolve(Checkpoint.FILE) + "): it is not a node of a"
                        + " sharded cluster; give an empty directory");
            c = Checkpoint.empty(shards);
        }
        if (c.positions().length != shards)
            throw new IllegalStateException(dir + " belongs to a node of a cluster with " + c.positions().length
                    + " shards, but this node has " + shards + ": give another directory");
        pin = Pin.open(dir.resolve("store"), Checkpoint.PIN);
        c = c.advance(db, this::shardOf);
        // every revision of a sharded node is one stream entry applied, so they add up (a peer's snapshot too)
        long sum = 0;
        for (long p : c.positions()) sum += p;
        if (sum != c.revision())
            throw new IllegalStateException("shard positions " + c + " in " + dir.resolve(Checkpoint.FILE)
                    + " do not add up to the store's revision: give the node an empty directory");
        for (int i = 0; i < shards; i++) positions.set(i, c.positions()[i]);
        c.write(dir);
        pin.moveTo(c.revision());
    }

    /** Saves the shard positions at the node's revision, and lets merge compact the history before it. */
    private void checkpoint() {
        if (shards == 1) return;
        Checkpoint c;
        synchronized (applyLock) {
            c = new Checkpoint(revision, positions());
        }
        c.write(dir);
        Pin p = pin;
        if (p != null) p.moveTo(c.revision());
    }

    /**
     * Whether Redis agrees on the cluster's number of shards (the first node to ask records it). A node started with
     * another number reads nothing and writes nothing.
     */
    private boolean shardsAgreed() {
        if (shardsChecked) return shardsRefused == null;
        synchronized (this) {
            if (shardsChecked) return shardsRefused == null;
            int agreed = bus.agreeShards(shards);
            if (agreed != shards) {
                shardsRefused = "cluster " + options.redis() + " has " + agreed + " shards, but this node was started"
                        + " with " + shards + ": it neither reads nor writes; restart it with " + agreed;
                LOG.error("cluster node {}: {}", nodeId, shardsRefused);
            }
            shardsChecked = true;
            return shardsRefused == null;
        }
    }

    // ---- writes

    /** The store's {@link Upstream}: every write of {@link #store()} comes here. */
    private long commit(List<Change> changes, List<Batch.Expect> expects) {
        if (closed) throw new IllegalStateException("cluster node is closed: " + dir);
        if (shardsRefused != null) throw new UnavailableException(shardsRefused + "; nothing was written");
        if (shards > 1) return commitSharded(changes, expects);
        boolean plain = expects.isEmpty();
        boolean queueing = options.whenBusDown() == ClusterOptions.WhenBusDown.QUEUE;
        if (queueing && plain && queue.size() > 0) return enqueue(changes); // behind the writes queued before
        if (!plain && queue.size() > 0) awaitQueueDrained();
        ClusterBus.Outcome o;
        try {
            o = bus.commit(nodeId, changes, expects, revision, 0);
        } catch (ClusterBus.DownException e) {
            if (queueing && plain && !e.sent) return enqueue(changes);
            throw down(e, plain);
        }
        return switch (o) {
            case ClusterBus.Outcome.Committed c -> {
                awaitApplied(c.revision());
                yield c.revision();
            }
            case ClusterBus.Outcome.Failed f -> 0;
            case ClusterBus.Outcome.Unchanged u -> {
                if (changes.size() == 1) yield 0; // a delete of an absent key
                awaitApplied(u.seq());
                yield u.seq();
            }
            case ClusterBus.Outcome.Behind b -> throw behind(b.seq());
        };
    }

    /**
     * Asks the cluster to expire these versions, each in a script call of its own: the first node to ask writes the
     * EXPIRE, the others find the key gone or rewritten and write nothing. Skipped while this node is not live: its
     * versions may be stale, and the reaper asks again on its next pass.
     */
    private void expire(List<Batch.Expect> versions) {
        for (Batch.Expect v : versions) {
            if (closed || !"live".equals(state) || shardsRefused != null) return;
            ClusterBus.Outcome o;
            if (shards == 1) {
                o = bus.expire(nodeId, v.key(), v.revision(), revision);
            } else {
                // "a version this node has applied" (see commitSharded): if a newer one was applied meanwhile, it is
                // expired only if it too is past its time
                int s = shardOf(v.key());
                long floor = positions.get(s);
                if (floor == 0) continue;
                o = streams[s].expire(nodeId, v.key(), -floor, floor);
            }
            if (o instanceof ClusterBus.Outcome.Behind b) {
                behind(b.seq());
                return;
            }
        }
    }

    /**
     * A write in a sharded cluster. The node's revisions are its own, so a precondition is checked here first (the
     * caller's revision against this node's current version) and then in Redis as "a version this node has applied":
     * the key's stream revision at most this node's position in its shard. Both hold only if the caller saw the
     * key's newest version.
     */
    private long commitSharded(List<Change> changes, List<Batch.Expect> expects) {
        int s = shardOf(changes, expects);
        boolean plain = expects.isEmpty();
        boolean queueing = options.whenBusDown() == ClusterOptions.WhenBusDown.QUEUE;
        if (queueing && plain && queue.size() > 0) return enqueue(changes);
        if (!plain && queue.size() > 0) awaitQueueDrained();
        List<Batch.Expect> bounded = new ArrayList<>(expects.size());
        long floor;
        synchronized (applyLock) {
            floor = positions.get(s);
            Caskade d = db;
            if (swapping || d == null)
                throw new UnavailableException("cluster node " + nodeId + " is loading a peer's snapshot; nothing was"
                        + " written, try again");
            for (Batch.Expect e : expects) {
                long here = d.get(e.key()).map(Entry::revision).orElse(0L);
                if (here != e.revision()) return 0;
                bounded.add(new Batch.Expect(e.key(), e.revision() == 0 ? 0 : -floor));
            }
        }
        ClusterBus.Outcome o;
        try {
            o = streams[s].commit(nodeId, changes, bounded, floor, 0);
        } catch (ClusterBus.DownException e) {
            if (queueing && plain && !e.sent) return enqueue(changes);
            throw down(e, plain);
        }
        return switch (o) {
            case ClusterBus.Outcome.Committed c -> awaitShard(s, c.revision());
            case ClusterBus.Outcome.Failed f -> 0;
            case ClusterBus.Outcome.Unchanged u -> {
                if (changes.size() == 1) yield 0;
                awaitShard(s, u.seq());
                yield revision;
            }
            case ClusterBus.Outcome.Behind b -> throw behind(b.seq());
        };
    }

    /** Waits until shard {@code s} is applied up to {@code streamRevision}; returns the node's revision of it. */
    private long awaitShard(int s, long streamRevision) {
        long deadline = System.nanoTime() + options.writeTimeout().toNanos();
        synchronized (applied) {
            while (true) {
                long at = positions.get(s); // a volatile read: localOf was written before it
                if (at >= streamRevision) {
                    if (streamRevision == 0) return revision;
                    return at - streamRevision < RING ? localOf[s][(int) (streamRevision & (RING - 1))] : revision;
                }
                long left = deadline - System.nanoTime();
                if (left <= 0 || closed)
                    throw new UnavailableException("committed as revision " + streamRevision + " of shard " + s
                            + " in " + options.redis() + ", but not applied on node " + nodeId + " within "
                            + options.writeTimeout() + " (node " + status().state() + ")");
                try {
                    TimeUnit.NANOSECONDS.timedWait(applied, Math.min(left, 50_000_000L));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new UnavailableException("committed as revision " + streamRevision + " of shard " + s
                            + ", interrupted while waiting to apply it");
                }
            }
        }
    }

    /** What a caller hears when Redis failed under a write it did not queue. */
    private static UnavailableException down(ClusterBus.DownException e, boolean plain) {
        return new UnavailableException(
                (e.sent
                                ? "the write may or may not have been committed (Redis failed while it ran): "
                                : "nothing was written: ")
                        + e.getMessage()
                        + (plain ? "" : " (writes with preconditions are never queued)"),
                e);
    }

    private UnavailableException behind(long seq) {
        String m = "Redis " + options.redis() + " is at revision " + seq + ", behind revision " + revision
                + " that this node already applied: it lost acknowledged commits (restarted without its append-only"
                + " file?); writes are refused until the cluster is repaired";
        lastError = m;
        return new UnavailableException(m);
    }

    private long enqueue(List<Change> changes) {
        queue.add(changes);
        synchronized (wake) {
            wake.notifyAll();
        }
        return 0; // no revision yet: it gets one when Redis takes it
    }

    private void awaitQueueDrained() {
        long deadline = System.nanoTime() + options.writeTimeout().toNanos();
        synchronized (wake) {
            while (queue.size() > 0) {
                long left = deadline - System.nanoTime();
                if (left <= 0 || closed)
                    throw new UnavailableException(queue.size() + " queued writes of node " + nodeId
                            + " are not in " + options.redis() + " yet; a write with preconditions waits for them and"
                            + " gave up after " + options.writeTimeout() + "; nothing was written");
                try {
                    TimeUnit.NANOSECONDS.timedWait(wake, Math.min(left, 50_000_000L));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new UnavailableException("interrupted while waiting for queued writes; nothing was written");
                }
            }
        }
    }

    private void awaitApplied(long rev) {
        try {
            if (!awaitRevision(rev, options.writeTimeout()))
                throw new UnavailableException("committed as revision " + rev + " in " + options.redis()
                        + ", but not applied on node " + nodeId + " within " + options.writeTimeout() + " (node "
                        + status().state() + " at revision " + revision + ")");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new UnavailableException(
                    "committed as revision " + rev + ", interrupted while waiting to apply it", e);
        }
    }

    /** Sends queued writes in order, each once (Redis remembers the last token this node sent). */
    private void send() {
        long backoff = 50;
        while (!closed) {
            WriteQueue.Item item;
            try {
                item = queue.peek();
            } catch (RuntimeException e) {
                LOG.error("cluster node {}: cannot read its write queue: {}", nodeId, e.getMessage());
                lastError = e.getMessage();
                pause(1000);
                continue;
            }
            if (item == null) {
                pause(200);
                continue;
            }
            try {
                ClusterBus.Outcome o;
                if (shards == 1) {
                    o = bus.commit(nodeId, item.changes(), List.of(), revision, item.token());
                } else {
                    int s = shardOf(item.changes(), List.of());
                    o = streams[s].commit(nodeId, item.changes(), List.of(), positions.get(s), item.token());
                }
                if (o instanceof ClusterBus.Outcome.Behind b) {
                    behind(b.seq());
                    pause(1000);
                    continue;
                }
                queue.remove(item.token());
                backoff = 50;
                synchronized (wake) {
                    wake.notifyAll();
                }
            } catch (ClusterBus.DownException e) {
                pause(backoff);
                backoff = Math.min(backoff * 2, 1000);
            } catch (RuntimeException e) {
                LOG.error("cluster node {}: cannot send a queued write: {}", nodeId, e.toString());
                lastError = e.toString();
                pause(1000);
            }
        }
    }

    // ---- reading the stream

    private void apply(ClusterBus.Entry e) {
        Caskade d = db;
        d.apply(e.revision(), e.time(), e.changes());
        revision = e.revision();
        if (e.revision() > streamHead) streamHead = e.revision();
        WatchEvent.Commit c = new WatchEvent.Commit(e.revision(), e.time(), e.changes());
        for (Listener l : listeners) l.commit(c);
        synchronized (applied) {
            applied.notifyAll();
        }
    }

    private final java.util.Set<Integer> downShards = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /**
     * The reader of shard {@code s}'s stream (the one stream of an unsharded cluster): applies its entries in order,
     * and notices when the stream was trimmed past this node.
     */
    private void read(int s) {
        ClusterBus b = streams[s];
        long backoff = 50;
        while (!closed) {
            try {
                if (!shardsAgreed()) {
                    pause(2000);
                    continue;
                }
                long from = shards == 1 ? revision : positions.get(s);
                List<ClusterBus.Entry> entries = b.read(from);
                if (!entries.isEmpty() && entries.get(0).revision() != from + 1) {
                    if (shards == 1) rebootstrap(entries.get(0).revision());
                    else trimmedPast(s, from, entries.get(0).revision());
                    continue;
                }
                boolean stale = false;
                for (ClusterBus.Entry e : entries) {
                    if (shards == 1) {
                        apply(e);
                    } else if (!applyShard(s, e)) {
                        stale = true;
                        break;
                    }
                }
                if (stale) {
                    pause(20); // the store is being swapped, or was: read again from the new positions
                    continue;
                }
                downShards.remove(s);
                if (downShards.isEmpty() && !"live".equals(state) && !"stalled".equals(state)) {
                    state = "live";
                    lastError = null;
                }
                backoff = 50;
            } catch (ClusterBus.DownException e) {
                if (closed) break;
                if (downShards.add(s))
                    LOG.warn(
                            "cluster node {}: lost Redis{}: {}; serving reads from the local store",
                            nodeId,
                            shards == 1 ? "" : " for shard " + s,
                            e.getMessage());
                state = "reconnecting";
                lastError = e.getMessage();
                pause(backoff);
                backoff = Math.min(backoff * 2, 1000);
            } catch (RuntimeException e) {
                if (closed) break;
                LOG.error(
                        "cluster node {}: stream reader{} failed at revision {}",
                        nodeId,
                        shards == 1 ? "" : " of shard " + s,
                        revision,
                        e);
                lastError = e.toString();
                pause(1000);
            }
        }
        b.closeReaderConnection();
    }

    /** Applies a shard's stream entry under the node's next revision; listeners hear of it in revision order. */
    private boolean applyShard(int s, ClusterBus.Entry e) {
        synchronized (applyLock) {
            // entries read before the store was replaced by a snapshot belong to the old positions: read again
            if (swapping || e.revision() != positions.get(s) + 1) return false;
            long local = revision + 1;
            db.apply(local, e.time(), e.changes());
            localOf[s][(int) (e.revision() & (RING - 1))] = local;
            revision = local; // before the position: a writer that sees the position finds its revision
            positions.set(s, e.revision());
            if (e.revision() > heads[s]) heads[s] = e.revision();
            WatchEvent.Commit c = new WatchEvent.Commit(local, e.time(), e.changes());
            for (Listener l : listeners) l.commit(c);
        }
        synchronized (applied) {
            applied.notifyAll();
        }
        return true;
    }

    /**
     * The other nodes registered with an HTTP URL, the most advanced first. A registration is up to a heartbeat old:
     * what a peer's snapshot holds is checked when it arrives.
     */
    private List<Peer> peers() {
        List<Peer> peers = new ArrayList<>();
        for (Map.Entry<String, String> e : bus.nodes().entrySet()) {
            if (e.getKey().equals(nodeId)) continue;
            Peer p = Peer.parse(e.getKey(), e.getValue());
            if (p != null && p.http() != null) peers.add(p);
        }
        peers.sort(Comparator.comparingLong(Peer::revision).reversed());
        return peers;
    }

    private final Object bootstrapLock = new Object();
    /** Sharded: set while the store is swapped; readers apply nothing meanwhile. */
    private boolean swapping;

    /**
     * Shard {@code s}'s stream no longer holds what follows this node's position {@code at} in it (it starts at
     * {@code first}): load a peer's snapshot together with the peer's positions at it, swap both in, and resume every
     * shard from there. With no peer able to help, the node keeps serving reads (state {@code stalled}) and tries
     * again.
     */
    private void trimmedPast(int s, long at, long first) {
        synchronized (bootstrapLock) {
            if (positions.get(s) + 1 >= first || closed) return; // another reader's bootstrap caught up meanwhile
            state = "bootstrapping";
            LOG.warn(
                    "cluster node {} at revision {} of shard {}: that stream starts at {} (trimmed past this node);"
                            + " loading a peer's snapshot",
                    nodeId,
                    at,
                    s,
                    first);
            List<Peer> peers = peers();
            List<String> failures = new ArrayList<>();
            for (Peer p : peers) {
                if (closed) return;
                try {
                    loadSharded(p);
                    state = "live";
                    lastError = null;
                    return;
                } catch (Exception e) {
                    failures.add(p.id() + " (" + p.http() + "): " + (e.getMessage() == null ? e : e.getMessage()));
                }
            }
            String m = "cluster node " + nodeId + " is at revision " + at + " of shard " + s + ", but that stream"
                    + " now starts at " + first + " (retention " + options.retention() + ") and "
                    + (peers.isEmpty()
                            ? "no peer has registered an HTTP URL"
                            : "no peer could give a snapshot with its positions: " + failures)
                    + "; serving reads, retrying";
            LOG.error(m);
            lastError = m;
            state = "stalled";
        }
        pause(2000);
    }

    /**
     * A peer's snapshot and the positions that go with it: the peer registers its positions at one of its revisions
     * (read here before the snapshot, which is taken later); the peer's commits between that revision and the
     * snapshot's, counted per shard, bring them to the snapshot.
     */
    private void loadSharded(Peer listed) throws Exception {
        Peer reg = Peer.parse(listed.id(), bus.nodes().get(listed.id()));
        if (reg == null || reg.http() == null || reg.positions() == null || reg.positions().length != shards)
            throw new IllegalStateException("it has not registered its positions in " + shards + " shards");
        long snap = fetch(reg, reg.revision());
        long[] at = reg.positions().clone();
        try {
            if (snap > reg.revision()) countCommits(reg, reg.revision(), snap, at);
            for (int i = 0; i < shards; i++) {
                long first = streams[i].first();
                if (first > at[i] + 1)
                    throw new IllegalStateException("its snapshot is at revision " + at[i] + " of shard " + i
                            + ", before that stream's start " + first);
            }
        } catch (Exception e) {
            Loader.discard(dir.resolve("store.new"));
            throw e;
        }
        synchronized (applyLock) {
            swapping = true;
        }
        try {
            swapIn(snap, () -> {
                synchronized (applyLock) {
                    for (long[] ring : localOf) java.util.Arrays.fill(ring, 0);
                    new Checkpoint(revision, at).write(dir);
                    pin = Pin.open(dir.resolve("store"), Checkpoint.PIN);
                    pin.moveTo(revision);
                    for (int i = 0; i < shards; i++) positions.set(i, at[i]);
                }
            });
        } finally {
            synchronized (applyLock) {
                swapping = false;
            }
        }
        LOG.info(
                "cluster node {}: loaded {}''s snapshot at its revision {}, positions {}",
                nodeId,
                reg.id(),
                snap,
                java.util.Arrays.toString(at));
    }

    /** Adds to {@code at}, per shard, the peer's commits after {@code from} up to {@code to}. */
    private void countCommits(Peer peer, long from, long to, long[] at) throws Exception {
        LinkedBlockingQueue<RemoteEvent> events = new LinkedBlockingQueue<>();
        try (CaskadeClient client = peerClient(peer)) {
            RemoteWatch w = client.watch("", from, false, events::add);
            try {
                long seen = from;
                while (seen < to) {
                    RemoteEvent e = events.poll(30, TimeUnit.SECONDS);
                    if (e == null || closed)
                        throw new IllegalStateException("its history after revision " + from + " stalled at " + seen);
                    switch (e) {
                        case RemoteEvent.Commit c -> {
                            long r = c.commit().revision();
                            if (r <= to)
                                at[shardOf(c.commit().changes().getFirst().key())]++;
                            seen = r;
                        }
                        case RemoteEvent.Ended end ->
                            throw new IllegalStateException(
                                    "its history after revision " + from + " ended at " + seen,
                                    end.cause() == null ? null : end.cause());
                        default -> {}
                    }
                }
            } finally {
                w.close();
            }
        }
    }

    /**
     * The stream no longer holds what follows this node's revision (it starts at {@code first}): load a peer's
     * snapshot at {@code first - 1} or later, or else the {@link ClusterOptions#bootstrap() bootstrap source}'s
     * store. With neither able to help, the node keeps serving its reads and tries again.
     */
    private void rebootstrap(long first) {
        state = "bootstrapping";
        Bootstrap backup = options.bootstrap();
        LOG.warn(
                "cluster node {} at revision {}: the stream starts at {} (trimmed past this node); loading a peer's"
                        + " snapshot{}",
                nodeId,
                revision,
                first,
                backup == null ? "" : " or the backup at " + backup.description());
        List<Peer> peers = peers();
        List<String> failures = new ArrayList<>();
        for (Peer p : peers) {
            if (closed) return;
            try {
                load(p, first - 1);
                return;
            } catch (Exception e) {
                failures.add(p.id() + " (" + p.http() + "): " + e);
            }
        }
        String backupFailure = null;
        if (backup != null) {
            if (closed) return;
            try {
                restore(backup, first);
                return;
            } catch (IllegalStateException e) {
                backupFailure = e.getMessage(); // names the backup and what is wrong with it
            } catch (Exception e) {
                backupFailure = "the backup at " + backup.description() + " could not be swapped in: " + e;
            }
        }
        String m = "cluster node " + nodeId + " at revision " + revision + " cannot catch up: the stream starts at "
                + first + " and "
                + (peers.isEmpty()
                        ? "no peer has registered an HTTP URL"
                        : "no peer could give a snapshot at " + (first - 1) + " or later: " + failures)
                + (backupFailure == null ? "" : "; " + backupFailure)
                + "; serving reads, retrying";
        LOG.error(m);
        lastError = m;
        pause(2000);
    }

    /**
     * Loads the bootstrap source's store into {@code DIR/store.new} and swaps it in when it reaches {@code first -
     * 1}. Any failure says what the backup is and why it cannot serve.
     */
    private void restore(Bootstrap backup, long first) throws IOException {
        Path fresh = dir.resolve("store.new");
        Loader.discard(fresh);
        long rev;
        try {
            rev = backup.load(fresh, first - 1);
        } catch (Exception e) {
            Loader.discard(fresh);
            throw new IllegalStateException(
                    "the backup at " + backup.description() + " could not be loaded: "
                            + (e.getMessage() == null ? e.toString() : e.getMessage()),
                    e);
        }
        if (rev < first - 1) {
            Loader.discard(fresh);
            throw new IllegalStateException("the backup at " + backup.description() + " is at revision " + rev
                    + ", the stream starts at " + first);
        }
        if (closed) {
            Loader.discard(fresh);
            return;
        }
        swapIn(rev);
        LOG.info("cluster node {}: loaded the backup at {} at revision {}", nodeId, backup.description(), rev);
    }

    private void load(Peer peer, long atLeast) throws Exception {
        long rev = fetch(peer, atLeast);
        swapIn(rev);
        LOG.info("cluster node {}: loaded {}''s snapshot at revision {}", nodeId, peer.id(), rev);
    }

    private CaskadeClient peerClient(Peer peer) {
        ClientOptions o = ClientOptions.defaults()
                .withConnectTimeout(Duration.ofSeconds(5))
                .withRequestTimeout(Duration.ofSeconds(30));
        ClusterOptions.PeerAuth auth = options.peerAuth();
        if (auth != null)
            o = auth.token() != null ? o.withToken(auth.token()) : o.withUser(auth.user(), auth.password());
        return CaskadeClient.connect(URI.create(peer.http()), o);
    }

    /** Loads a peer's snapshot at {@code atLeast} or later into {@code DIR/store.new}; returns its revision. */
    private long fetch(Peer peer, long atLeast) throws Exception {
        LinkedBlockingQueue<RemoteEvent> events = new LinkedBlockingQueue<>();
        Path fresh = dir.resolve("store.new");
        Loader.discard(fresh);
        Loader loader = null;
        try (CaskadeClient client = peerClient(peer)) {
            RemoteWatch w = client.watch("", 0, true, events::add);
            try {
                long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(10);
                while (true) {
                    RemoteEvent e = events.poll(30, TimeUnit.SECONDS);
                    if (e == null || System.nanoTime() > deadline || closed)
                        throw new IllegalStateException("the snapshot stalled");
                    switch (e) {
                        case RemoteEvent.Snapshot s -> {
                            if (loader == null) {
                                if (s.revision() < atLeast)
                                    throw new IllegalStateException("its snapshot is at revision " + s.revision()
                                            + ", before the stream's start " + (atLeast + 1));
                                loader = Loader.create(fresh, storeOptions, s.revision(), System.currentTimeMillis());
                            }
                            for (Entry it : s.items()) loader.add(it.key(), it.value(), it.revision(), it.expiresAt());
                            if (s.last()) {
                                loader.finish();
                                loader.close();
                                loader = null;
                                return s.revision();
                            }
                        }
                        case RemoteEvent.Commit c -> {} // the stream brings them
                        case RemoteEvent.Ended end ->
                            throw new IllegalStateException(
                                    "the snapshot stream ended", end.cause() == null ? null : end.cause());
                        default -> throw new IllegalStateException("unexpected " + e);
                    }
                }
            } finally {
                w.close();
            }
        } finally {
            if (loader != null) loader.close();
        }
    }

    private void swapIn(long rev) throws IOException {
        swapIn(rev, () -> {});
    }

    /** Swaps the loaded store in; {@code install} runs once it is open, before the listeners hear of it. */
    private void swapIn(long rev, Runnable install) throws IOException {
        Caskade old = db;
        for (Listener l : listeners) l.beforeReset(rev);
        db = null;
        old.close();
        Path store = dir.resolve("store");
        Loader.replace(store, dir.resolve("store.new"));
        db = Caskade.open(store, storeOptions);
        revision = db.revision();
        install.run();
        bootstraps++;
        for (Listener l : listeners) l.reset(rev);
        synchronized (applied) {
            applied.notifyAll();
        }
    }

    // ---- registration

    /** Registers this node (URL, revision) every second and notes the stream's head. */
    private void beat() {
        while (!closed) {
            if (shards > 1) {
                beatSharded();
                pause(HEARTBEAT.toMillis());
                continue;
            }
            try {
                long rev = revision; // before the head: a commit applied in between is not a loss
                bus.register(nodeId, registration(httpUrl, rev, System.currentTimeMillis()));
                long head = bus.head();
                if (head > streamHead) streamHead = head;
                if (head < rev && !behindWarned) {
                    behindWarned = true;
                    String m = "Redis " + options.redis() + " is at revision " + head + ", behind this node (" + rev
                            + "): it lost acknowledged commits";
                    LOG.error("cluster node {}: {}", nodeId, m);
                    lastError = m;
                }
            } catch (RuntimeException e) {
                // the reader reports Redis being down
            }
            pause(HEARTBEAT.toMillis());
        }
    }

    private void beatSharded() {
        try {
            checkpoint();
        } catch (RuntimeException e) {
            LOG.error("cluster node {}: cannot save its shard positions: {}", nodeId, e.getMessage());
            lastError = e.getMessage();
        }
        try {
            long rev;
            long[] at;
            synchronized (applyLock) {
                rev = revision;
                at = positions();
            }
            bus.register(nodeId, registration(httpUrl, rev, System.currentTimeMillis(), at));
            for (int i = 0; i < shards; i++) {
                long head = streams[i].head();
                synchronized (applyLock) {
                    if (head > heads[i]) heads[i] = head;
                }
                if (head < at[i] && !behindWarned) {
                    behindWarned = true;
                    String m = "Redis " + options.redis() + " is at revision " + head + " of shard " + i
                            + ", behind this node (" + at[i] + "): it lost acknowledged commits";
                    LOG.error("cluster node {}: {}", nodeId, m);
                    lastError = m;
                }
            }
        } catch (RuntimeException e) {
            // the readers report Redis being down
        }
    }

    static String registration(String http, long revision, long seenAt) {
        return registration(http, revision, seenAt, null);
    }

    /** With {@code positions} (a sharded node): where it stood in each shard at {@code revision}. */
    static String registration(String http, long revision, long seenAt, long[] positions) {
        java.io.StringWriter out = new java.io.StringWriter();
        try (tools.jackson.core.JsonGenerator g = new tools.jackson.core.json.JsonFactory()
                .createGenerator(tools.jackson.core.ObjectWriteContext.empty(), out)) {
            g.writeStartObject();
            g.writeStringProperty("http", http);
            g.writeNumberProperty("revision", revision);
            g.writeNumberProperty("seenAt", seenAt);
            if (positions != null) {
                g.writeName("positions");
                g.writeArray(positions, 0, positions.length);
            }
            g.writeEndObject();
        }
        return out.toString();
    }

    private void pause(long ms) {
        synchronized (wake) {
            if (closed) return;
            try {
                wake.wait(ms);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private static String savedNodeId(Path dir) {
        Path f = dir.resolve("node-id");
        try {
            if (Files.exists(f))
                return Files.readString(f, StandardCharsets.UTF_8).trim();
            byte[] r = new byte[6];
            ThreadLocalRandom.current().nextBytes(r);
            String id = "node-" + HexFormat.of().formatHex(r);
            Files.writeString(f, id + "\n", StandardCharsets.UTF_8);
            return id;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read or save the node id in " + f + ": " + e.getMessage(), e);
        }
    }

    /**
     * Leaves the cluster: stops reading (queued writes stay queued for the next open), unregisters, closes the store.
     * The next open resumes from the store's revision.
     */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        synchronized (wake) {
            wake.notifyAll();
        }
        synchronized (applied) {
            applied.notifyAll();
        }
        List<Thread> threads = new ArrayList<>(List.of(readers));
        threads.add(heartbeat);
        threads.add(sender);
        for (Thread t : threads) {
            try {
                t.join(options.redisTimeout().toMillis() + ClusterBus.BLOCK_MS + 1000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        try {
            bus.register(nodeId, registration(null, revision, System.currentTimeMillis()));
        } catch (RuntimeException e) {
            // Redis is down: peers find the stale URL unreachable and try the next
        }
        try {
            checkpoint(); // the next open needs no replay
        } catch (RuntimeException e) {
            LOG.warn("cluster node {}: cannot save its shard positions on close: {}", nodeId, e.getMessage());
        }
        for (ClusterBus b : streams) if (b != bus) b.close();
        bus.close();
        Caskade d = db;
        db = null;
        if (d != null) d.close();
    }

    /** A peer as registered in Redis. */
    record Peer(String id, String http, long revision, long seenAt, long[] positions) {
        static Peer parse(String id, String json) {
            if (json == null) return null;
            try (tools.jackson.core.JsonParser p = new tools.jackson.core.json.JsonFactory()
                    .createParser(tools.jackson.core.ObjectReadContext.empty(), json)) {
                String http = null;
                long revision = 0;
                long seenAt = 0;
                long[] positions = null;
                if (p.nextToken() != tools.jackson.core.JsonToken.START_OBJECT) return null;
                while (p.nextToken() == tools.jackson.core.JsonToken.PROPERTY_NAME) {
                    String name = p.currentName();
                    tools.jackson.core.JsonToken t = p.nextToken();
                    switch (name) {
                        case "http" -> http = t == tools.jackson.core.JsonToken.VALUE_STRING ? p.getString() : null;
                        case "revision" -> revision = p.getLongValue();
                        case "seenAt" -> seenAt = p.getLongValue();
                        case "positions" -> {
                            List<Long> at = new ArrayList<>();
                            while (p.nextToken() == tools.jackson.core.JsonToken.VALUE_NUMBER_INT)
                                at.add(p.getLongValue());
                            positions = at.stream().mapToLong(Long::longValue).toArray();
                        }
                        default -> p.skipChildren();
                    }
                }
                return new Peer(id, http, revision, seenAt, positions);
            } catch (RuntimeException e) {
                LOG.warn("unreadable registration of node {}: {}", id, json);
                return null;
            }
        }
    }
}
