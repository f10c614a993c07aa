package dev.caskade.client;

import dev.caskade.Entry;
import dev.caskade.WatchEvent;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Consumer;
import java.util.function.LongConsumer;
import java.util.function.LongSupplier;
import java.util.stream.Stream;

/**
 * The writes of a {@link LocalReplica}. Without {@link ClientOptions#offlineWrites()} each is sent at once. With it,
 * each goes to the {@link Outbox} first (durable when the call returns) and a sender thread sends them from there in
 * order, one at a time, each with the idempotency key {@code <replica id>-<sequence>}: a write whose answer was lost
 * (the connection broke, the process died before the ack) is sent again with the same key, and the server answers it
 * from memory instead of committing it twice. Connection failures and 5xx are retried with the replica's backoff,
 * forever: a write is never dropped. With {@link ClientOptions#localEcho()}, queued writes are shown by the
 * replica's reads through an in-memory overlay ({@link #echo}), each until the replica has applied the server's
 * commit of it.
 */
final class ReplicaWrites implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(ReplicaWrites.class.getName());
    /** Conflicts kept for a callback that is not registered yet; past this the oldest are only logged. */
    private static final int UNHEARD_MAX = 10_000;

    /** Test hook: called with a write's sequence after the server answered it and before the ack is recorded. */
    static volatile LongConsumer afterSend;

    /** A queued write shown by reads; {@code revision}: 0 until the server answered, then its commit's revision. */
    private record Echo(OfflineWrite write, long queuedAt, long revision) {}

    private final CaskadeClient client;
    private final byte[] prefix;
    private final Path dir;
    private final ReplicaOptions options;
    private final LongSupplier appliedRevision;
    private final Outbox outbox;
    private final boolean echo;
    private final ConcurrentSkipListMap<byte[], Echo> echoes = new ConcurrentSkipListMap<>(Arrays::compareUnsigned);
    private final Map<Long, CompletableFuture<Long>> futures = new ConcurrentHashMap<>();
    private final List<Consumer<Conflict>> conflictListeners = new CopyOnWriteArrayList<>();
    private final ArrayDeque<Conflict> unheard = new ArrayDeque<>();
    private final Object wake = new Object();
    private final Thread sender;
    private volatile boolean closed;
    private volatile String lastError;

    ReplicaWrites(CaskadeClient client, byte[] prefix, Path dir, ReplicaOptions options, LongSupplier appliedRevision) {
        this.client = client;
        this.prefix = prefix;
        this.dir = dir;
        this.options = options;
        this.appliedRevision = appliedRevision;
        ClientOptions o = client.options();
        this.outbox = o.offlineWrites() ? Outbox.open(dir) : null;
        this.echo = o.localEcho();
        if (echo) {
            long now = System.currentTimeMillis();
            for (OfflineWrite w : outbox.pending()) echoes.put(w.key(), new Echo(w, now, 0));
        }
        this.sender = outbox == null
                ? null
                : Thread.ofVirtual().name("caskade-outbox").unstarted(this::drain);
    }

    void start() {
        if (sender != null) sender.start();
    }

    /** Writes not answered by the server yet (0 without an outbox). */
    long pending() {
        return outbox == null ? 0 : outbox.size();
    }

    /** Why the last attempt to send failed, or null after a success. */
    String lastError() {
        return lastError;
    }

    /**
     * Queues (or, without an outbox, sends) a write. The future completes with the server's revision, 0 for a
     * compare-and-set that lost (also reported as a {@link Conflict}) or a delete of an absent key.
     */
    CompletableFuture<Long> submit(
            OfflineWrite.Kind kind, byte[] key, byte[] value, Duration ttl, long expectedRevision) {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(value, "value");
        if (key.length == 0) throw new IllegalArgumentException("empty key");
        if (ttl != null) CaskadeClient.seconds(ttl);
        if (expectedRevision < 0) throw new IllegalArgumentException("expectedRevision must not be negative");
        if (closed) throw new IllegalStateException("the replica is closed: " + dir);
        if (outbox == null) {
            OfflineWrite w = new OfflineWrite(0, kind, key.clone(), value.clone(), ttl, expectedRevision);
            long revision = send(w, null);
            if (revision == 0 && kind == OfflineWrite.Kind.COMPARE_AND_SET) report(lost(w));
            return CompletableFuture.completedFuture(revision);
        }
        CompletableFuture<Long> f = new CompletableFuture<>();
        synchronized (this) { // the sender finds the future and the echo of every write it can see
            OfflineWrite w = outbox.append(kind, key, value, ttl, expectedRevision);
            futures.put(w.sequence(), f);
            if (echo) echoes.put(w.key(), new Echo(w, System.currentTimeMillis(), 0));
        }
        synchronized (wake) {
            wake.notifyAll();
        }
        return f;
    }

    /** Registers a conflict callback; conflicts found while none was registered are delivered to it now. */
    void onConflict(Consumer<Conflict> listener) {
        Objects.requireNonNull(listener, "listener");
        synchronized (unheard) {
            conflictListeners.add(listener);
            while (!unheard.isEmpty()) tell(listener, unheard.removeFirst());
        }
    }

    /**
     * With local echo: null when no queued write of {@code key} is shown, empty for a queued delete, else the queued
     * value with revision 0 (not committed yet; the store's revisions stay the server's).
     */
    Optional<Entry> echo(byte[] key) {
        if (!echo) return null;
        Echo e = echoes.get(key);
        return e == null ? null : entry(e);
    }

    /** {@code local} (a scan of the store under {@code p}) with the queued writes under {@code p} laid over it. */
    Stream<Entry> scan(byte[] p, Stream<Entry> local) {
        if (!echo) return local;
        TreeMap<byte[], Echo> under = new TreeMap<>(Arrays::compareUnsigned);
        for (Map.Entry<byte[], Echo> e : echoes.tailMap(p).entrySet()) {
            if (!startsWith(e.getKey(), p)) break;
            under.put(e.getKey(), e.getValue());
        }
        if (under.isEmpty()) return local;
        TreeMap<byte[], Entry> merged = new TreeMap<>(Arrays::compareUnsigned);
        try (local) {
            local.forEach(e -> merged.put(e.key(), e));
        }
        for (Echo e : under.values()) {
            Optional<Entry> shown = entry(e);
            if (shown.isPresent()) merged.put(e.write().key(), shown.get());
            else merged.remove(e.write().key());
        }
        return merged.values().stream();
    }

    /** Told after each commit (and snapshot) the replica applies: echoes whose commit is now local go. */
    LocalReplica.Listener settler() {
        return new LocalReplica.Listener() {
            @Override
            public void commit(WatchEvent.Commit commit) {
                settle();
            }

            @Override
            public void reset(long revision) {
                settle();
            }
        };
    }

    @Override
    public void close() {
        closed = true;
        synchronized (wake) {
            wake.notifyAll();
        }
        if (sender != null && sender.isAlive()) {
            try {
                sender.join(5_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        for (CompletableFuture<Long> f : futures.values())
            f.completeExceptionally(new ClientException(
                    0,
                    null,
                    "the replica closed before the write was answered; it stays in the outbox of " + dir
                            + " and is sent when the replica is opened again"));
        futures.clear();
        if (outbox != null) outbox.close();
    }

    /** The sender: the oldest pending write, again and again until the server answers it. */
    private void drain() {
        long backoff = options.backoffInitial().toMillis();
        while (!closed) {
            OfflineWrite w = outbox.first();
            if (w == null) {
                synchronized (wake) {
                    if (!closed && outbox.first() == null) {
                        try {
                            wake.wait(1_000);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                            return;
                        }
                    }
                }
                continue;
            }
            long revision;
            ClientException refused = null;
            try {
                revision = send(w, outbox.idempotencyKey(w));
            } catch (ClientException e) {
                if (retryable(e)) {
                    backoff = pause(w, e, backoff);
                    continue;
                }
                revision = -1;
                refused = e;
            } catch (RuntimeException e) {
                backoff = pause(w, e, backoff);
                continue;
            }
            LongConsumer hook = afterSend;
            if (hook != null) hook.accept(w.sequence());
            try {
                outbox.ack(w);
            } catch (UncheckedIOException | IllegalStateException e) {
                // sent again, the same idempotency key brings the same answer
                backoff = pause(w, e, backoff);
                continue;
            }
            lastError = null;
            backoff = options.backoffInitial().toMillis();
            finish(w, revision, refused);
        }
    }

    private void finish(OfflineWrite w, long revision, ClientException refused) {
        CompletableFuture<Long> f;
        synchronized (this) {
            f = futures.remove(w.sequence());
            if (echo) {
                boolean applies = revision > 0 && startsWith(w.key(), prefix);
                echoes.computeIfPresent(w.key(), (k, e) -> {
                    if (e.write().sequence() != w.sequence()) return e; // a later write of the key is shown
                    return applies ? new Echo(e.write(), e.queuedAt(), revision) : null;
                });
            }
        }
        settle();
        if (refused != null) {
            report(new Conflict(
                    w, w.expectedRevision(), actualRevision(w), "refused by the server: " + refused.getMessage()));
            if (f != null) f.completeExceptionally(refused);
            return;
        }
        if (revision == 0 && w.kind() == OfflineWrite.Kind.COMPARE_AND_SET) report(lost(w));
        if (f != null) f.complete(revision);
    }

    private void settle() {
        if (!echo || echoes.isEmpty()) return;
        long applied = appliedRevision.getAsLong();
        echoes.values().removeIf(e -> e.revision() > 0 && e.revision() <= applied);
    }

    private long pause(OfflineWrite w, Exception e, long backoff) {
        lastError = e.toString();
        LOG.log(
                System.Logger.Level.DEBUG,
                "replica {0}: cannot send {1} yet, retrying in ~{2} ms: {3}",
                dir,
                w,
                backoff,
                e.getMessage());
        synchronized (wake) {
            if (!closed) {
                try {
                    // +-50 % jitter, so that replicas that lost the same server do not all come back at once
                    wake.wait(Math.max(
                            1, backoff / 2 + ThreadLocalRandom.current().nextLong(backoff + 1)));
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                }
            }
        }
        return Math.min(backoff * 2, options.backoffMax().toMillis());
    }

    /** No answer, or the server could not serve it now: worth sending again. Any other refusal is final. */
    private static boolean retryable(ClientException e) {
        return e.status() == 0 || e.status() >= 500 || e.status() == 408 || e.status() == 429;
    }

    private long send(OfflineWrite w, String idempotencyKey) {
        return switch (w.kind()) {
            case PUT -> client.put(w.key(), w.value(), w.ttl(), idempotencyKey);
            case DELETE -> client.delete(w.key(), idempotencyKey);
            case COMPARE_AND_SET -> client.compareAndSet(w.key(), w.expectedRevision(), w.value(), idempotencyKey);
        };
    }

    private Conflict lost(OfflineWrite w) {
        long actual = actualRevision(w);
        return new Conflict(
                w,
                w.expectedRevision(),
                actual,
                "the key was not at revision " + w.expectedRevision()
                        + (actual < 0 ? "" : actual == 0 ? " (it is absent)" : " (it is at " + actual + ")"));
    }

    /** The key's revision on the server now (0: absent), or -1 when the server cannot tell. */
    private long actualRevision(OfflineWrite w) {
        try {
            return client.get(w.key()).map(Entry::revision).orElse(0L);
        } catch (RuntimeException e) {
            return -1;
        }
    }

    private void report(Conflict c) {
        LOG.log(System.Logger.Level.WARNING, "replica {0}: {1} was not applied: {2}", dir, c.write(), c.reason());
        synchronized (unheard) {
            if (conflictListeners.isEmpty()) {
                if (unheard.size() == UNHEARD_MAX) {
                    Conflict gone = unheard.removeFirst();
                    LOG.log(
                            System.Logger.Level.ERROR,
                            "replica {0}: no conflict callback; {1} conflicts held, forgetting {2}",
                            dir,
                            UNHEARD_MAX,
                            gone);
                }
                unheard.addLast(c);
                return;
            }
            for (Consumer<Conflict> l : conflictListeners) tell(l, c);
        }
    }

    private void tell(Consumer<Conflict> l, Conflict c) {
        try {
            l.accept(c);
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "replica {0}: the conflict callback failed on {1}", dir, c, e);
        }
    }

    private static Optional<Entry> entry(Echo e) {
        OfflineWrite w = e.write();
        if (w.kind() == OfflineWrite.Kind.DELETE) return Optional.empty();
        long expiresAt = w.ttl() == null ? 0 : e.queuedAt() + w.ttl().toMillis();
        return Optional.of(new Entry(w.key(), w.value(), 0, expiresAt));
    }

    private static boolean startsWith(byte[] key, byte[] p) {
        return key.length >= p.length && Arrays.equals(key, 0, p.length, p, 0, p.length);
    }
}
