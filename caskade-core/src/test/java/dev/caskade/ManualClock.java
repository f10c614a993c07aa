package dev.caskade;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.concurrent.atomic.AtomicLong;

/** A clock that moves only when a test says so, so TTLs and commit timestamps are deterministic. */
final class ManualClock extends Clock {
    private final AtomicLong millis;
    private final ZoneId zone;

    ManualClock(long startMillis) {
        this(new AtomicLong(startMillis), ZoneOffset.UTC);
    }

    private ManualClock(AtomicLong millis, ZoneId zone) {
        this.millis = millis;
        this.zone = zone;
    }

    /** Moves time forward and returns the new time. */
    long advance(long deltaMillis) {
        if (deltaMillis < 0) throw new IllegalArgumentException("time only moves forward: " + deltaMillis);
        return millis.addAndGet(deltaMillis);
    }

    long advance(Duration delta) {
        return advance(delta.toMillis());
    }

    @Override
    public long millis() {
        return millis.get();
    }

    @Override
    public Instant instant() {
        return Instant.ofEpochMilli(millis());
    }

    @Override
    public ZoneId getZone() {
        return zone;
    }

    // shares the time source, so a zoned copy advances together with this one
    @Override
    public Clock withZone(ZoneId z) {
        return new ManualClock(millis, z);
    }

    @Override
    public String toString() {
        return "ManualClock[" + instant() + "]";
    }
}
