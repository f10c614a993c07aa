package dev.caskade.bench;

import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.Durability;
import dev.caskade.Entry;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Caskade with default options except durability: NONE for put/get rows (or {@code -Dcaskade.bench.durability}, e.g.
 * {@code interval:100} for bin/bench's durability row), SYNC for durable rows.
 */
final class CaskadeEngine implements Engine {
    private static final Durability RELAXED = Durability.parse(System.getProperty("caskade.bench.durability", "none"));

    private final Caskade db;
    private final boolean durable;

    private CaskadeEngine(Caskade db, boolean durable) {
        this.db = db;
        this.durable = durable;
    }

    static CaskadeEngine open(Path dir, boolean durable, Workload workload) {
        CaskadeOptions none = CaskadeOptions.defaults().withDurability(Durability.NONE);
        if (!durable) {
            Caskade db = Caskade.open(dir, CaskadeOptions.defaults().withDurability(RELAXED));
            load(db, workload);
            return new CaskadeEngine(db, false);
        }
        // 1M fsynced puts would take minutes: load without sync, close (fsyncs + hints), reopen in SYNC
        try (Caskade db = Caskade.open(dir, none)) {
            load(db, workload);
        }
        return new CaskadeEngine(Caskade.open(dir, CaskadeOptions.defaults().withDurability(Durability.SYNC)), true);
    }

    private static void load(Caskade db, Workload workload) {
        for (int i = 0; i < workload.size(); i++) {
            db.put(workload.key(i), Workload.value(i));
        }
    }

    @Override
    public void put(byte[] key, byte[] value) {
        if (durable) throw new IllegalStateException("opened with Durability.SYNC");
        db.put(key, value);
    }

    @Override
    public void putDurable(byte[] key, byte[] value) {
        if (!durable) throw new IllegalStateException("opened with Durability.NONE");
        db.put(key, value);
    }

    @Override
    public byte[] get(byte[] key) {
        Optional<Entry> e = db.get(key);
        return e.isPresent() ? e.get().value() : null;
    }

    @Override
    public void close() {
        db.close();
    }
}
