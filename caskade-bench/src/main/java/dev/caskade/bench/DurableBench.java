package dev.caskade.bench;

import java.io.IOException;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;

/**
 * One writer, one fsync per commit: each {@code putDurable} overwrites a random existing key and returns once it is
 * on stable storage (Caskade Durability.SYNC, RocksDB sync=true, LMDB default flags, and the raw append +
 * fdatasync loop as the device limit). Throughput gives commits/s, SampleTime the latency percentiles.
 */
@State(Scope.Benchmark)
@BenchmarkMode({Mode.Throughput, Mode.SampleTime})
@Threads(1)
public class DurableBench extends EngineBench {
    @Param({"raw", "caskade", "rocksdb", "lmdb"})
    public String engine;

    @Setup(Level.Trial)
    public void setup() throws IOException {
        open(engine, true);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        close();
    }

    @Benchmark
    public void putDurable(Cursor cursor) {
        store.putDurable(workload.key(cursor.nextKey()), cursor.nextValue());
    }
}
