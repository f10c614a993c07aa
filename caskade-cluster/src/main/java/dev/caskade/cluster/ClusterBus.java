package dev.caskade.cluster;

import dev.caskade.Batch;
import dev.caskade.Change;
import dev.caskade.ChangeType;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import redis.clients.jedis.DefaultJedisClientConfig;
import redis.clients.jedis.HostAndPort;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.JedisClientConfig;
import redis.clients.jedis.Protocol;
import redis.clients.jedis.SslOptions;
import redis.clients.jedis.exceptions.JedisConnectionException;
import redis.clients.jedis.exceptions.JedisException;
import redis.clients.jedis.exceptions.JedisMovedDataException;
import redis.clients.jedis.exceptions.JedisNoScriptException;

/**
 * The Redis side of a cluster: the commit script (preconditions, revision, stream entry in one atomic step), reading
 * the stream, and the node registry. Every call goes through one circuit breaker, so that a Redis that is gone fails
 * calls at once instead of holding each for a timeout.
 *
 * <p>Keys for cluster NAME (one hash tag, so that a Redis Cluster keeps them in one slot): {@code caskade:{NAME}:seq}
 * (the last revision), {@code :log} (the stream; entry ID = {@code <revision>-0}), {@code :rev} (key -> {@code
 * "revision:expiresAt"} of each live key), {@code :nodes} (node id -> JSON), {@code :shards} (the number of shards)
 * and {@code :sent} (node id -> the last queued write it sent, so that a resend after a crash is not applied twice). A
 * sharded cluster has one such set of stream keys per shard, tagged {@code {NAME:s}}; its registry stays under {@code
 * {NAME}}.
 */
final class ClusterBus implements AutoCloseable {
    /** How long one XREAD waits for new entries. */
    static final int BLOCK_MS = 1000;

    static final int READ_COUNT = 512;

    /*
     * KEYS: seq, log, rev, sent. ARGV: node, payload, retention, floor, token, expects count, (key, revision)...,
     * changes count, then either (P|D, key, expiresAt)... or a single (E, key, revision): an expiry, written only if
     * the key is still at that revision and its time to live is over by Redis time (one per call, because the payload
     * is opaque here and must hold exactly the changes written).
     * A revision -P, in an expect or an expiry, comes from a node of a sharded cluster, whose revisions are its own: it
     * means "at a stream revision of at most P" (a version that node has applied, P being its position in this
     * stream); an expect with -P also requires the key to be live.
     * Every check comes before the first write: a Lua error does not undo earlier writes. Returns {revision, time}
     * when committed; {0, index, actual} when expect #index failed; {-1, seq} when nothing is to be written (deletes
     * of absent keys only, or an expiry that no longer applies); {-3, seq} when Redis is behind the caller (it lost
     * acknowledged commits); {-4, seq} when the queued write `token` was sent before.
     */
    static final String SCRIPT = """
            local t = redis.call('TIME')
            local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
            local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
            if seq < tonumber(ARGV[4]) then return {-3, seq} end
            local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)[1]
            if last and tonumber(string.match(last[1], '^(%d+)')) > seq then return {-3, seq} end
            local token = tonumber(ARGV[5])
            if token > 0 and token <= tonumber(redis.call('HGET', KEYS[4], ARGV[1]) or '0') then
              return {-4, seq}
            end
            local function live(key)
              local v = redis.call('HGET', KEYS[3], key)
              if not v then return 0 end
              local i = string.find(v, ':', 1, true)
              local e = tonumber(string.sub(v, i + 1))
              if e ~= 0 and e <= now then return 0 end
              return tonumber(string.sub(v, 1, i - 1))
            end
            local function expired(key, r)
              local v = redis.call('HGET', KEYS[3], key)
              if not v then return false end
              local i = string.find(v, ':', 1, true)
              local e = tonumber(string.sub(v, i + 1))
              local at = tonumber(string.sub(v, 1, i - 1))
              if r < 0 then
                if at > -r then return false end
              elseif at ~= r then return false end
              return e ~= 0 and e <= now
            end
            local p = 6
            local ne = tonumber(ARGV[p]); p = p + 1
            for i = 1, ne do
              local actual = live(ARGV[p])
              local want = tonumber(ARGV[p + 1])
              if want < 0 then
                if actual == 0 or actual > -want then return {0, i, actual} end
              elseif actual ~= want then return {0, i, actual} end
              p = p + 2
            end
            local nc = tonumber(ARGV[p]); p = p + 1
            local first = p
            local any = false
            for i = 1, nc do
              local op = ARGV[p]
              if op == 'P' or (op == 'D' and live(ARGV[p + 1]) ~= 0)
                  or (op == 'E' and expired(ARGV[p + 1], tonumber(ARGV[p + 2]))) then
                any = true; break
              end
              p = p + 3
            end
            if not any then
              if token > 0 then redis.call('HSET', KEYS[4], ARGV[1], ARGV[5]) end
              return {-1, seq}
            end
            seq = redis.call('INCR', KEYS[1])
            local rev = string.format('%d', seq)
            p = first
            for i = 1, nc do
              if ARGV[p] == 'P' then redis.call('HSET', KEYS[3], ARGV[p + 1], rev .. ':' .. ARGV[p + 2])
              else redis.call('HDEL', KEYS[3], ARGV[p + 1]) end
              p = p + 3
            end
            redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], rev .. '-0',
              't', string.format('%d', now), 'n', ARGV[1], 'c', ARGV[2])
            if token > 0 then redis.call('HSET', KEYS[4], ARGV[1], ARGV[5]) end
            return {seq, now}
            """;

