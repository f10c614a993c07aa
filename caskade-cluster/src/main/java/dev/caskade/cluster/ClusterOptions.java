package dev.caskade.cluster;

import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Locale;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * How a {@link ClusterNode} joins its cluster. A validated record: start from {@link #parse(String)} and change what
 * you need with the {@code with...} methods.
 *
 * @param redis where the cluster's stream lives, and the cluster's name
 * @param nodeId this node's id in the cluster (letters, digits, {@code . _ -}); null: the one saved in the node's
 *     directory, or a new random one saved there
 * @param retention how many entries the stream keeps ({@code XADD MAXLEN ~}); a node further behind than that
 *     re-bootstraps from a peer's snapshot (or from {@code bootstrap})
 * @param whenBusDown what writes do while Redis cannot be reached
 * @param writeTimeout how long a write waits for Redis and then for its commit to be applied on this node
 * @param redisTimeout connect and socket timeout of every Redis call
 * @param breakerWindow how many recent Redis calls the circuit breaker judges
 * @param breakerMinimumCalls how many calls it needs before it may open
 * @param breakerFailureRate the failure percentage (of the window) that opens it
 * @param breakerOpenWait how long it stays open (no Redis call at all) before probing again
 * @param shards how many streams the cluster's keys are spread over by hash slot (1: one stream, one global order;
 *     more: one order per shard, and each node numbers its revisions itself); every node of a cluster must agree
 * @param bootstrap where a node the stream has left behind loads the cluster's state when no peer can give it a
 *     snapshot (a backup, see {@link Bootstrap}); null: peers only
 * @param peerAuth the credentials this node shows a peer whose snapshot it loads (peers that require users); null:
 *     none
 */
