package dev.caskade.bench;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.Set;
import org.lmdbjava.Dbi;
import org.lmdbjava.DbiFlags;
import org.lmdbjava.Env;
import org.lmdbjava.EnvFlags;
import org.lmdbjava.Txn;

/**
 * LMDB through lmdbjava: one write transaction per put ({@code Dbi.put} auto-commit). No-sync rows open the
 * environment with {@code MDB_NOSYNC}; durable rows use LMDB's default flags (fsync on every commit). Gets run in one
 * long-lived read transaction (as lmdbjava's own benchmarks do), which favours LMDB slightly: no per-get txn cost.
 * LMDB rows run with one thread; the methods are synchronized only because the key/value buffers are shared.
 */
final class LmdbEngine implements Engine {
    private static final long MAP_BYTES = 8L << 30;

    private final Env<ByteBuffer> env;
    private final Dbi<ByteBuffer> dbi;
    private final boolean durable;
    private final ByteBuffer keyBuffer = ByteBuffer.allocateDirect(Workload.KEY_BYTES);
    private final ByteBuffer valueBuffer = ByteBuffer.allocateDirect(Workload.VALUE_BYTES);
    private Txn<ByteBuffer> reader;

    private LmdbEngine(Env<ByteBuffer> env, boolean durable) {
        this.env = env;
        this.durable = durable;
        this.dbi = env.openDbi("bench", DbiFlags.MDB_CREATE);
    }

    private static Env<ByteBuffer> env(Path dir, boolean sync) {
        // MDB_NOTLS: JMH may call setup and the benchmark method from different threads
        Set<EnvFlags> flags = EnumSet.of(EnvFlags.MDB_NOTLS);
        if (!sync) flags.add(EnvFlags.MDB_NOSYNC);
        return Env.create().setMapSize(MAP_BYTES).setMaxDbs(1).open(dir.toFile(), flags.toArray(new EnvFlags[0]));
    }

    static LmdbEngine open(Path dir, boolean durable, Workload workload) {
        LmdbEngine loaded = new LmdbEngine(env(dir, false), false);
        loaded.load(workload);
        if (!durable) return loaded;
        // load without per-commit sync, flush once, reopen with LMDB's default (synchronous) commits
        loaded.env.sync(true);
        loaded.close();
        return new LmdbEngine(env(dir, true), true);
    }

    /**
     * One commit per key, as the benchmark writes. Loading in big transactions instead leaves a tightly packed file
     * with no free pages, and later single-put commits ran 2-3x slower on it (measured): that would handicap LMDB.
     */
    private void load(Workload workload) {
        for (int i = 0; i < workload.size(); i++) {
            dbi.put(fill(keyBuffer, workload.key(i)), fill(valueBuffer, Workload.value(i)));
        }
    }

    private static ByteBuffer fill(ByteBuffer buffer, byte[] bytes) {
        buffer.clear();
        buffer.put(bytes).flip();
        return buffer;
    }

    @Override
    public synchronized void put(byte[] key, byte[] value) {
        if (durable) throw new IllegalStateException("opened with synchronous commits");
        endRead();
        dbi.put(fill(keyBuffer, key), fill(valueBuffer, value));
    }

    @Override
    public synchronized void putDurable(byte[] key, byte[] value) {
        if (!durable) throw new IllegalStateException("opened with MDB_NOSYNC");
        endRead();
        dbi.put(fill(keyBuffer, key), fill(valueBuffer, value));
    }

    @Override
    public synchronized byte[] get(byte[] key) {
        if (reader == null) reader = env.txnRead();
        ByteBuffer found = dbi.get(reader, fill(keyBuffer, key));
        if (found == null) return null;
        byte[] out = new byte[found.remaining()];
        found.get(out);
        return out;
    }

    /** An open read txn pins its snapshot, so LMDB could not reuse freed pages: never keep one across writes. */
    private void endRead() {
        if (reader != null) {
            reader.close();
            reader = null;
        }
    }

    @Override
    public synchronized void close() {
        endRead();
        env.close();
    }
}
