package dev.caskade.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * Writes on a fixed schedule: slot {@code i} of {@code total} is due {@code i / rate} seconds after the start, shared by
 * a few threads so that one slow write does not hold back the others; a missed slot goes at once (counted as late past
 * 1 ms), and the run gives up at twice its planned length. Each slot's own duration, from the moment it starts to its
 * return, is recorded for the slots from {@code warm} on; a slot that throws is counted as an error, not recorded.
 */
final class Schedule {
    /** One slot's work; {@code startedAt} is the {@link System#nanoTime()} it started at. */
    interface Slot {
        void run(int i, long startedAt) throws Exception;
    }

    private final long start;
    private final long warmEndsAt;
    private final List<Thread> threads = new ArrayList<>();
    private final LatencyHistogram[] timed;
    private final AtomicLong late = new AtomicLong();
    private final AtomicLong errors = new AtomicLong();
    private final AtomicLong done = new AtomicLong();

    private Schedule(String name, int threadCount, int rate, int warmupSeconds, int seconds, Slot slot) {
        int total = rate * (warmupSeconds + seconds);
        int warm = rate * warmupSeconds;
        long period = 1_000_000_000L / rate;
        AtomicLong nextSlot = new AtomicLong();
        timed = new LatencyHistogram[threadCount];
        start = System.nanoTime() + 10_000_000;
        warmEndsAt = start + warmupSeconds * 1_000_000_000L;
        long deadline = start + 2L * (warmupSeconds + seconds) * 1_000_000_000L;
        for (int w = 0; w < threadCount; w++) {
            LatencyHistogram h = new LatencyHistogram();
            timed[w] = h;
            threads.add(Thread.ofPlatform().name(name + "-" + w).start(() -> {
                while (true) {
                    long i = nextSlot.getAndIncrement();
                    if (i >= total) return;
                    long due = start + i * period;
                    long wait = due - System.nanoTime();
                    if (wait > 0) LockSupport.parkNanos(wait);
                    long now = System.nanoTime();
                    if (now - deadline > 0) return;
                    if (now - due > 1_000_000) late.incrementAndGet();
                    try {
                        slot.run((int) i, now);
                    } catch (Exception e) {
                        errors.incrementAndGet();
                        continue;
                    }
                    done.incrementAndGet();
                    if (i >= warm) h.record(System.nanoTime() - now);
                }
            }));
        }
    }

    /** Starts {@code threads} threads named {@code name-N} running {@code rate} slots/s for warm-up plus seconds. */
    static Schedule start(String name, int threads, int rate, int warmupSeconds, int seconds, Slot slot) {
        return new Schedule(name, threads, rate, warmupSeconds, seconds, slot);
    }

    /** When slot 0 was due ({@link System#nanoTime()}). */
    long startNanos() {
        return start;
    }

    /** Returns once the warm-up slots are due. */
    void awaitWarmup() throws InterruptedException {
        while (System.nanoTime() < warmEndsAt) Thread.sleep(5);
    }

    /** Waits for the last slot. */
    void join() throws InterruptedException {
        for (Thread t : threads) t.join();
    }

    /** The durations of the slots after the warm-up, all threads together. */
    LatencyHistogram timed() {
        LatencyHistogram all = new LatencyHistogram();
        for (LatencyHistogram h : timed) all.add(h);
        return all;
    }

    /** Slots started more than 1 ms after they were due. */
    long late() {
        return late.get();
    }

    /** Slots that threw. */
    long errors() {
        return errors.get();
    }

    /** Slots that returned. */
    long done() {
        return done.get();
    }
}
