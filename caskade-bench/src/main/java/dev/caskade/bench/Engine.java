package dev.caskade.bench;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * One store under test. Every engine is opened already holding the standard data set (the load is untimed) and in
 * one durability mode: {@link #put} is only valid on an engine opened without durability, {@link #putDurable} only on
 * one opened with it, so a row can never be measured in the wrong mode.
 */
public sealed interface Engine extends AutoCloseable
        permits CaskadeEngine, RocksEngine, LmdbEngine, ChronicleEngine, RawFsyncLog {

    /** Writes (overwrites) a key; returns once the OS has the bytes, nothing is fsynced. */
    void put(byte[] key, byte[] value);

    /** Writes a key as its own commit and returns once it is on stable storage (one fsync per commit). */
    void putDurable(byte[] key, byte[] value);

    /** The value of an existing key (a copy the caller owns), or null when absent. */
    byte[] get(byte[] key);

    @Override
    void close();

    /**
     * Opens engine {@code name} in {@code dir} (created by the caller, empty) and loads {@code workload} into it.
     *
     * @param durable whether the engine will be used with {@link #putDurable} (true) or {@link #put} (false)
     */
    static Engine open(String name, Path dir, boolean durable, Workload workload) throws IOException {
        Engine engine = switch (name) {
            case "caskade" -> CaskadeEngine.open(dir, durable, workload);
            case "rocksdb" -> RocksEngine.open(dir, false, workload);
            case "rocksdb-tuned" -> RocksEngine.open(dir, true, workload);
            case "lmdb" -> LmdbEngine.open(dir, durable, workload);
            case "chronicle" -> ChronicleEngine.open(dir, durable, workload);
            case "raw" -> RawFsyncLog.open(dir, workload);
            default -> throw new IllegalArgumentException("unknown engine: " + name);
        };
        if (!(engine instanceof RawFsyncLog)) {
            verify(name, engine, workload);
        }
        return engine;
    }

    /** Reads back a random sample: a benchmark of a store that lost the load would measure nothing. */
    private static void verify(String name, Engine engine, Workload workload) {
        SplittableRandom random = new SplittableRandom(7);
        for (int n = 0; n < 1_000; n++) {
            int i = random.nextInt(workload.size());
            byte[] got = engine.get(workload.key(i));
            if (!Arrays.equals(got, Workload.value(i))) {
                engine.close();
                throw new IllegalStateException(name + ": key #" + i + " does not read back after the load");
            }
        }
    }
}
