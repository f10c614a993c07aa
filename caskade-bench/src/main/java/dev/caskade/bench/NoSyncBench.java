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
 * One thread, no fsync: {@code put} overwrites a uniformly random existing key with a new random 100-byte value
 * (Caskade Durability.NONE, RocksDB sync=false, LMDB MDB_NOSYNC, Chronicle Map); {@code get} reads a uniformly
 * random existing key. Each (engine, benchmark) pair gets a fresh store preloaded with the 1M-key data set.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@Threads(1)
public class NoSyncBench extends EngineBench {
    @Param({"caskade", "chronicle", "rocksdb", "rocksdb-tuned", "lmdb"})
    public String engine;

    @Setup(Level.Trial)
    public void setup() throws IOException {
        open(engine, false);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        close();
    }

    @Benchmark
    public void put(Cursor cursor) {
        store.put(workload.key(cursor.nextKey()), cursor.nextValue());
    }

    @Benchmark
    public byte[] get(Cursor cursor) {
        return store.get(workload.key(cursor.nextKey()));
    }
}
