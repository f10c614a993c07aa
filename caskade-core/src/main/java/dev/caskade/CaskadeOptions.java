package dev.caskade;

import java.time.Clock;
import java.time.Duration;
import java.util.Objects;

/**
 * How a store behaves. Validated on construction; start from {@link #defaults()} and change what you need
 * with the {@code with*} methods.
 *
 * @param durability when a commit's bytes reach the disk ({@link Durability#SYNC} by default)
 * @param segmentBytes size at which the active segment is sealed and a new one started
 * @param maxKeyBytes largest key accepted (default 64 KiB)
 * @param maxValueBytes largest value accepted (default 64 MiB)
 * @param historyAge change-feed history younger than this is never compacted away by merge
 * @param historyBytes the newest this-many bytes of log are never compacted away by merge; history is kept
 *     while it satisfies either bound
 * @param mergeFragmentation merge runs when this fraction of the compactable log is dead (0.6 = 60 %)
 * @param mergeDeadBytes merge also runs when the compactable log holds this many dead bytes
 * @param mergeBytesPerSecond rate limit of merge's reads and writes; 0 means unlimited
 * @param mergeCheckInterval how often the background merge checks its triggers; {@link Duration#ZERO} turns
 *     background merge off ({@link Caskade#merge()} still works)
 * @param reapInterval how often the reaper commits the deletion of expired keys (as EXPIRE changes);
 *     {@link Duration#ZERO} turns it off (expired keys are still invisible at once)
 * @param watchBuffer events a watch buffers for a slow listener before it ends with {@code OVERFLOW}
 * @param repairing open a damaged store by skipping and reporting bad entries instead of failing
 * @param clock the time source for timestamps and TTLs (tests inject their own)
 * @param pinBytes the most data-segment bytes that file pins ({@link Pin}) may keep merge from compacting; past
 *     it merge ignores the oldest file pins (default 1 GiB)
 * @param upstream where writes go instead of this store's own log: set for a follower, whose store only the
 *     primary's change feed writes ({@link Caskade#apply}); null (the default) for a store that takes its own
 *     writes
 */