    /** What the commit script decided. */
    sealed interface Outcome {
        /** Written as {@code revision} at Redis time {@code time}. */
        record Committed(long revision, long time) implements Outcome {}

        /** Precondition {@code index} (0-based) failed: the key is at {@code actual} (0 = absent). */
        record Failed(int index, long actual) implements Outcome {}

        /** Nothing to write (deletes of absent keys only, or a queued write already sent); the cluster is at {@code seq}. */
        record Unchanged(long seq) implements Outcome {}

        /** Redis is at {@code seq}, behind a revision this node already applied: it lost acknowledged commits. */
        record Behind(long seq) implements Outcome {}
    }

    /** One stream entry: a commit. */
    record Entry(long revision, long time, String node, List<Change> changes) {}

    /**
     * Redis could not be reached, or did not answer in time. {@code sent} is false only when the command certainly
     * did not reach Redis (no connection, or the breaker refused the call).
     */
    static final class DownException extends RuntimeException {
        private static final long serialVersionUID = 1L;
        final boolean sent;

        DownException(String message, boolean sent, Throwable cause) {
            super(message, cause);
            this.sent = sent;
        }
    }

    private final ClusterOptions options;
    private final byte[] seqKey;
    private final byte[] logKey;
    private final byte[] revKey;
    private final byte[] nodesKey;
    private final byte[] sentKey;
    private final byte[] shardsKey;
    private final byte[] sha;
    /** Idle connections for calls other than the reader's (Jedis 8 deprecates its pool). */
    private final ConcurrentLinkedDeque<Jedis> idle = new ConcurrentLinkedDeque<>();

    private final JedisClientConfig config;
    private final JedisClientConfig readerConfig;
    private volatile boolean closed;
    /** The node named in the URL; {@link #address} the one that serves this bus's slot (they differ in a Redis Cluster). */
    private final HostAndPort seed;

    private volatile HostAndPort address;
    final CircuitBreaker breaker;
    private Jedis reader; // only the node's reader thread uses it

    ClusterBus(ClusterOptions options) {
        this(options, options.redis().cluster());
    }

