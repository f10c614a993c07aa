package dev.caskade.cli;

import dev.caskade.Durability;
import dev.caskade.client.CaskadeClient;
import dev.caskade.client.ClientOptions;
import dev.caskade.client.ReplicaOptions;
import dev.caskade.cluster.ClusterOptions;
import dev.caskade.server.ClusterStatus;
import dev.caskade.server.FollowStatus;
import dev.caskade.server.ReplicationConfig;
import dev.caskade.server.Server;
import dev.caskade.server.ServerConfig;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.TypeConversionException;

@Command(
        name = "serve",
        description = {
            "Run the server: the Redis protocol and HTTP/JSON (with SSE) on one store.",
            "Every option also comes from an environment variable (CASKADE_DATA, CASKADE_BIND,"
                    + " CASKADE_RESP_PORT, CASKADE_HTTP_PORT, CASKADE_DURABILITY, CASKADE_INSECURE,"
                    + " CASKADE_TLS_CERT, CASKADE_TLS_KEY, CASKADE_REPLICATE_TO (comma-separated),"
                    + " CASKADE_RESTORE_IF_EMPTY, CASKADE_SYNC_INTERVAL, CASKADE_SNAPSHOT_INTERVAL, CASKADE_RETENTION,"
                    + " CASKADE_BREAKER, CASKADE_MAX_REPLICA_LAG, CASKADE_VALIDATION_INTERVAL, CASKADE_S3_ENDPOINT,"
                    + " CASKADE_S3_REGION, CASKADE_S3_PATH_STYLE, CASKADE_PIN_BUDGET) and from the YAML config file"
                    + " (--config or CASKADE_CONFIG), which also holds the users. Precedence: flag > environment > config"
                    + " file > default. Port 0 picks a free port; the ports are printed and written to"
                    + " DIR/serve.json. See docs/server.md and docs/replication.md."
        })
final class ServeCommand extends StoreCommand {

    @Option(
            names = "--config",
            paramLabel = "FILE",
            description = "YAML config file: options, users and their rules, TLS (env CASKADE_CONFIG).")
    Path config;

    @Option(names = "--bind", paramLabel = "ADDR", description = "Address to listen on (default: 127.0.0.1).")
    String bind;

    @Option(names = "--resp-port", paramLabel = "N", description = "Redis-protocol port (default: 6479).")
    Integer respPort;

    @Option(names = "--http-port", paramLabel = "N", description = "HTTP port (default: 8479).")
    Integer httpPort;

    @Option(
            names = "--durability",
            paramLabel = "MODE",
            converter = DurabilityConverter.class,
            description = "sync (default), none or interval:<ms>.")
    Durability durability;

    @Option(names = "--insecure", description = "Allow a non-loopback --bind although no users are configured.")
    Boolean insecure;

    @Option(names = "--tls-cert", paramLabel = "FILE", description = "PEM certificate: TLS on both ports.")
    Path tlsCert;

    @Option(names = "--tls-key", paramLabel = "FILE", description = "PEM private key (PKCS#8) of --tls-cert.")
    Path tlsKey;

    @Option(
            names = "--replicate-to",
            paramLabel = "URL",
            description = "Ship the log to this destination, continuously: file:///abs/path, a plain path or"
                    + " s3://bucket/prefix. Repeatable.")
    List<String> replicateTo;

    @Option(
            names = "--restore-if-empty",
            paramLabel = "URL",
            description = "Before opening the store: when --data is empty or absent, restore the latest state from"
                    + " this destination (none there: start empty).")
    String restoreIfEmpty;

    @Option(
            names = "--max-replica-lag",
            paramLabel = "DURATION",
            converter = PositiveDurationConverter.class,
            description = "/readyz answers 503 while a destination is further behind than this.")
    Duration maxReplicaLag;

    @Option(
            names = "--validation-interval",
            paramLabel = "DURATION",
            converter = PositiveDurationConverter.class,
            description = "This often, restore each destination into a scratch directory and compare its digest"
                    + " with the live store's (a mismatch is logged as an ERROR and counted in /metrics).")
    Duration validationInterval;

    @Option(
            names = "--pin-budget",
            paramLabel = "SIZE",
            converter = SizeConverter.class,
            description = "The most bytes of log merge keeps for a destination that has not shipped them yet; past"
                    + " it that destination starts over from a fresh snapshot. A byte count or a number with KiB,"
                    + " MiB or GiB (default: 1GiB; env CASKADE_PIN_BUDGET).")
    Long pinBudget;

