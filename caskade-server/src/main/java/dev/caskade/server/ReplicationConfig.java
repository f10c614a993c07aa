package dev.caskade.server;

import dev.caskade.s3.BreakerOptions;
import dev.caskade.s3.S3Options;
import dev.caskade.s3.ShipOptions;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import tools.jackson.databind.JsonNode;

/**
 * One layer of the replication settings, like {@link ServerConfig} (which holds it): a null field is not set in
 * this layer, {@link #over} stacks layers field by field, {@link #options()} fills in the defaults.
 *
 * @param replicateTo the destinations (flag: repeatable; environment: comma-separated; file: a list or one URL)
 * @param restoreIfEmpty restore from this URL when the data directory is empty
 * @param syncInterval how often new commits are shipped
 * @param snapshotInterval how often a fresh snapshot is uploaded
 * @param retention how long objects stay restorable
 * @param breaker the retry and circuit breaker of each destination
 * @param maxReplicaLag readiness fails while a destination lags more than this
 * @param validationInterval how often each destination is restored and compared with the live store
 * @param s3Endpoint an S3-compatible server (null: AWS)
 * @param s3Region the signing region
 * @param s3PathStyle address buckets as endpoint/bucket
 * @param pinBudget the most bytes of log merge keeps for a destination that has not shipped them yet; past it that
 *     destination starts over from a fresh snapshot ({@link dev.caskade.CaskadeOptions#pinBytes()})
 */