    /**
     * The keys of one stream: {@code tag} is the cluster's name, or {@code NAME:s} for shard {@code s} of a sharded
     * cluster (its own hash tag, so that a Redis Cluster may keep each shard on another node).
     */
    ClusterBus(ClusterOptions options, String tag) {
        this.options = options;
        String prefix = "caskade:{" + tag + "}:";
        seqKey = bytes(prefix + "seq");
        logKey = bytes(prefix + "log");
        revKey = bytes(prefix + "rev");
        nodesKey = bytes(prefix + "nodes");
        sentKey = bytes(prefix + "sent");
        shardsKey = bytes(prefix + "shards");
        sha = bytes(sha1(SCRIPT));
        seed = new HostAndPort(options.redis().host(), options.redis().port());
        address = seed;
        int timeout = Math.toIntExact(options.redisTimeout().toMillis());
        config = config(options, timeout, timeout);
        readerConfig = config(options, timeout, timeout + BLOCK_MS);
        breaker = CircuitBreaker.of(
                "cluster " + options.redis(),
                CircuitBreakerConfig.custom()
                        .slidingWindowType(CircuitBreakerConfig.SlidingWindowType.COUNT_BASED)
                        .slidingWindowSize(options.breakerWindow())
                        .minimumNumberOfCalls(options.breakerMinimumCalls())
                        .failureRateThreshold(options.breakerFailureRate())
                        .waitDurationInOpenState(options.breakerOpenWait())
                        .permittedNumberOfCallsInHalfOpenState(2)
                        .recordException(t -> t instanceof JedisConnectionException)
                        .build());
    }

    private static JedisClientConfig config(ClusterOptions options, int connectMs, int socketMs) {
        ClusterOptions.Redis r = options.redis();
        DefaultJedisClientConfig.Builder b = DefaultJedisClientConfig.builder()
                .resp2()
                .autoNegotiateProtocol(false)
                .connectionTimeoutMillis(connectMs)
                .socketTimeoutMillis(socketMs)
                .clientName("caskade-" + r.cluster());
        if (r.tls()) b.sslOptions(SslOptions.defaults());
        if (r.user() != null) b.user(r.user());
        if (r.password() != null) b.password(r.password());
        return b.build();
    }

    /** Runs the commit script. */
    Outcome commit(String node, List<Change> changes, List<Batch.Expect> expects, long floor, long token) {
        List<byte[]> args = new ArrayList<>(7 + 2 * expects.size() + 3 * changes.size());
        args.add(bytes(node));
        args.add(ChangeCodec.encode(changes));
        args.add(bytes(Long.toString(options.retention())));
        args.add(bytes(Long.toString(floor)));
        args.add(bytes(Long.toString(token)));
        args.add(bytes(Integer.toString(expects.size())));
        for (Batch.Expect e : expects) {
            args.add(e.key());
            args.add(bytes(Long.toString(e.revision())));
        }
        args.add(bytes(Integer.toString(changes.size())));
        for (Change c : changes) {
            if (c.type() == ChangeType.EXPIRE) throw new IllegalArgumentException("an expiry goes through expire()");
            args.add(bytes(c.type() == ChangeType.PUT ? "P" : "D"));
            args.add(c.key());
            args.add(bytes(Long.toString(c.type() == ChangeType.PUT ? c.expiresAt() : 0)));
        }
        return eval(args);
    }

    /**
     * Deletes {@code key} as an EXPIRE if it is still at {@code revision} and its time to live is over (by Redis
     * time); otherwise writes nothing ({@link Outcome.Unchanged}): another node expired it first, or it was written
     * again.
     */
    Outcome expire(String node, byte[] key, long revision, long floor) {
        List<byte[]> args = List.of(
                bytes(node),
                ChangeCodec.encode(List.of(new Change(ChangeType.EXPIRE, key, new byte[0], 0))),
                bytes(Long.toString(options.retention())),
                bytes(Long.toString(floor)),
                bytes("0"),
                bytes("0"),
                bytes("1"),
                bytes("E"),
                key,
                bytes(Long.toString(revision)));
        return eval(args);
    }

    private Outcome eval(List<byte[]> args) {
        List<byte[]> keys = List.of(seqKey, logKey, revKey, sentKey);
        Object reply = call("commit", j -> {
            try {
                return j.evalsha(sha, keys, args);
            } catch (JedisNoScriptException e) {
                j.scriptLoad(bytes(SCRIPT)); // a restarted Redis forgot it
                return j.evalsha(sha, keys, args);
            }
        });
        List<?> r = (List<?>) reply;
        long a = (Long) r.get(0);
        long b = (Long) r.get(1);
        if (a > 0) return new Outcome.Committed(a, b);
        if (a == 0) return new Outcome.Failed(Math.toIntExact(b - 1), (Long) r.get(2));
        if (a == -3) return new Outcome.Behind(b);
        return new Outcome.Unchanged(b);
    }

