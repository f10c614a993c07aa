package dev.caskade.bench;

import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/** Per benchmark thread: picks uniformly random existing keys and new random 100-byte values for overwrites. */
@State(Scope.Thread)
public class Cursor {
    private static final AtomicLong SEEDS = new AtomicLong(1);
    private static final int VALUES = 1_024;

    private SplittableRandom random;
    private byte[][] values;
    private int bound;

    @Setup(Level.Trial)
    public void setup() {
        random = new SplittableRandom(SEEDS.getAndIncrement() * 0x9E3779B97F4A7C15L);
        values = new byte[VALUES][Workload.VALUE_BYTES];
        for (byte[] v : values) random.nextBytes(v);
        bound = Workload.STANDARD_KEYS;
    }

    /** Index of a uniformly random key of the standard data set. */
    int nextKey() {
        return random.nextInt(bound);
    }

    /** A random value from this thread's pool (values are never modified after setup). */
    byte[] nextValue() {
        return values[random.nextInt(VALUES)];
    }
}