public record CaskadeOptions(
        Durability durability,
        long segmentBytes,
        int maxKeyBytes,
        int maxValueBytes,
        Duration historyAge,
        long historyBytes,
        double mergeFragmentation,
        long mergeDeadBytes,
        long mergeBytesPerSecond,
        Duration mergeCheckInterval,
        Duration reapInterval,
        int watchBuffer,
        boolean repairing,
        Clock clock,
        long pinBytes,
        Upstream upstream) {

    /** Validates every field; a bad value fails with a message that names it. */
    public CaskadeOptions {
        Objects.requireNonNull(durability, "durability");
        Objects.requireNonNull(historyAge, "historyAge");
        Objects.requireNonNull(mergeCheckInterval, "mergeCheckInterval");
        Objects.requireNonNull(clock, "clock");
        Objects.requireNonNull(reapInterval, "reapInterval");
        require(!reapInterval.isNegative(), "reapInterval must not be negative: " + reapInterval);
        require(
                segmentBytes >= 4096 && segmentBytes <= (1L << 31) - 1,
                "segmentBytes must be in [4096, 2^31-1]: " + segmentBytes);
        require(maxKeyBytes >= 1 && maxKeyBytes <= 16 << 20, "maxKeyBytes must be in [1, 16 MiB]: " + maxKeyBytes);
        require(
                maxValueBytes >= 0 && maxValueBytes <= 1 << 30,
                "maxValueBytes must be in [0, 1 GiB]: " + maxValueBytes);
        require(!historyAge.isNegative(), "historyAge must not be negative: " + historyAge);
        require(historyBytes >= 0, "historyBytes must not be negative: " + historyBytes);
        require(
                mergeFragmentation > 0 && mergeFragmentation <= 1,
                "mergeFragmentation must be in (0, 1]: " + mergeFragmentation);
        require(mergeDeadBytes > 0, "mergeDeadBytes must be positive: " + mergeDeadBytes);
        require(mergeBytesPerSecond >= 0, "mergeBytesPerSecond must not be negative: " + mergeBytesPerSecond);
        require(!mergeCheckInterval.isNegative(), "mergeCheckInterval must not be negative: " + mergeCheckInterval);
        require(watchBuffer >= 1, "watchBuffer must be positive: " + watchBuffer);
        require(pinBytes >= 0, "pinBytes must not be negative: " + pinBytes);
    }

    private static void require(boolean ok, String message) {
        if (!ok) throw new IllegalArgumentException(message);
    }

    /**
     * SYNC durability, 128 MiB segments, 24 h / 1 GiB of history, merge at 60 % dead or 512 MiB dead, 1 GiB held
     * by file pins at most.
     */
    public static CaskadeOptions defaults() {
        return new CaskadeOptions(
                Durability.SYNC,
                128L << 20,
                64 << 10,
                64 << 20,
                Duration.ofHours(24),
                1L << 30,
                0.6,
                512L << 20,
                128L << 20,
                Duration.ofMinutes(1),
                Duration.ofSeconds(1),
                10_000,
                false,
                Clock.systemUTC(),
                1L << 30,
                null);
    }

    /** The defaults, with {@link #repairing()} set: damaged entries are skipped and reported. */
    public static CaskadeOptions repair() {
        return defaults().withRepair(true);
    }

    /** A copy with another durability. */
    public CaskadeOptions withDurability(Durability d) {
        return new CaskadeOptions(
                d,
                segmentBytes,
                maxKeyBytes,
                maxValueBytes,
                historyAge,
                historyBytes,
                mergeFragmentation,
                mergeDeadBytes,
                mergeBytesPerSecond,
                mergeCheckInterval,
                reapInterval,
                watchBuffer,
                repairing,
                clock,
                pinBytes,
                upstream);
    }

    /** A copy with another segment size. */
    public CaskadeOptions withSegmentBytes(long bytes) {
        return new CaskadeOptions(
                durability,
                bytes,
                maxKeyBytes,
                maxValueBytes,
                historyAge,
                historyBytes,
                mergeFragmentation,
                mergeDeadBytes,
                mergeBytesPerSecond,
                mergeCheckInterval,
                reapInterval,
                watchBuffer,
                repairing,
                clock,
                pinBytes,
                upstream);
    }

    /** A copy with other key and value limits. */
    public CaskadeOptions withLimits(int keyBytes, int valueBytes) {
        return new CaskadeOptions(
                durability,
                segmentBytes,
                keyBytes,
                valueBytes,
                historyAge,
                historyBytes,
                mergeFragmentation,
                mergeDeadBytes,
                mergeBytesPerSecond,
                mergeCheckInterval,
                reapInterval,
                watchBuffer,
                repairing,
                clock,
                pinBytes,
                upstream);
    }

    /** A copy with another history retention. */
    public CaskadeOptions withHistory(Duration age, long bytes) {
        return new CaskadeOptions(
                durability,
                segmentBytes,
                maxKeyBytes,
                maxValueBytes,
                age,
                bytes,
                mergeFragmentation,
                mergeDeadBytes,
                mergeBytesPerSecond,
                mergeCheckInterval,
                reapInterval,
                watchBuffer,
                repairing,
                clock,
                pinBytes,
                upstream);
    }

    /** A copy with other merge triggers. */
    public CaskadeOptions withMerge(double fragmentation, long deadBytes, long bytesPerSecond, Duration checkInterval) {
        return new CaskadeOptions(
                durability,
                segmentBytes,
                maxKeyBytes,
                maxValueBytes,
                historyAge,
                historyBytes,
                fragmentation,
                deadBytes,
                bytesPerSecond,
                checkInterval,
                reapInterval,
                watchBuffer,
                repairing,
                clock,
                pinBytes,
                upstream);
    }

    /** A copy with another reaper interval; {@link Duration#ZERO} turns background reaping off. */
    public CaskadeOptions withReapInterval(Duration interval) {
        return new CaskadeOptions(
                durability,
                segmentBytes,
                maxKeyBytes,
                maxValueBytes,
                historyAge,
                historyBytes,
                mergeFragmentation,
                mergeDeadBytes,
                mergeBytesPerSecond,
                mergeCheckInterval,
                interval,
                watchBuffer,
                repairing,
                clock,
                pinBytes,
                upstream);
    }

    /** A copy with another watch buffer size. */
    public CaskadeOptions withWatchBuffer(int events) {
        return new CaskadeOptions(
                durability,
                segmentBytes,
                maxKeyBytes,
                maxValueBytes,
                historyAge,
                historyBytes,
                mergeFragmentation,
                mergeDeadBytes,
                mergeBytesPerSecond,
                mergeCheckInterval,
                reapInterval,
                events,
                repairing,
                clock,
                pinBytes,
                upstream);
    }

    /** A copy with repair on or off. */
    public CaskadeOptions withRepair(boolean on) {
        return new CaskadeOptions(
                durability,
                segmentBytes,
                maxKeyBytes,
                maxValueBytes,
                historyAge,
                historyBytes,
                mergeFragmentation,
                mergeDeadBytes,
                mergeBytesPerSecond,
                mergeCheckInterval,
                reapInterval,
                watchBuffer,
                on,
                clock,
                pinBytes,
                upstream);
    }

    /** A copy with another clock. */
    public CaskadeOptions withClock(Clock c) {
        return new CaskadeOptions(
                durability,
                segmentBytes,
                maxKeyBytes,
                maxValueBytes,
                historyAge,
                historyBytes,
                mergeFragmentation,
                mergeDeadBytes,
                mergeBytesPerSecond,
                mergeCheckInterval,
                reapInterval,
                watchBuffer,
                repairing,
                c,
                pinBytes,
                upstream);
    }

    /**
     * A copy with another budget for file pins: the most data-segment bytes that {@link Pin}s may keep merge from
     * compacting before it ignores the oldest of them (0: file pins never hold anything back).
     */
    public CaskadeOptions withPinBytes(long bytes) {
        return new CaskadeOptions(
                durability,
                segmentBytes,
                maxKeyBytes,
                maxValueBytes,
                historyAge,
                historyBytes,
                mergeFragmentation,
                mergeDeadBytes,
                mergeBytesPerSecond,
                mergeCheckInterval,
                reapInterval,
                watchBuffer,
                repairing,
                clock,
                bytes,
                upstream);
    }

    /**
     * A copy whose writes go to {@code value} (a follower's primary) instead of its own log; null: its own log.
     * The store's own log then changes only through {@link Caskade#apply}.
     */
    public CaskadeOptions withUpstream(Upstream value) {
        return new CaskadeOptions(
                durability,
                segmentBytes,
                maxKeyBytes,
                maxValueBytes,
                historyAge,
                historyBytes,
                mergeFragmentation,
                mergeDeadBytes,
                mergeBytesPerSecond,
                mergeCheckInterval,
                reapInterval,
                watchBuffer,
                repairing,
                clock,
                pinBytes,
                value);
    }
}