    /**
     * The entries after {@code revision}, at most {@link #READ_COUNT}, waiting up to {@link #BLOCK_MS} for one; on
     * the reader's own connection. Only one thread may call it.
     */
    List<Entry> read(long revision) {
        if (!breaker.tryAcquirePermission())
            throw new DownException("Redis " + options.redis() + " is unreachable (circuit breaker open)", false, null);
        long start = System.nanoTime();
        try {
            if (reader == null) reader = new Jedis(address, readerConfig);
            Object reply = reader.sendCommand(
                    Protocol.Command.XREAD,
                    bytes("COUNT"),
                    bytes(Integer.toString(READ_COUNT)),
                    bytes("BLOCK"),
                    bytes(Integer.toString(BLOCK_MS)),
                    bytes("STREAMS"),
                    logKey,
                    bytes(revision + "-0"));
            breaker.onSuccess(System.nanoTime() - start, TimeUnit.NANOSECONDS);
            return entries(reply);
        } catch (JedisConnectionException e) {
            breaker.onError(System.nanoTime() - start, TimeUnit.NANOSECONDS, e);
            closeReader();
            forgetRedirect();
            throw new DownException(
                    "cannot read the stream from Redis " + options.redis() + ": " + e.getMessage(), true, e);
        } catch (JedisMovedDataException e) {
            breaker.onSuccess(System.nanoTime() - start, TimeUnit.NANOSECONDS);
            closeReader();
            redirect(e.getTargetNode());
            return List.of(); // the caller reads again, from the slot's node
        } catch (RuntimeException e) {
            breaker.onSuccess(System.nanoTime() - start, TimeUnit.NANOSECONDS); // Redis answered
            closeReader();
            throw e;
        }
    }

    private static List<Entry> entries(Object reply) {
        if (reply == null) return List.of();
        List<Entry> out = new ArrayList<>();
        for (Object stream : (List<?>) reply) {
            for (Object e : (List<?>) ((List<?>) stream).get(1)) {
                List<?> entry = (List<?>) e;
                String id = string(entry.get(0));
                long revision = Long.parseLong(id.substring(0, id.indexOf('-')));
                List<?> fields = (List<?>) entry.get(1);
                long time = 0;
                String node = null;
                byte[] payload = null;
                for (int i = 0; i + 1 < fields.size(); i += 2) {
                    switch (string(fields.get(i))) {
                        case "t" -> time = Long.parseLong(string(fields.get(i + 1)));
                        case "n" -> node = string(fields.get(i + 1));
                        case "c" -> payload = (byte[]) fields.get(i + 1);
                        default -> {} // fields of a later version
                    }
                }
                if (payload == null) throw new IllegalStateException("stream entry " + id + " has no changes (c)");
                List<Change> changes;
                try {
                    changes = ChangeCodec.decode(payload);
                } catch (IllegalArgumentException bad) {
                    throw new IllegalStateException("stream entry " + id + " is malformed: " + bad.getMessage(), bad);
                }
                out.add(new Entry(revision, time, node, changes));
            }
        }
        return out;
    }

    /** The cluster's last revision ({@code GET seq}); 0 for a new cluster. */
    long head() {
        return call("head", j -> {
            byte[] v = j.get(seqKey);
            return v == null ? 0L : Long.parseLong(string(v));
        });
    }

    /** The oldest revision the stream still holds, or 0 when it is empty. */
    long first() {
        return call("first", j -> {
            List<?> r = (List<?>)
                    j.sendCommand(Protocol.Command.XRANGE, logKey, bytes("-"), bytes("+"), bytes("COUNT"), bytes("1"));
            if (r == null || r.isEmpty()) return 0L;
            String id = string(((List<?>) r.get(0)).get(0));
            return Long.parseLong(id.substring(0, id.indexOf('-')));
        });
    }

    /**
     * Records {@code n} as the cluster's number of shards unless a number is recorded already ({@code SET NX}), and
     * returns the recorded one. On the registry's bus (the cluster's own hash tag).
     */
    int agreeShards(int n) {
        return call("shards", j -> {
            j.set(
                    shardsKey,
                    bytes(Integer.toString(n)),
                    redis.clients.jedis.params.SetParams.setParams().nx());
            byte[] v = j.get(shardsKey);
            return v == null ? n : Integer.parseInt(string(v));
        });
    }

