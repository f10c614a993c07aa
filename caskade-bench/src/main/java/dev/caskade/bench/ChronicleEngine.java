package dev.caskade.bench;

import java.io.IOException;
import java.nio.file.Path;
import net.openhft.chronicle.map.ChronicleMap;

/**
 * Chronicle Map persisted to a file (memory-mapped, off-heap), sized for the data set with constant 16-byte keys and
 * 100-byte values and {@code putReturnsNull} so a put does not copy out the old value. It has no fsync API, so it
 * appears only in the no-durability rows.
 */
final class ChronicleEngine implements Engine {
    private final ChronicleMap<byte[], byte[]> map;

    private ChronicleEngine(ChronicleMap<byte[], byte[]> map) {
        this.map = map;
    }

    static ChronicleEngine open(Path dir, boolean durable, Workload workload) throws IOException {
        if (durable) throw new UnsupportedOperationException("Chronicle Map has no durable (fsync) mode");
        ChronicleMap<byte[], byte[]> map = ChronicleMap.of(byte[].class, byte[].class)
                .name("caskade-bench")
                .entries(workload.size() + workload.size() / 10)
                .constantKeySizeBySample(new byte[Workload.KEY_BYTES])
                .constantValueSizeBySample(new byte[Workload.VALUE_BYTES])
                .putReturnsNull(true)
                .createPersistedTo(dir.resolve("chronicle.dat").toFile());
        for (int i = 0; i < workload.size(); i++) {
            map.put(workload.key(i), Workload.value(i));
        }
        return new ChronicleEngine(map);
    }

    @Override
    public void put(byte[] key, byte[] value) {
        map.put(key, value);
    }

    @Override
    public void putDurable(byte[] key, byte[] value) {
        throw new UnsupportedOperationException("Chronicle Map has no durable (fsync) mode");
    }

    @Override
    public byte[] get(byte[] key) {
        return map.get(key);
    }

    @Override
    public void close() {
        map.close();
    }
}