public record ReplicationConfig(
        List<String> replicateTo,
        String restoreIfEmpty,
        Duration syncInterval,
        Duration snapshotInterval,
        Duration retention,
        BreakerOptions breaker,
        Duration maxReplicaLag,
        Duration validationInterval,
        URI s3Endpoint,
        String s3Region,
        Boolean s3PathStyle,
        Long pinBudget) {

    /** Nothing set. */
    public static final ReplicationConfig EMPTY =
            new ReplicationConfig(null, null, null, null, null, null, null, null, null, null, null, null);

    /** The environment variables {@link #fromEnvironment} reads, in the order of the fields. */
    public static final List<String> VARIABLES = List.of(
            "CASKADE_REPLICATE_TO",
            "CASKADE_RESTORE_IF_EMPTY",
            "CASKADE_SYNC_INTERVAL",
            "CASKADE_SNAPSHOT_INTERVAL",
            "CASKADE_RETENTION",
            "CASKADE_BREAKER",
            "CASKADE_MAX_REPLICA_LAG",
            "CASKADE_VALIDATION_INTERVAL",
            "CASKADE_S3_ENDPOINT",
            "CASKADE_S3_REGION",
            "CASKADE_S3_PATH_STYLE",
            "CASKADE_PIN_BUDGET");

    /** The config file's keys for these settings. */
    static final List<String> KEYS = List.of(
            "replicate-to",
            "restore-if-empty",
            "sync-interval",
            "snapshot-interval",
            "retention",
            "breaker",
            "max-replica-lag",
            "validation-interval",
            "s3",
            "pin-budget");

    private static final List<String> S3_KEYS = List.of("endpoint", "region", "path-style");
    private static final Pattern SCHEME = Pattern.compile("^[A-Za-z][A-Za-z0-9+.-]+:.*", Pattern.DOTALL);

    public ReplicationConfig {
        if (replicateTo != null) replicateTo = List.copyOf(replicateTo);
    }

    /** This layer over {@code lower}: each field not set here comes from there. */
    public ReplicationConfig over(ReplicationConfig lower) {
        return new ReplicationConfig(
                replicateTo != null ? replicateTo : lower.replicateTo,
                restoreIfEmpty != null ? restoreIfEmpty : lower.restoreIfEmpty,
                syncInterval != null ? syncInterval : lower.syncInterval,
                snapshotInterval != null ? snapshotInterval : lower.snapshotInterval,
                retention != null ? retention : lower.retention,
                breaker != null ? breaker : lower.breaker,
                maxReplicaLag != null ? maxReplicaLag : lower.maxReplicaLag,
                validationInterval != null ? validationInterval : lower.validationInterval,
                s3Endpoint != null ? s3Endpoint : lower.s3Endpoint,
                s3Region != null ? s3Region : lower.s3Region,
                s3PathStyle != null ? s3PathStyle : lower.s3PathStyle,
                pinBudget != null ? pinBudget : lower.pinBudget);
    }

    /** The replication options: what is set here over the defaults. */
    public ReplicationOptions options() {
        ShipOptions ship = ShipOptions.defaults();
        if (syncInterval != null) ship = ship.withSyncInterval(syncInterval);
        if (snapshotInterval != null) ship = ship.withSnapshotInterval(snapshotInterval);
        if (retention != null) ship = ship.withRetention(retention, ship.retentionCheckInterval());
        return new ReplicationOptions(
                replicateTo == null ? List.of() : replicateTo,
                restoreIfEmpty,
                s3Options(),
                breaker == null ? BreakerOptions.defaults() : breaker,
                ship,
                maxReplicaLag,
                validationInterval,
                pinBudget == null ? ReplicationOptions.NONE.pinBytes() : pinBudget);
    }

    /**
     * How to reach S3: AWS when no endpoint is set; an S3-compatible server (path style, region us-east-1 unless
     * given) when one is. Credentials always come from the AWS default chain.
     */
    public S3Options s3Options() {
        S3Options o = s3Endpoint == null ? S3Options.defaults() : S3Options.forEndpoint(s3Endpoint);
        if (s3Region != null) o = o.withRegion(s3Region);
        if (s3PathStyle != null) o = o.withPathStyle(s3PathStyle);
        return o;
    }

    /** The layer the {@link #VARIABLES} make; an empty variable is not set. A bad value names the variable. */
    public static ReplicationConfig fromEnvironment(Map<String, String> env) {
        String[] v = new String[VARIABLES.size()];
        for (int i = 0; i < v.length; i++) {
            String s = env.get(VARIABLES.get(i));
            v[i] = s == null || s.isBlank() ? null : s.trim();
        }
        return new ReplicationConfig(
                v[0] == null
                        ? null
                        : Arrays.stream(v[0].split(","))
                                .map(String::trim)
                                .filter(s -> !s.isEmpty())
                                .toList(),
                v[1],
                v[2] == null ? null : duration(VARIABLES.get(2), v[2]),
                v[3] == null ? null : duration(VARIABLES.get(3), v[3]),
                v[4] == null ? null : duration(VARIABLES.get(4), v[4]),
                v[5] == null ? null : breaker(VARIABLES.get(5), v[5]),
                v[6] == null ? null : duration(VARIABLES.get(6), v[6]),
                v[7] == null ? null : duration(VARIABLES.get(7), v[7]),
                v[8] == null ? null : endpoint(VARIABLES.get(8), v[8]),
                v[9],
                v[10] == null ? null : ServerConfig.parseBoolean(VARIABLES.get(10), v[10]),
                v[11] == null ? null : size(VARIABLES.get(11), v[11]));
    }

    /** Reads this layer's keys from a config file's root; plain paths are relative to {@code dir}. */
    static ReplicationConfig parse(JsonNode root, Path dir) {
        List<String> to = null;
        JsonNode t = root.get("replicate-to");
        if (t != null && !t.isNull()) {
            to = new ArrayList<>();
            if (t.isArray()) {
                for (int i = 0; i < t.size(); i++) {
                    String url = scalar(t.get(i), "replicate-to[" + i + "]");
                    if (url == null || url.isBlank())
                        throw new IllegalArgumentException("replicate-to[" + i + "] is empty");
                    to.add(location(url, dir, "replicate-to[" + i + "]"));
                }
            } else {
                String url = scalar(t, "replicate-to");
                if (url.isBlank()) throw new IllegalArgumentException("replicate-to is empty");
                to.add(location(url, dir, "replicate-to"));
            }
        }
        String restore = scalar(root.get("restore-if-empty"), "restore-if-empty");
        if (restore != null) {
            if (restore.isBlank()) throw new IllegalArgumentException("restore-if-empty is empty");
            restore = location(restore, dir, "restore-if-empty");
        }
        URI endpoint = null;
        String region = null;
        Boolean pathStyle = null;
        JsonNode s3 = root.get("s3");
        if (s3 != null && !s3.isNull()) {
            ServerConfig.object(s3, "s3", S3_KEYS);
            String e = scalar(s3.get("endpoint"), "s3.endpoint");
            endpoint = e == null ? null : endpoint("s3.endpoint", e);
            region = scalar(s3.get("region"), "s3.region");
            JsonNode ps = s3.get("path-style");
            if (ps != null && !ps.isNull()) {
                if (!ps.isBoolean())
                    throw new IllegalArgumentException("s3.path-style must be true or false, got " + ps);
                pathStyle = ps.booleanValue();
            }
        }
        return new ReplicationConfig(
                to,
                restore,
                duration(root, "sync-interval"),
                duration(root, "snapshot-interval"),
                duration(root, "retention"),
                breaker(root.get("breaker")),
                duration(root, "max-replica-lag"),
                duration(root, "validation-interval"),
                endpoint,
                region,
                pathStyle,
                size(root, "pin-budget"));
    }

    /** A plain path in the file is relative to the file's directory; URLs stay as they are. */
    private static String location(String url, Path dir, String field) {
        if (SCHEME.matcher(url).matches()) return url;
        try {
            return dir.resolve(url).toString();
        } catch (InvalidPathException e) {
            throw new IllegalArgumentException(field + ": bad path: " + e.getMessage(), e);
        }
    }

    private static Duration duration(JsonNode root, String key) {
        String s = scalar(root.get(key), key);
        return s == null ? null : duration(key, s);
    }

    private static Long size(JsonNode root, String key) {
        String s = scalar(root.get(key), key);
        return s == null ? null : size(key, s);
    }

    /** The breaker as {@code "window=20,open-wait=10s"} or as a mapping of the same keys. */
    private static BreakerOptions breaker(JsonNode node) {
        if (node == null || node.isNull()) return null;
        if (!node.isObject()) return breaker("breaker", scalar(node, "breaker"));
        StringBuilder spec = new StringBuilder();
        for (Map.Entry<String, JsonNode> e : node.properties()) {
            String v = scalar(e.getValue(), "breaker." + e.getKey());
            if (!spec.isEmpty()) spec.append(',');
            spec.append(e.getKey()).append('=').append(v);
        }
        return breaker("breaker", spec.toString());
    }

    private static String scalar(JsonNode v, String field) {
        if (v == null || v.isNull()) return null;
        if (!v.isString() && !v.isNumber() && !v.isBoolean())
            throw new IllegalArgumentException(field + " must be a single value, got " + v);
        return v.asString();
    }

    /** Parses a duration: {@code 250ms}, {@code 10s}, {@code 2m}, {@code 1h}, {@code 1d} or ISO-8601. */
    static Duration duration(String field, String text) {
        try {
            return BreakerOptions.duration(text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(field + ": " + e.getMessage(), e);
        }
    }

    private static final Pattern SIZE = Pattern.compile("(\\d+)\\s*(|k|kib|m|mib|g|gib)", Pattern.CASE_INSENSITIVE);

    /**
     * Parses a size in bytes: a plain count ({@code 1073741824}) or a number with a binary unit, {@code KiB},
     * {@code MiB} or {@code GiB} ({@code k}, {@code m}, {@code g} mean the same; case does not matter).
     */
    public static long size(String field, String text) {
        Matcher m = SIZE.matcher(text.trim());
        if (!m.matches())
            throw new IllegalArgumentException(
                    field + ": bad size '" + text + "' (a byte count or a number with KiB, MiB or GiB, e.g. 512MiB)");
        int shift = switch (Character.toLowerCase(
                m.group(2).isEmpty() ? 'b' : m.group(2).charAt(0))) {
            case 'k' -> 10;
            case 'm' -> 20;
            case 'g' -> 30;
            default -> 0;
        };
        try {
            long n = Long.parseLong(m.group(1));
            if (n > Long.MAX_VALUE >> shift) throw new NumberFormatException();
            return n << shift;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(field + ": size '" + text + "' is too large", e);
        }
    }

    static BreakerOptions breaker(String field, String spec) {
        try {
            return BreakerOptions.parse(spec);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(field + ": " + e.getMessage(), e);
        }
    }

    static URI endpoint(String field, String text) {
        try {
            URI uri = new URI(text.trim());
            S3Options.forEndpoint(uri); // checks scheme, host, no path
            return uri;
        } catch (URISyntaxException | IllegalArgumentException e) {
            throw new IllegalArgumentException(field + ": " + e.getMessage(), e);
        }
    }
}