    void register(String node, String json) {
        call("register", j -> j.hset(nodesKey, bytes(node), bytes(json)));
    }

    /** Node id -> registration JSON. */
    Map<String, String> nodes() {
        return call("nodes", j -> {
            Map<String, String> out = new LinkedHashMap<>();
            j.hgetAll(nodesKey).forEach((k, v) -> out.put(string(k), string(v)));
            return out;
        });
    }

    /** The breaker's state: CLOSED, OPEN or HALF_OPEN. */
    String breakerState() {
        return switch (breaker.getState()) {
            case OPEN, FORCED_OPEN -> "OPEN";
            case HALF_OPEN -> "HALF_OPEN";
            default -> "CLOSED";
        };
    }

    /**
     * Runs {@code f} on a connection to the node serving this bus's slot. A Redis Cluster answers {@code MOVED} when
     * the slot lives elsewhere (at first, or after a failover or resharding): the call follows it.
     */
    private <T> T call(String what, Function<Jedis, T> f) {
        for (int attempt = 0; ; attempt++) {
            try {
                return callOnce(what, f);
            } catch (JedisMovedDataException e) {
                if (attempt >= 3) throw e;
                redirect(e.getTargetNode());
            }
        }
    }

    private void redirect(HostAndPort to) {
        address = to;
        for (Jedis k = idle.pollFirst(); k != null; k = idle.pollFirst()) quietly(k);
    }

    /** After a connection failure: start again from the URL's node, which redirects to the slot's current one. */
    private void forgetRedirect() {
        if (!address.equals(seed)) redirect(seed);
    }

    private <T> T callOnce(String what, Function<Jedis, T> f) {
        if (!breaker.tryAcquirePermission())
            throw new DownException(
                    "Redis " + options.redis() + " is unreachable: its circuit breaker is open after repeated failures",
                    false,
                    null);
        long start = System.nanoTime();
        Jedis j = idle.pollFirst();
        try {
            if (j == null) {
                if (closed) throw new IllegalStateException("cluster bus is closed: " + options.redis());
                j = new Jedis(address, config);
                j.connect();
            }
        } catch (JedisException e) {
            breaker.onError(System.nanoTime() - start, TimeUnit.NANOSECONDS, new JedisConnectionException(e));
            forgetRedirect();
            throw new DownException(
                    "cannot connect to Redis " + options.redis() + " (" + what + "): " + e.getMessage(), false, e);
        }
        try {
            T t = f.apply(j);
            breaker.onSuccess(System.nanoTime() - start, TimeUnit.NANOSECONDS);
            return t;
        } catch (JedisConnectionException e) {
            breaker.onError(System.nanoTime() - start, TimeUnit.NANOSECONDS, e);
            forgetRedirect();
            throw new DownException(
                    "Redis " + options.redis() + " failed during " + what + ": " + e.getMessage(), true, e);
        } catch (RuntimeException e) {
            breaker.onSuccess(System.nanoTime() - start, TimeUnit.NANOSECONDS); // Redis answered: it is up
            throw e;
        } finally {
            release(j);
        }
    }

    private void release(Jedis j) {
        // a connection opened before a redirect still points at the old node
        boolean elsewhere = !address.equals(j.getConnection().getHostAndPort());
        if (j.isBroken() || closed || elsewhere || idle.size() >= 32) quietly(j);
        else idle.addFirst(j);
        if (closed) for (Jedis k = idle.pollFirst(); k != null; k = idle.pollFirst()) quietly(k);
    }

    private static void quietly(Jedis j) {
        try {
            j.close();
        } catch (RuntimeException ignored) {
            // already broken
        }
    }

    private void closeReader() {
        Jedis r = reader;
        reader = null;
        if (r != null) quietly(r);
    }

    /** Closes every idle connection; those in use close when their call ends. */
    @Override
    public void close() {
        closed = true;
        for (Jedis k = idle.pollFirst(); k != null; k = idle.pollFirst()) quietly(k);
    }

    /** Called by the reader thread when it stops. */
    void closeReaderConnection() {
        closeReader();
    }

    static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static String string(Object o) {
        return o instanceof byte[] b ? new String(b, StandardCharsets.UTF_8) : String.valueOf(o);
    }

    private static String sha1(String s) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-1").digest(bytes(s)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