    @Option(
            names = "--follow",
            paramLabel = "URL",
            description = "Run as a follower of the server at URL (http[s]://[user:password@]host:port): serve reads,"
                    + " scans, watches and digests from a live local copy in --data (DIR/store), and forward writes"
                    + " to that server, answering once they are applied here (env CASKADE_FOLLOW; a token for it in"
                    + " CASKADE_FOLLOW_TOKEN).")
    String follow;

    @Option(
            names = "--prefix",
            paramLabel = "P",
            description = "With --follow: copy only the keys under P; writes of other keys are refused (env"
                    + " CASKADE_FOLLOW_PREFIX).")
    String prefix;

    @Option(
            names = "--read-only",
            description = "With --follow: refuse writes (READONLY over RESP, 403 over HTTP) instead of forwarding"
                    + " them (env CASKADE_READ_ONLY).")
    Boolean readOnly;

    @Option(
            names = "--cluster",
            paramLabel = "URL",
            description =
                    "Join the cluster NAME kept in sync through Redis Streams: redis[s]://[user:password@]host:port/NAME."
                            + " Every write is ordered by the cluster's stream and answered once applied here; reads, scans"
                            + " and watches are local. The store lives in DIR/store (env CASKADE_CLUSTER).")
    String cluster;

    @Option(
            names = "--node-id",
            paramLabel = "ID",
            description = "With --cluster: this node's id (default: a random one, kept in DIR/node-id; env"
                    + " CASKADE_NODE_ID).")
    String nodeId;

    @Option(
            names = "--when-bus-down",
            paramLabel = "POLICY",
            description = "With --cluster, while Redis is unreachable: reject (default: writes fail at once) or queue"
                    + " (plain writes wait in a durable queue and are sent when it is back; conditional writes are"
                    + " still rejected) (env CASKADE_WHEN_BUS_DOWN).")
    String whenBusDown;

    @Option(
            names = "--cluster-retention",
            paramLabel = "N",
            description = "With --cluster: the stream keeps about this many commits (default 1000000); a node away"
                    + " longer re-bootstraps from another node's snapshot (env CASKADE_CLUSTER_RETENTION).")
    Long clusterRetention;

    @Option(
            names = "--cluster-shards",
            paramLabel = "N",
            description = "With --cluster: spread the keys over N streams by hash slot (default 1), e.g. over the"
                    + " masters of a Redis Cluster. Order is per shard, a transaction's keys must share a shard (one"
                    + " hash tag: {user42}:a, {user42}:b), and each node numbers its revisions itself. Every node of"
                    + " a cluster needs the same N (env CASKADE_CLUSTER_SHARDS).")
    Integer clusterShards;

    @Option(
            names = "--bootstrap-from",
            paramLabel = "URL",
            description = "With --cluster: when the cluster's stream no longer holds what this node needs (away longer"
                    + " than the retention, or new to a cluster whose stream no longer starts at 1) and no other node"
                    + " can give it a snapshot, restore the latest backup from this destination (file:///abs/path, a"
                    + " plain path or s3://bucket/prefix, shipped by any node with --replicate-to); refused when it"
                    + " does not reach the stream's start (default: none; env CASKADE_BOOTSTRAP_FROM).")
    String bootstrapFrom;

    @Option(
            names = "--webhook-to",
            paramLabel = "URL",
            description =
                    "Deliver every commit (under --webhook-prefix) to this HTTP receiver as a JSON POST, in order,"
                            + " at least once, from the position kept in DIR/webhook (env CASKADE_WEBHOOK_TO; see 'caskade"
                            + " webhook' and docs/server.md). Not with --follow or --cluster.")
    String webhookTo;

    @Option(
            names = "--webhook-prefix",
            paramLabel = "P",
            description = "With --webhook-to: only commits under P (default: all; env CASKADE_WEBHOOK_PREFIX).")
    String webhookPrefix;

    /** The adapter of --webhook-to: stopped before the server. */
    volatile Webhook webhook;

    @Mixin
    ShipFlags ship;

    @Mixin
    S3Connection s3;

