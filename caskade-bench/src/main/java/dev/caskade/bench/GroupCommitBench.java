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
 * 64 writer threads, each commit durable before it returns: Caskade Durability.SYNC (concurrent commits share an
 * fsync) and, for comparison, RocksDB sync=true (its WAL group commit). Score = durable commits/s over all threads.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@Threads(64)
public class GroupCommitBench extends EngineBench {
    @Param({"caskade", "rocksdb"})
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
    public void groupCommit(Cursor cursor) {
        store.putDurable(workload.key(cursor.nextKey()), cursor.nextValue());
    }
}