public record ClusterOptions(
        Redis redis,
        String nodeId,
        long retention,
        WhenBusDown whenBusDown,
        Duration writeTimeout,
        Duration redisTimeout,
        int breakerWindow,
        int breakerMinimumCalls,
        float breakerFailureRate,
        Duration breakerOpenWait,
        int shards,
        Bootstrap bootstrap,
        PeerAuth peerAuth) {

    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9._-]{1,64}");

    /** At most one shard per Redis Cluster hash slot. */
    public static final int MAX_SHARDS = 16384;

    /** What a write does while Redis cannot be reached. */
    public enum WhenBusDown {
        /** Fails at once with {@link dev.caskade.UnavailableException}; nothing is written. */
        REJECT,
        /**
         * A write without preconditions goes to a durable queue on this node and is sent, in order, when Redis is back;
         * writes with preconditions are still rejected.
         */
        QUEUE;

        /** {@code reject} or {@code queue}, any case. */
        public static WhenBusDown parse(String s) {
            try {
                return valueOf(s.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("when-bus-down must be reject or queue, not '" + s + "'");
            }
        }
    }

    /**
     * A parsed cluster URL: {@code redis://[user:password@]host:port/NAME}, or {@code rediss://} for TLS.
     *
     * @param tls whether Redis is reached over TLS ({@code rediss://})
     * @param user the ACL user, or null
     * @param password the password, or null; never shown by {@link #toString()}
     * @param cluster the cluster's name: the hash tag of every key ({@code caskade:{NAME}:...})
     */
    public record Redis(boolean tls, String host, int port, String user, String password, String cluster) {
        public Redis {
            Objects.requireNonNull(host, "host");
            Objects.requireNonNull(cluster, "cluster");
            if (host.isBlank()) throw new IllegalArgumentException("the Redis host must not be empty");
            if (port < 1 || port > 65535) throw new IllegalArgumentException("Redis port out of range: " + port);
            if (!NAME.matcher(cluster).matches())
                throw new IllegalArgumentException(
                        "cluster name must be 1 to 64 of A-Z a-z 0-9 . _ -, not '" + cluster + "'");
        }

        /**
         * Parses {@code redis://[user:password@]host[:port]/NAME} ({@code rediss://}: TLS; port 6379 by default).
         * User and password are URL-decoded; a password alone may be given as {@code :password@}.
         */
        public static Redis parse(String url) {
            Objects.requireNonNull(url, "cluster URL");
            URI u;
            try {
                u = new URI(url.trim());
            } catch (URISyntaxException e) {
                throw new IllegalArgumentException("not a valid cluster URL: " + e.getMessage());
            }
            String scheme = u.getScheme() == null ? "" : u.getScheme().toLowerCase(Locale.ROOT);
            if (!scheme.equals("redis") && !scheme.equals("rediss"))
                throw new IllegalArgumentException(
                        "the cluster URL must be redis://[user:password@]host:port/NAME or rediss://..., not "
                                + redact(url));
            if (u.getHost() == null) throw new IllegalArgumentException("no host in the cluster URL " + redact(url));
            if (u.getRawQuery() != null || u.getRawFragment() != null)
                throw new IllegalArgumentException("the cluster URL takes no query or fragment: " + redact(url));
            String path = u.getPath() == null ? "" : u.getPath();
            if (path.startsWith("/")) path = path.substring(1);
            if (path.isEmpty())
                throw new IllegalArgumentException("no cluster name in " + redact(url)
                        + ": give it as the path, e.g. redis://localhost:6379/orders");
            String user = null;
            String password = null;
            if (u.getRawUserInfo() != null) {
                String info = u.getRawUserInfo();
                int colon = info.indexOf(':');
                user = decode(colon < 0 ? info : info.substring(0, colon));
                password = colon < 0 ? null : decode(info.substring(colon + 1));
                if (user.isEmpty()) user = null;
            }
            return new Redis(
                    scheme.equals("rediss"), u.getHost(), u.getPort() < 0 ? 6379 : u.getPort(), user, password, path);
        }

        /** The URL without its password. */
        @Override
        public String toString() {
            String auth = user == null ? (password == null ? "" : ":***@") : user + (password == null ? "@" : ":***@");
            return (tls ? "rediss://" : "redis://") + auth + host + ":" + port + "/" + cluster;
        }

        private static String decode(String s) {
            return URLDecoder.decode(s, StandardCharsets.UTF_8);
        }

        private static String redact(String url) {
            return url.replaceAll("//([^:@/]*):[^@/]*@", "//$1:***@");
        }
    }

    public ClusterOptions {
        Objects.requireNonNull(redis, "redis");
        Objects.requireNonNull(whenBusDown, "whenBusDown");
        if (nodeId != null && !NAME.matcher(nodeId).matches())
            throw new IllegalArgumentException("node id must be 1 to 64 of A-Z a-z 0-9 . _ -, not '" + nodeId + "'");
        if (retention < 10) throw new IllegalArgumentException("retention must be at least 10 entries: " + retention);
        positive(writeTimeout, "writeTimeout");
        positive(redisTimeout, "redisTimeout");
        positive(breakerOpenWait, "breakerOpenWait");
        if (breakerWindow < 1) throw new IllegalArgumentException("breakerWindow must be >= 1: " + breakerWindow);
        if (breakerMinimumCalls < 1 || breakerMinimumCalls > breakerWindow)
            throw new IllegalArgumentException(
                    "breakerMinimumCalls must be 1.." + breakerWindow + ": " + breakerMinimumCalls);
        if (!(breakerFailureRate > 0 && breakerFailureRate <= 100))
            throw new IllegalArgumentException("breakerFailureRate must be in (0, 100]: " + breakerFailureRate);
        if (shards < 1 || shards > MAX_SHARDS)
            throw new IllegalArgumentException("shards must be 1.." + MAX_SHARDS + ": " + shards);
        if (shards > 1 && bootstrap != null)
            throw new IllegalArgumentException("a bootstrap source needs an unsharded cluster: with " + shards
                    + " shards each node numbers its revisions itself, so one node's backup cannot start another");
    }

    /**
     * The defaults for the cluster at {@code url}: node id from the directory, 1,000,000 entries of retention,
     * REJECT while Redis is down, 10 s write timeout, 2 s Redis timeout, and a breaker that opens when half of the
     * last 20 calls (at least 5) failed, for 2 s; no bootstrap source but the peers.
     */
    public static ClusterOptions parse(String url) {
        return new ClusterOptions(
                Redis.parse(url),
                null,
                1_000_000,
                WhenBusDown.REJECT,
                Duration.ofSeconds(10),
                Duration.ofSeconds(2),
                20,
                5,
                50,
                Duration.ofSeconds(2),
                1,
                null,
                null);
    }

    public ClusterOptions withNodeId(String value) {
        return new ClusterOptions(
                redis,
                value,
                retention,
                whenBusDown,
                writeTimeout,
                redisTimeout,
                breakerWindow,
                breakerMinimumCalls,
                breakerFailureRate,
                breakerOpenWait,
                shards,
                bootstrap,
                peerAuth);
    }

    public ClusterOptions withRetention(long entries) {
        return new ClusterOptions(
                redis,
                nodeId,
                entries,
                whenBusDown,
                writeTimeout,
                redisTimeout,
                breakerWindow,
                breakerMinimumCalls,
                breakerFailureRate,
                breakerOpenWait,
                shards,
                bootstrap,
                peerAuth);
    }

    public ClusterOptions withWhenBusDown(WhenBusDown value) {
        return new ClusterOptions(
                redis,
                nodeId,
                retention,
                value,
                writeTimeout,
                redisTimeout,
                breakerWindow,
                breakerMinimumCalls,
                breakerFailureRate,
                breakerOpenWait,
                shards,
                bootstrap,
                peerAuth);
    }

    public ClusterOptions withWriteTimeout(Duration value) {
        return new ClusterOptions(
                redis,
                nodeId,
                retention,
                whenBusDown,
                value,
                redisTimeout,
                breakerWindow,
                breakerMinimumCalls,
                breakerFailureRate,
                breakerOpenWait,
                shards,
                bootstrap,
                peerAuth);
    }

    public ClusterOptions withRedisTimeout(Duration value) {
        return new ClusterOptions(
                redis,
                nodeId,
                retention,
                whenBusDown,
                writeTimeout,
                value,
                breakerWindow,
                breakerMinimumCalls,
                breakerFailureRate,
                breakerOpenWait,
                shards,
                bootstrap,
                peerAuth);
    }

    /** The circuit breaker: judge the last {@code window} calls, at least {@code minimumCalls}; open for a while. */
    public ClusterOptions withBreaker(int window, int minimumCalls, float failureRate, Duration openWait) {
        return new ClusterOptions(
                redis,
                nodeId,
                retention,
                whenBusDown,
                writeTimeout,
                redisTimeout,
                window,
                minimumCalls,
                failureRate,
                openWait,
                shards,
                bootstrap,
                peerAuth);
    }

    /**
     * Credentials for a peer's HTTP API: a bearer token, or a user and password (Basic). Never shown by {@link
     * #toString()}.
     */
    public record PeerAuth(String user, String password, String token) {
        public PeerAuth {
            boolean basic = user != null || password != null;
            if (basic == (token != null))
                throw new IllegalArgumentException("peer credentials are a token, or a user and a password");
            if (basic && (user == null || user.isBlank() || password == null))
                throw new IllegalArgumentException("peer credentials need both a user and a password");
            if (token != null && token.isBlank()) throw new IllegalArgumentException("the peer token is empty");
        }

        public static PeerAuth token(String token) {
            return new PeerAuth(null, null, token);
        }

        public static PeerAuth user(String user, String password) {
            return new PeerAuth(user, password, null);
        }

        @Override
        public String toString() {
            return token != null ? "PeerAuth[token=***]" : "PeerAuth[user=" + user + ", password=***]";
        }
    }

    /** The credentials shown to a peer whose snapshot this node loads; null: none. */
    public ClusterOptions withPeerAuth(PeerAuth value) {
        return new ClusterOptions(
                redis,
                nodeId,
                retention,
                whenBusDown,
                writeTimeout,
                redisTimeout,
                breakerWindow,
                breakerMinimumCalls,
                breakerFailureRate,
                breakerOpenWait,
                shards,
                bootstrap,
                value);
    }

    /** Spreads the keys over {@code n} streams by hash slot (see {@link #shards()}). */
    public ClusterOptions withShards(int n) {
        return new ClusterOptions(
                redis,
                nodeId,
                retention,
                whenBusDown,
                writeTimeout,
                redisTimeout,
                breakerWindow,
                breakerMinimumCalls,
                breakerFailureRate,
                breakerOpenWait,
                n,
                bootstrap,
                peerAuth);
    }

    /**
     * Where to load the cluster's state from when the stream has left this node behind and no peer can give a
     * snapshot (tried after the peers); null: peers only.
     */
    public ClusterOptions withBootstrap(Bootstrap value) {
        return new ClusterOptions(
                redis,
                nodeId,
                retention,
                whenBusDown,
                writeTimeout,
                redisTimeout,
                breakerWindow,
                breakerMinimumCalls,
                breakerFailureRate,
                breakerOpenWait,
                shards,
                value,
                peerAuth);
    }

    private static void positive(Duration d, String what) {
        Objects.requireNonNull(d, what);
        if (d.isNegative() || d.isZero()) throw new IllegalArgumentException(what + " must be positive: " + d);
    }
}
