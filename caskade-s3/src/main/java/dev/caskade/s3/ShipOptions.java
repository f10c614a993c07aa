package dev.caskade.s3;

import java.time.Clock;
import java.time.Duration;
import java.util.Objects;

/**
 * How a {@link Shipper} ships one store to one destination. Validated on construction.
 *
 * @param syncInterval how often new commits are shipped (the most a machine loss can cost), default 1 s
 * @param snapshotInterval how often a fresh snapshot starts a new restore base, default 24 h
 * @param retention how long objects stay restorable; at least one snapshot is always kept, default 72 h
 * @param retentionCheckInterval how often expired objects are looked for, default 1 min
 * @param maxObjectBytes the raw size at which a run of commits is cut into another log object, default 16 MiB
 * @param blockBytes the raw size of one compressed block inside objects, default 1 MiB
 * @param leaseTtl how long the writer's lease lasts without renewal, default 30 s
 * @param clock the clock for names, lag and retention
 */
public record ShipOptions(
        Duration syncInterval,
        Duration snapshotInterval,
        Duration retention,
        Duration retentionCheckInterval,
        long maxObjectBytes,
        int blockBytes,
        Duration leaseTtl,
        Clock clock) {

    public ShipOptions {
        Objects.requireNonNull(clock, "clock");
        positive("sync-interval", syncInterval);
        positive("snapshot-interval", snapshotInterval);
        positive("retention", retention);
        positive("retention-check-interval", retentionCheckInterval);
        positive("lease-ttl", leaseTtl);
        if (maxObjectBytes < 1024)
            throw new IllegalArgumentException("maxObjectBytes must be >= 1024: " + maxObjectBytes);
        if (blockBytes < 1024 || blockBytes > (64 << 20)) {
            throw new IllegalArgumentException("blockBytes must be in [1 KiB, 64 MiB]: " + blockBytes);
        }
        if (leaseTtl.compareTo(syncInterval.multipliedBy(3)) < 0) {
            throw new IllegalArgumentException(
                    "lease-ttl (" + leaseTtl + ") must be at least 3 x sync-interval (" + syncInterval + ")");
        }
    }

    public static ShipOptions defaults() {
        return new ShipOptions(
                Duration.ofSeconds(1),
                Duration.ofHours(24),
                Duration.ofHours(72),
                Duration.ofMinutes(1),
                16L << 20,
                BlockCodec.DEFAULT_BLOCK,
                Duration.ofSeconds(30),
                Clock.systemUTC());
    }

    public ShipOptions withSyncInterval(Duration d) {
        Duration ttl = leaseTtl.compareTo(d.multipliedBy(3)) < 0 ? d.multipliedBy(3) : leaseTtl;
        return new ShipOptions(
                d, snapshotInterval, retention, retentionCheckInterval, maxObjectBytes, blockBytes, ttl, clock);
    }

    public ShipOptions withSnapshotInterval(Duration d) {
        return new ShipOptions(
                syncInterval, d, retention, retentionCheckInterval, maxObjectBytes, blockBytes, leaseTtl, clock);
    }

    public ShipOptions withRetention(Duration d, Duration checkInterval) {
        return new ShipOptions(
                syncInterval, snapshotInterval, d, checkInterval, maxObjectBytes, blockBytes, leaseTtl, clock);
    }

    public ShipOptions withObjectBytes(long maxObject, int block) {
        return new ShipOptions(
                syncInterval, snapshotInterval, retention, retentionCheckInterval, maxObject, block, leaseTtl, clock);
    }

    public ShipOptions withLeaseTtl(Duration d) {
        return new ShipOptions(
                syncInterval,
                snapshotInterval,
                retention,
                retentionCheckInterval,
                maxObjectBytes,
                blockBytes,
                d,
                clock);
    }

    public ShipOptions withClock(Clock c) {
        return new ShipOptions(
                syncInterval,
                snapshotInterval,
                retention,
                retentionCheckInterval,
                maxObjectBytes,
                blockBytes,
                leaseTtl,
                c);
    }

    private static void positive(String name, Duration d) {
        Objects.requireNonNull(d, name);
        if (d.isNegative() || d.isZero()) throw new IllegalArgumentException(name + " must be > 0: " + d);
    }
}