    /** Where the CASKADE_* variables come from. */
    Map<String, String> environment = System.getenv();

    /** Counted down by the shutdown hook; tests stop the command through {@link #stop()}. */
    final CountDownLatch stopped = new CountDownLatch(1);

    /** The options from flags, environment, config file and defaults, in that order of precedence. */
    Server.Options options() {
        // --data has a default (shared with the other commands): only an explicit one is a flag here
        boolean dataGiven = spec.commandLine().getParseResult().hasMatchedOption("--data");
        ReplicationConfig replication = new ReplicationConfig(
                replicateTo,
                restoreIfEmpty,
                ship.syncInterval,
                ship.snapshotInterval,
                ship.retention,
                ship.breaker,
                maxReplicaLag,
                validationInterval,
                s3.endpoint,
                s3.region,
                s3.pathStyle,
                pinBudget);
        ServerConfig flags = new ServerConfig(
                dataGiven ? data : null,
                bind,
                respPort,
                httpPort,
                durability,
                insecure,
                tlsCert,
                tlsKey,
                null,
                replication);
        String envConfig = environment.get("CASKADE_CONFIG");
        Path file = config != null ? config : envConfig == null || envConfig.isBlank() ? null : Path.of(envConfig);
        ServerConfig fromFile = file == null ? ServerConfig.EMPTY : ServerConfig.load(file);
        return flags.over(ServerConfig.fromEnvironment(environment))
                .over(fromFile)
                .options();
    }

    @Override
    int checkArgs() throws Exception {
        return run(); // it stops right before anything is opened or started
    }

    @Override
    int run() throws Exception {
        Server.Options options = options();
        try {
            options.replication().check(); // a bad destination URL fails before anything is opened
        } catch (IllegalArgumentException e) {
            return fail(Main.USAGE, e.getMessage());
        }
        String followUrl = follow != null ? follow : blankToNull(environment.get("CASKADE_FOLLOW"));
        String clusterUrl = cluster != null ? cluster : blankToNull(environment.get("CASKADE_CLUSTER"));
        String hookUrl = webhookTo != null ? webhookTo : blankToNull(environment.get("CASKADE_WEBHOOK_TO"));
        if (hookUrl != null && (followUrl != null || clusterUrl != null))
            return fail(Main.USAGE, "--webhook-to runs on a primary only (run 'caskade webhook --server' instead)");
        if (hookUrl == null && webhookPrefix != null) return fail(Main.USAGE, "--webhook-prefix needs --webhook-to");
        if (clusterUrl != null) {
            if (followUrl != null) return fail(Main.USAGE, "--cluster and --follow exclude each other");
            return cluster(options, clusterUrl);
        }
        if (bootstrapFrom != null)
            return fail(
                    Main.USAGE, "--bootstrap-from needs --cluster (a single server restores with --restore-if-empty)");
        if (nodeId != null || whenBusDown != null || clusterRetention != null || clusterShards != null)
            return fail(
                    Main.USAGE, "--node-id, --when-bus-down, --cluster-retention and --cluster-shards need --cluster");
        String followPrefix = prefix != null ? prefix : environment.getOrDefault("CASKADE_FOLLOW_PREFIX", "");
        boolean followReadOnly =
                readOnly != null ? readOnly : "true".equalsIgnoreCase(environment.get("CASKADE_READ_ONLY"));
        if (followUrl == null) {
            if (prefix != null || readOnly != null) return fail(Main.USAGE, "--prefix and --read-only need --follow");
            WebhookOptions hook = null;
            if (hookUrl != null) {
                String p =
                        webhookPrefix != null ? webhookPrefix : environment.getOrDefault("CASKADE_WEBHOOK_PREFIX", "");
                try {
                    hook = WebhookOptions.of(
                            WebhookCommand.receiver(hookUrl), p, options.data().resolve("webhook"));
                } catch (IllegalArgumentException e) {
                    return fail(Main.USAGE, "--webhook-to: " + e.getMessage());
                }
            }
            if (checkingArgs()) return Main.OK;
            if (holdsSegments(options.data().resolve("store")) && !holdsSegments(options.data()))
                return fail(
                        Main.USAGE,
                        options.data() + " holds a follower's copy (in "
                                + options.data().resolve("store")
                                + "); serve it with --follow, or give another --data");
            Server server = Server.start(options);
            if (hook != null) {
                try {
                    webhook = Webhook.start(new WebhookFeed.Local(server.store(), options.data()), hook);
                    webhook.bind(server.meterRegistry());
                } catch (RuntimeException e) {
                    server.close();
                    throw e;
                }
            }
            return serve(server, options, null, "serving", "durability " + options.durability());
        }
        if (!checkingArgs() && holdsSegments(options.data()))
            return fail(
                    Main.USAGE,
                    options.data() + " holds a primary's store; a follower keeps its copy in DIR/store:"
                            + " give another --data");
        if (options.replication().restoreIfEmpty() != null)
            return fail(Main.USAGE, "--restore-if-empty does not apply with --follow: the primary fills the copy");
        CaskadeClient client;
        try {
            client = followClient(followUrl);
        } catch (IllegalArgumentException e) {
            return fail(Main.USAGE, e.getMessage());
        }
        if (checkingArgs()) {
            client.close();
            return Main.OK;
        }
        ServedCopy follower = ServedCopy.follow(
                options, client, followPrefix, ReplicaOptions.defaults().withReadOnly(followReadOnly), err());
        FollowStatus f = (FollowStatus) follower.status();
        return serve(
                follower,
                options,
                follower,
                "following " + f.primary() + " into",
                (f.readOnly() ? "read-only" : "writes forwarded")
                        + (f.prefix().isEmpty() ? "" : ", prefix " + f.prefix()));
    }

