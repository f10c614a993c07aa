package dev.caskade.s3;

import java.net.URI;
import java.time.Duration;
import java.util.Objects;

/**
 * How to reach an S3 (or S3-compatible) service. Start from {@link #defaults()} (AWS: region and credentials from
 * the default chains) or {@link #forEndpoint(URI)} (an S3-compatible server), then use the withers.
 *
 * @param endpoint the service's base URI (http or https, no path), or null for AWS
 * @param region the signing region, or null for the AWS default region chain ("us-east-1" when an endpoint is set)
 * @param pathStyle address buckets as {@code endpoint/bucket} rather than {@code bucket.endpoint}
 * @param checksumsWhenRequired send and validate the SDK's flexible checksums only where the API requires them (and
 *     Content-MD5 there). Most S3-compatible servers need this; {@link #withEndpoint} turns it on
 * @param credentials static credentials, or null for the AWS default credentials chain (environment, profile,
 *     instance role...)
 * @param connectTimeout to open a connection
 * @param readTimeout the longest silence while waiting for bytes of an answer
 * @param attemptTimeout the longest one request may take in all (null: no limit, large uploads take what they
 *     take)
 * @param partSize files larger than this are uploaded in parts of this size (5 MiB .. 5 GiB)
 */
public record S3Options(
        URI endpoint,
        String region,
        boolean pathStyle,
        boolean checksumsWhenRequired,
        Credentials credentials,
        Duration connectTimeout,
        Duration readTimeout,
        Duration attemptTimeout,
        long partSize) {

    /** The smallest part S3 accepts (except the last). */
    public static final long MIN_PART_SIZE = 5L << 20;

    /** The largest part (and the largest single upload) S3 accepts. */
    public static final long MAX_PART_SIZE = 5L << 30;

    /** Static credentials (tests, or servers without the AWS chain). {@link #toString()} hides the secret. */
    public record Credentials(String accessKeyId, String secretAccessKey) {
        public Credentials {
            if (accessKeyId == null || accessKeyId.isBlank()) {
                throw new IllegalArgumentException("access key id is empty");
            }
            Objects.requireNonNull(secretAccessKey, "secretAccessKey");
        }

        @Override
        public String toString() {
            return "Credentials[" + accessKeyId + ", secret hidden]";
        }
    }

    public S3Options {
        if (endpoint != null) {
            String scheme = endpoint.getScheme();
            if (!endpoint.isAbsolute()
                    || !("http".equalsIgnoreCase(scheme) || "https".equalsIgnoreCase(scheme))
                    || endpoint.getHost() == null) {
                throw new IllegalArgumentException(
                        "S3 endpoint must be http://host[:port] or https://host[:port], got " + endpoint);
            }
            if (endpoint.getRawUserInfo() != null) {
                throw new IllegalArgumentException("S3 endpoint must not hold credentials: " + redact(endpoint));
            }
            if ((endpoint.getRawPath() != null
                            && !endpoint.getRawPath().isEmpty()
                            && !endpoint.getRawPath().equals("/"))
                    || endpoint.getRawQuery() != null
                    || endpoint.getRawFragment() != null) {
                throw new IllegalArgumentException("S3 endpoint must have no path, query or fragment: " + endpoint);
            }
        }
        if (region != null && !region.matches("[a-z0-9][a-z0-9-]{0,62}")) {
            throw new IllegalArgumentException("bad S3 region '" + region + "' (e.g. us-east-1)");
        }
        positive("connectTimeout", connectTimeout);
        positive("readTimeout", readTimeout);
        if (attemptTimeout != null) {
            positive("attemptTimeout", attemptTimeout);
        }
        if (partSize < MIN_PART_SIZE || partSize > MAX_PART_SIZE) {
            throw new IllegalArgumentException(
                    "S3 part size must be within 5 MiB .. 5 GiB, got " + partSize + " bytes");
        }
    }

    private static void positive(String what, Duration d) {
        Objects.requireNonNull(d, what);
        if (d.isNegative() || d.isZero()) {
            throw new IllegalArgumentException(what + " must be > 0, got " + d);
        }
    }

    private static String redact(URI uri) {
        return uri.getScheme() + "://***@" + uri.getHost() + (uri.getPort() < 0 ? "" : ":" + uri.getPort());
    }

    /** AWS S3: region and credentials from the default chains, virtual-host addressing, full checksums. */
    public static S3Options defaults() {
        return new S3Options(
                null, null, false, false, null, Duration.ofSeconds(5), Duration.ofSeconds(30), null, 16L << 20);
    }

    /** An S3-compatible server at {@code endpoint}: path style, region us-east-1, checksums only when required. */
    public static S3Options forEndpoint(URI endpoint) {
        return defaults().withEndpoint(endpoint).withPathStyle(true);
    }

    /** Another endpoint (null: AWS); a non-null endpoint also turns {@link #checksumsWhenRequired} on. */
    public S3Options withEndpoint(URI endpoint) {
        return new S3Options(
                endpoint,
                region,
                pathStyle,
                endpoint != null || checksumsWhenRequired,
                credentials,
                connectTimeout,
                readTimeout,
                attemptTimeout,
                partSize);
    }

    public S3Options withRegion(String region) {
        return new S3Options(
                endpoint,
                region,
                pathStyle,
                checksumsWhenRequired,
                credentials,
                connectTimeout,
                readTimeout,
                attemptTimeout,
                partSize);
    }

    public S3Options withPathStyle(boolean pathStyle) {
        return new S3Options(
                endpoint,
                region,
                pathStyle,
                checksumsWhenRequired,
                credentials,
                connectTimeout,
                readTimeout,
                attemptTimeout,
                partSize);
    }

    public S3Options withChecksumsWhenRequired(boolean checksumsWhenRequired) {
        return new S3Options(
                endpoint,
                region,
                pathStyle,
                checksumsWhenRequired,
                credentials,
                connectTimeout,
                readTimeout,
                attemptTimeout,
                partSize);
    }

    /** Static credentials; null returns to the AWS default chain. */
    public S3Options withCredentials(Credentials credentials) {
        return new S3Options(
                endpoint,
                region,
                pathStyle,
                checksumsWhenRequired,
                credentials,
                connectTimeout,
                readTimeout,
                attemptTimeout,
                partSize);
    }

    public S3Options withCredentials(String accessKeyId, String secretAccessKey) {
        return withCredentials(new Credentials(accessKeyId, secretAccessKey));
    }

    /** Connect and read timeouts, and the limit for one whole request (null: none). */
    public S3Options withTimeouts(Duration connect, Duration read, Duration attempt) {
        return new S3Options(
                endpoint, region, pathStyle, checksumsWhenRequired, credentials, connect, read, attempt, partSize);
    }

    public S3Options withPartSize(long partSize) {
        return new S3Options(
                endpoint,
                region,
                pathStyle,
                checksumsWhenRequired,
                credentials,
                connectTimeout,
                readTimeout,
                attemptTimeout,
                partSize);
    }

    /** The region to sign with: the given one, "us-east-1" for a custom endpoint, or null (AWS chain). */
    public String effectiveRegion() {
        return region != null ? region : endpoint != null ? "us-east-1" : null;
    }
}
