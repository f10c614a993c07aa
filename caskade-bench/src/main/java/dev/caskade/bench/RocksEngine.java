package dev.caskade.bench;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;
import org.rocksdb.BlockBasedTableConfig;
import org.rocksdb.BloomFilter;
import org.rocksdb.CompressionType;
import org.rocksdb.FlushOptions;
import org.rocksdb.LRUCache;
import org.rocksdb.Options;
import org.rocksdb.RocksDB;
import org.rocksdb.RocksDBException;
import org.rocksdb.RocksObject;
import org.rocksdb.WriteBatch;
import org.rocksdb.WriteOptions;

/**
 * RocksDB through RocksJava. "default" = {@code new Options().setCreateIfMissing(true)} and nothing else (Snappy
 * compression on, which finds nothing to compress in random values); "tuned" = bloom filter 10 bits/key, 512 MiB LRU
 * block cache, 128 MiB memtable, {@code setIncreaseParallelism(2)}, no compression. WAL on in both; {@code put} writes
 * with {@code sync=false}, {@code putDurable} with {@code sync=true}. After the load the memtable is flushed and the
 * tree fully compacted, so reads see RocksDB's best (compacted) state.
 */
final class RocksEngine implements Engine {
    static {
        RocksDB.loadLibrary();
    }

    private final RocksDB db;
    private final WriteOptions noSync;
    private final WriteOptions sync;
    /** native handles to free after the DB, in reverse order of creation */
    private final List<RocksObject> owned;

    private RocksEngine(RocksDB db, List<RocksObject> owned) {
        this.db = db;
        this.owned = owned;
        this.noSync = track(new WriteOptions().setSync(false));
        this.sync = track(new WriteOptions().setSync(true));
    }

    private WriteOptions track(WriteOptions w) {
        owned.add(w);
        return w;
    }

    static RocksEngine open(Path dir, boolean tuned, Workload workload) {
        return open(dir, tuned, workload.size(), workload::key, Workload::value);
    }

    /** Opens and loads keys {@code key(0) .. key(count - 1)} with {@code value(i)} each (other shapes of data). */
    static RocksEngine open(Path dir, boolean tuned, int count, IntFunction<byte[]> key, IntFunction<byte[]> value) {
        List<RocksObject> owned = new ArrayList<>();
        Options options = new Options().setCreateIfMissing(true);
        owned.add(options);
        if (tuned) {
            LRUCache cache = new LRUCache(512L << 20);
            BloomFilter bloom = new BloomFilter(10);
            owned.add(cache);
            owned.add(bloom);
            options.setTableFormatConfig(
                            new BlockBasedTableConfig().setBlockCache(cache).setFilterPolicy(bloom))
                    .setWriteBufferSize(128L << 20)
                    .setCompressionType(CompressionType.NO_COMPRESSION)
                    .setIncreaseParallelism(2);
        }
        try {
            RocksEngine engine = new RocksEngine(RocksDB.open(options, dir.toString()), owned);
            engine.load(count, key, value);
            return engine;
        } catch (RocksDBException e) {
            throw new IllegalStateException("RocksDB open/load failed: " + e.getMessage(), e);
        }
    }

    private void load(int count, IntFunction<byte[]> key, IntFunction<byte[]> value) throws RocksDBException {
        for (int from = 0; from < count; from += 1_000) {
            try (WriteBatch batch = new WriteBatch()) {
                for (int i = from; i < Math.min(from + 1_000, count); i++) {
                    batch.put(key.apply(i), value.apply(i));
                }
                db.write(noSync, batch);
            }
        }
        try (FlushOptions flush = new FlushOptions().setWaitForFlush(true)) {
            db.flush(flush);
        }
        db.compactRange();
    }

    @Override
    public void put(byte[] key, byte[] value) {
        write(noSync, key, value);
    }

    @Override
    public void putDurable(byte[] key, byte[] value) {
        write(sync, key, value);
    }

    private void write(WriteOptions options, byte[] key, byte[] value) {
        try {
            db.put(options, key, value);
        } catch (RocksDBException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public byte[] get(byte[] key) {
        try {
            return db.get(key);
        } catch (RocksDBException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void close() {
        db.close();
        for (int i = owned.size() - 1; i >= 0; i--) {
            owned.get(i).close();
        }
    }
}