    private int cluster(Server.Options options, String url) throws Exception {
        ClusterOptions c;
        try {
            c = ClusterOptions.parse(url);
            String id = nodeId != null ? nodeId : blankToNull(environment.get("CASKADE_NODE_ID"));
            if (id != null) c = c.withNodeId(id);
            String policy = whenBusDown != null ? whenBusDown : blankToNull(environment.get("CASKADE_WHEN_BUS_DOWN"));
            if (policy != null) c = c.withWhenBusDown(ClusterOptions.WhenBusDown.parse(policy));
            String retention = blankToNull(environment.get("CASKADE_CLUSTER_RETENTION"));
            if (clusterRetention != null) c = c.withRetention(clusterRetention);
            else if (retention != null) c = c.withRetention(Long.parseLong(retention.trim()));
            // credentials for peers that require users, from the environment only (a flag would show in ps)
            String peerToken = blankToNull(environment.get("CASKADE_CLUSTER_PEER_TOKEN"));
            String peerUser = blankToNull(environment.get("CASKADE_CLUSTER_PEER_USER"));
            String peerPassword = environment.get("CASKADE_CLUSTER_PEER_PASSWORD");
            if (peerToken != null || peerUser != null || peerPassword != null)
                c = c.withPeerAuth(new ClusterOptions.PeerAuth(peerUser, peerPassword, peerToken));
            String shardsEnv = blankToNull(environment.get("CASKADE_CLUSTER_SHARDS"));
            if (clusterShards != null) c = c.withShards(clusterShards);
            else if (shardsEnv != null) c = c.withShards(parseCount("CASKADE_CLUSTER_SHARDS", shardsEnv));
            String from =
                    bootstrapFrom != null ? bootstrapFrom : blankToNull(environment.get("CASKADE_BOOTSTRAP_FROM"));
            if (from != null)
                c = c.withBootstrap(new BackupBootstrap(
                        from.trim(),
                        options.replication().s3(),
                        options.replication().breaker()));
        } catch (IllegalArgumentException e) {
            return fail(Main.USAGE, e.getMessage());
        }
        if (prefix != null || readOnly != null) return fail(Main.USAGE, "--prefix and --read-only need --follow");
        if (!checkingArgs() && holdsSegments(options.data()))
            return fail(
                    Main.USAGE,
                    options.data() + " holds a primary's store; a cluster node keeps its store in DIR/store:"
                            + " give another --data");
        if (options.replication().restoreIfEmpty() != null)
            return fail(Main.USAGE, "--restore-if-empty does not apply with --cluster: the cluster fills the store");
        if (checkingArgs()) return Main.OK;
        ServedCopy node = ServedCopy.cluster(options, c, err());
        ClusterStatus s = (ClusterStatus) node.status();
        return serve(
                node,
                options,
                node,
                "node " + s.nodeId() + " of cluster " + c.redis() + " in",
                "writes ordered by the cluster, " + c.whenBusDown().name().toLowerCase(java.util.Locale.ROOT)
                        + " while Redis is down"
                        + (c.bootstrap() == null
                                ? ""
                                : ", bootstrap from " + c.bootstrap().description()));
    }

