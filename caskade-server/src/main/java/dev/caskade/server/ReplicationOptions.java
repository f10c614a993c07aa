package dev.caskade.server;

import dev.caskade.CaskadeOptions;
import dev.caskade.s3.BreakerOptions;
import dev.caskade.s3.Destination;
import dev.caskade.s3.ObjectStore;
import dev.caskade.s3.S3Options;
import dev.caskade.s3.ShipOptions;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;

/**
 * What the server ships its log to ({@code serve --replicate-to}) and restores from when its directory is empty
 * ({@code --restore-if-empty}). {@link ReplicationConfig} builds these from flags, environment and config file.
 *
 * @param destinations one shipper each: {@code file:///abs/path}, a plain path or {@code s3://bucket/prefix}
 * @param restoreIfEmpty restore from this URL before opening the store when its directory is empty or absent (null:
 *     never)
 * @param s3 how to reach S3 for every {@code s3://} URL
 * @param breaker the retry and circuit breaker around each destination
 * @param ship sync interval, snapshot interval, retention
 * @param maxReplicaLag {@code /readyz} answers 503 while a destination is further behind than this (null: never)
 * @param validationInterval how often each destination is restored into a scratch directory and compared with the
 *     live store (null: never)
 * @param pinBytes the store's budget for bytes of log merge keeps for a destination that has not shipped them yet
 *     ({@code pin-budget}, {@link dev.caskade.CaskadeOptions#withPinBytes}); past it the shipper starts over from
 *     a fresh snapshot
 */
public record ReplicationOptions(
        List<String> destinations,
        String restoreIfEmpty,
        S3Options s3,
        BreakerOptions breaker,
        ShipOptions ship,
        Duration maxReplicaLag,
        Duration validationInterval,
        long pinBytes) {

    /** Nothing shipped, nothing restored. */
    public static final ReplicationOptions NONE = new ReplicationOptions(
            List.of(),
            null,
            S3Options.defaults(),
            BreakerOptions.defaults(),
            ShipOptions.defaults(),
            null,
            null,
            CaskadeOptions.defaults().pinBytes());

    /** Validates what can be checked without the network; a bad value names its option. */
    public ReplicationOptions {
        destinations = List.copyOf(Objects.requireNonNull(destinations, "destinations"));
        Objects.requireNonNull(s3, "s3");
        Objects.requireNonNull(breaker, "breaker");
        Objects.requireNonNull(ship, "ship");
        for (String d : destinations) {
            if (d == null || d.isBlank()) throw new IllegalArgumentException("replicate-to: empty destination URL");
        }
        if (new HashSet<>(destinations).size() != destinations.size()) {
            throw new IllegalArgumentException("replicate-to: a destination is given twice: " + destinations);
        }
        if (restoreIfEmpty != null && restoreIfEmpty.isBlank()) {
            throw new IllegalArgumentException("restore-if-empty: empty URL");
        }
        if (pinBytes < 0) throw new IllegalArgumentException("pin-budget must not be negative, got " + pinBytes);
        positive("max-replica-lag", maxReplicaLag);
        positive("validation-interval", validationInterval);
        if (destinations.isEmpty() && maxReplicaLag != null) {
            throw new IllegalArgumentException("max-replica-lag needs a destination (replicate-to)");
        }
        if (destinations.isEmpty() && validationInterval != null) {
            throw new IllegalArgumentException("validation-interval needs a destination (replicate-to)");
        }
    }

    private static void positive(String name, Duration d) {
        if (d != null && (d.isNegative() || d.isZero())) {
            throw new IllegalArgumentException(name + " must be > 0, got " + d);
        }
    }

    /** Whether anything is shipped. */
    public boolean ships() {
        return !destinations.isEmpty();
    }

    /** A copy shipping to these destinations. */
    public ReplicationOptions withDestinations(List<String> value) {
        return new ReplicationOptions(
                value, restoreIfEmpty, s3, breaker, ship, maxReplicaLag, validationInterval, pinBytes);
    }

    /** A copy restoring from {@code url} into an empty directory (null: never). */
    public ReplicationOptions withRestoreIfEmpty(String url) {
        return new ReplicationOptions(
                destinations, url, s3, breaker, ship, maxReplicaLag, validationInterval, pinBytes);
    }

    /** A copy with these S3, breaker and shipping settings. */
    public ReplicationOptions with(S3Options s3Options, BreakerOptions breakerOptions, ShipOptions shipOptions) {
        return new ReplicationOptions(
                destinations,
                restoreIfEmpty,
                s3Options,
                breakerOptions,
                shipOptions,
                maxReplicaLag,
                validationInterval,
                pinBytes);
    }

    /** A copy with a readiness limit and a validation interval (null: none). */
    public ReplicationOptions withChecks(Duration maxLag, Duration validateEvery) {
        return new ReplicationOptions(destinations, restoreIfEmpty, s3, breaker, ship, maxLag, validateEvery, pinBytes);
    }

    /** A copy with this pin budget in bytes. */
    public ReplicationOptions withPinBytes(long bytes) {
        return new ReplicationOptions(
                destinations, restoreIfEmpty, s3, breaker, ship, maxReplicaLag, validationInterval, bytes);
    }

    /**
     * Parses every URL as {@link Destination} would open it (no request is sent), so that a typo fails before the
     * store is opened.
     *
     * @throws IllegalArgumentException naming the option and saying what is wrong with the URL
     */
    public void check() {
        for (String d : destinations) check("replicate-to", d);
        if (restoreIfEmpty != null) check("restore-if-empty", restoreIfEmpty);
    }

    private void check(String option, String url) {
        try (ObjectStore store = Destination.openDirect(url, s3)) {
            Objects.requireNonNull(store);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(option + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(option + ": cannot use '" + url + "': " + e.getMessage(), e);
        }
    }
}
