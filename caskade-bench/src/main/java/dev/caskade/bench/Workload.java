package dev.caskade.bench;

import java.util.SplittableRandom;

/**
 * The data set every engine gets: distinct random 16-byte keys and random (incompressible) 100-byte values,
 * both derived from a fixed seed so every forked JVM and every engine sees the same bytes.
 */
public final class Workload {
    public static final int KEY_BYTES = 16;
    public static final int VALUE_BYTES = 100;
    /** Keys in the standard data set; {@code -Dcaskade.bench.keys} shrinks it for smoke runs. */
    public static final int STANDARD_KEYS = Integer.getInteger("caskade.bench.keys", 1_000_000);

    private static final long SEED = 0x5EEDCA5CADE1L;
    private static final long VALUE_SALT = 0x9E3779B97F4A7C15L;

    private final byte[][] keys;

    private Workload(int size) {
        SplittableRandom random = new SplittableRandom(SEED);
        keys = new byte[size][];
        for (int i = 0; i < size; i++) {
            keys[i] = new byte[KEY_BYTES];
            random.nextBytes(keys[i]);
        }
    }

    /** The standard data set (1M keys unless overridden). */
    public static Workload standard() {
        return new Workload(STANDARD_KEYS);
    }

    public int size() {
        return keys.length;
    }

    /** The i-th key; the same array every call, so callers must not modify it. */
    public byte[] key(int i) {
        return keys[i];
    }

    /** The value preloaded under key i (a fresh array). */
    public static byte[] value(int i) {
        byte[] v = new byte[VALUE_BYTES];
        new SplittableRandom(SEED ^ (i * VALUE_SALT)).nextBytes(v);
        return v;
    }

    /** The i-th key of a data set of any size without keeping the keys in memory (the 10M-key reopen store). */
    public static byte[] streamedKey(SplittableRandom random) {
        byte[] k = new byte[KEY_BYTES];
        random.nextBytes(k);
        return k;
    }

    /** A random generator for {@link #streamedKey}: the same seed as the standard set. */
    public static SplittableRandom keyStream() {
        return new SplittableRandom(SEED);
    }
}