    private static int parseCount(String what, String value) {
        try {
            return Integer.parseInt(value.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(what + " must be a whole number, not '" + value + "'");
        }
    }

    /** The client of the primary: credentials from the URL's user info or CASKADE_FOLLOW_TOKEN. */
    private CaskadeClient followClient(String url) {
        URI uri;
        try {
            uri = new URI(url);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("--follow: not a URL: " + url);
        }
        if (!"http".equals(uri.getScheme()) && !"https".equals(uri.getScheme()) || uri.getHost() == null)
            throw new IllegalArgumentException("--follow needs http://host:port or https://host:port: " + url);
        // requests must fail well before a client of this follower gives up on it
        ClientOptions o = ClientOptions.defaults().withRequestTimeout(java.time.Duration.ofSeconds(10));
        String token = blankToNull(environment.get("CASKADE_FOLLOW_TOKEN"));
        if (uri.getRawUserInfo() != null) {
            String[] up = uri.getUserInfo().split(":", 2);
            if (up.length != 2) throw new IllegalArgumentException("--follow: user info must be user:password");
            o = o.withUser(up[0], up[1]);
        } else if (token != null) {
            o = o.withToken(token);
        }
        URI base = URI.create(uri.getScheme() + "://" + uri.getHost() + (uri.getPort() < 0 ? "" : ":" + uri.getPort()));
        return CaskadeClient.connect(base, o);
    }

    /** Whether {@code dir} directly holds a store's segment files. */
    private static boolean holdsSegments(Path dir) throws java.io.IOException {
        if (!java.nio.file.Files.isDirectory(dir)) return false;
        try (var files = java.nio.file.Files.list(dir)) {
            return files.anyMatch(f -> f.getFileName().toString().endsWith(".seg"));
        }
    }

    private static String blankToNull(String s) {
        return s == null || s.isBlank() ? null : s;
    }

    private int serve(AutoCloseable running, Server.Options options, ServedCopy copy, String what, String how)
            throws Exception {
        // SIGTERM and SIGINT: stop accepting, finish in-flight commits, fsync, release the lock
        Thread hook = new Thread(
                () -> {
                    try {
                        closeWebhook();
                        running.close();
                    } catch (Exception e) {
                        err().println("caskade: error while stopping: " + e);
                    }
                    stopped.countDown();
                },
                "caskade-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        int users = options.users().list().size();
        int destinations = options.replication().destinations().size();
        int respBound = copy != null ? copy.respPort() : ((Server) running).respPort();
        int httpBound = copy != null ? copy.httpPort() : ((Server) running).httpPort();
        out().printf(
                        "caskade %s %s: redis %s:%d, http %s://%s:%d (%s, %s%s%s, pid %d)%n",
                        what,
                        options.data(),
                        options.bind(),
                        respBound,
                        options.tls() == null ? "http" : "https",
                        options.bind(),
                        httpBound,
                        how,
                        users == 0 ? "no users" : users == 1 ? "1 user" : users + " users",
                        options.tls() == null ? "" : ", TLS",
                        destinations == 0
                                ? ""
                                : destinations == 1
                                        ? ", replicating to 1 destination"
                                        : ", replicating to " + destinations + " destinations",
                        ProcessHandle.current().pid());
        out().flush();
        stopped.await();
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
            // the hook is closing the server
        }
        closeWebhook();
        running.close();
        return Main.OK;
    }

    void stop() {
        stopped.countDown();
    }

    private void closeWebhook() {
        Webhook w = webhook;
        if (w != null) w.close();
    }

    /** {@code --pin-budget 512MiB}: a byte count or a number with KiB, MiB or GiB (k, m, g). */
    static final class SizeConverter implements ITypeConverter<Long> {
        @Override
        public Long convert(String text) {
            try {
                return ReplicationConfig.size("", text);
            } catch (IllegalArgumentException e) {
                // picocli names the option: "Invalid value for option '--pin-budget': bad size ..."
                throw new TypeConversionException(e.getMessage().substring(2));
            }
        }
    }
}
