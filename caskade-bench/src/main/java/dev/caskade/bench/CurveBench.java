package dev.caskade.bench;

import dev.caskade.Batch;
import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.Durability;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import org.rocksdb.RocksDB;

/**
 * How cost grows (issue 8): throughput and latency percentiles of random puts (no fsync) and random gets against
 * value size, key count and client threads, for Caskade ({@code Durability.NONE}) and RocksDB (default options,
 * {@code sync=false}), in one JVM. Each store is loaded once (untimed); then the repetitions run, alternating the
 * engines inside each repetition so machine drift hits both. Plain timed loops, not JMH: a point is a short window
 * ({@code curve.seconds}) after a shorter warm-up, every operation timed into a {@link LatencyHistogram}.
 *
 * <ul>
 *   <li>{@code values}: 1 client, value sizes {@code curve.values}; keys per store {@code min(curve.valueKeys,
 *       curve.valueBudget / size)} so the biggest values still fit a small store.
 *   <li>{@code clients}: {@code curve.clientKeys} keys of 100 bytes, {@code curve.clients} threads.
 *   <li>{@code keys}: Caskade only (a 10M-key RocksDB load alone takes a minute here), 1 client, 100-byte values,
 *       key counts {@code curve.keys}.
 * </ul>
 *
 * Writes {@code <out>.json} (every point of every repetition) and {@code <out>.txt}.
 */
public final class CurveBench {
    private static final int KEY_BYTES = 16;
    private static final int VALUE_POOL = 64;

    private final double seconds = Double.parseDouble(System.getProperty("curve.seconds", "1"));
    private final double warmup = Double.parseDouble(System.getProperty("curve.warmup", "0.3"));
    private final int reps = Integer.getInteger("curve.reps", 3);
    private final List<String> engines =
            List.of(System.getProperty("curve.engines", "caskade,rocksdb").split(","));
    private final List<Object> points = new ArrayList<>();
    private final StringBuilder text = new StringBuilder();

    private CurveBench() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: CurveBench <results path without extension> (writes .txt and .json)");
            System.exit(2);
        }
        RocksDB.loadLibrary();
        new CurveBench().run(Path.of(args[0]));
        System.exit(0); // background threads of the stores' libraries must not hold the JVM
    }

    private void run(Path out) throws Exception {
        String parts = System.getProperty("curve.parts", "values,clients,keys");
        Map<String, Object> json = new LinkedHashMap<>();
        Machine.describe(json);
        Map<String, Object> settings = new LinkedHashMap<>();
        for (String p : System.getProperties().stringPropertyNames()) {
            if (p.startsWith("curve.")) settings.put(p, System.getProperty(p));
        }
        settings.put("seconds", seconds);
        settings.put("warmup", warmup);
        settings.put("reps", reps);
        settings.put("engines", engines);
        json.put("settings", settings);
        line("# CurveBench %s; reps %d, %.1f s per point after %.1f s warm-up", parts, reps, seconds, warmup);
        if (parts.contains("values")) values();
        if (parts.contains("clients")) clients();
        if (parts.contains("keys")) keys();
        json.put("points", points);
        json.put("loadAfter", Machine.loadavg());
        Files.createDirectories(out.toAbsolutePath().getParent());
        Files.writeString(Path.of(out + ".json"), Json.write(json) + "\n");
        Files.writeString(Path.of(out + ".txt"), text);
        System.out.println("curve: results in " + out + ".txt and .json");
    }

    private void values() throws Exception {
        long budget = Long.getLong("curve.valueBudget", 256L << 20);
        int maxKeys = Integer.getInteger("curve.valueKeys", 100_000);
        for (int size : Machine.ints(System.getProperty("curve.values", "16,256,4096,65536"))) {
            int keys = (int) Math.max(1_000, Math.min(maxKeys, budget / size));
            measure("values", engines, keys, size, List.of(1));
        }
    }

    private void clients() throws Exception {
        int keys = Integer.getInteger("curve.clientKeys", 1_000_000);
        measure("clients", engines, keys, 100, Machine.ints(System.getProperty("curve.clients", "1,4,16,64")));
    }

    private void keys() throws Exception {
        for (int keys : Machine.ints(System.getProperty("curve.keys", "1000000,10000000"))) {
            measure("keys", List.of("caskade"), keys, 100, List.of(1));
        }
    }

    /** Loads one store per engine, then runs every repetition over all engines and client counts, alternating. */
    private void measure(String curve, List<String> names, int keys, int valueBytes, List<Integer> clients)
            throws Exception {
        List<Store> stores = new ArrayList<>();
        try {
            for (String name : names) {
                long t0 = System.nanoTime();
                stores.add(Store.open(name, BenchDir.create("curve-" + name), keys, valueBytes));
                line(
                        "%s: loaded %s with %,d keys x %,d B in %.1f s",
                        curve, name, keys, valueBytes, (System.nanoTime() - t0) / 1e9);
            }
            for (int rep = 1; rep <= reps; rep++) {
                for (Store store : stores) {
                    for (int c : clients) {
                        for (String op : List.of("get", "put")) {
                            Map<String, Object> p = window(store, op, c, keys, valueBytes);
                            p.put("curve", curve);
                            p.put("rep", rep);
                            points.add(p);
                            line(
                                    "%s rep %d %-8s %s %2d clients %,9d keys %,6d B: %,10.0f ops/s  p50 %7.1f us"
                                            + "  p99 %8.1f us",
                                    curve,
                                    rep,
                                    store.name(),
                                    op,
                                    c,
                                    keys,
                                    valueBytes,
                                    p.get("opsPerSec"),
                                    p.get("p50Us"),
                                    p.get("p99Us"));
                        }
                    }
                }
            }
        } finally {
            for (Store s : stores) s.close();
        }
    }

    /** One point: {@code clients} threads doing {@code op} on random existing keys for the window. */
    private Map<String, Object> window(Store store, String op, int clients, int keys, int valueBytes) throws Exception {
        long start = System.nanoTime() + (long) (warmup * 1e9) + 20_000_000L; // threads started by then
        long end = start + (long) (seconds * 1e9);
        List<LatencyHistogram> histograms = new ArrayList<>();
        List<Thread> threads = new ArrayList<>();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        CountDownLatch done = new CountDownLatch(clients);
        for (int t = 0; t < clients; t++) {
            LatencyHistogram h = new LatencyHistogram();
            histograms.add(h);
            long seed = 31L * t + keys + valueBytes;
            threads.add(Thread.ofPlatform().daemon().start(() -> {
                try {
                    SplittableRandom random = new SplittableRandom(seed);
                    byte[][] pool = values(random, valueBytes);
                    byte[] key = new byte[KEY_BYTES];
                    boolean put = op.equals("put");
                    for (long n = 0; ; n++) {
                        key(random.nextInt(keys), key);
                        long t0 = System.nanoTime();
                        if (t0 >= end) break;
                        if (put) store.put(key, pool[(int) (n % VALUE_POOL)]);
                        else if (store.get(key) == null) throw new IllegalStateException("a loaded key is missing");
                        if (t0 >= start) h.record(System.nanoTime() - t0);
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                } finally {
                    done.countDown();
                }
            }));
        }
        done.await();
        for (Thread t : threads) t.join();
        if (failure.get() != null) throw new IllegalStateException(store.name() + " " + op, failure.get());
        LatencyHistogram all = new LatencyHistogram();
        histograms.forEach(all::add);
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("engine", store.name());
        p.put("op", op);
        p.put("clients", clients);
        p.put("keys", keys);
        p.put("valueBytes", valueBytes);
        p.put("opsPerSec", all.count() / seconds);
        p.put("p50Us", all.percentile(0.5) / 1e3);
        p.put("p99Us", all.percentile(0.99) / 1e3);
        p.put("p999Us", all.percentile(0.999) / 1e3);
        p.put("count", all.count());
        return p;
    }

    private static byte[][] values(SplittableRandom random, int size) {
        byte[][] pool = new byte[VALUE_POOL][size];
        for (byte[] v : pool) random.nextBytes(v);
        return pool;
    }

    /** Key i of any store: 16 pseudo-random bytes computed from i, so a 10M-key set needs no array of keys. */
    static void key(int i, byte[] into) {
        long a = mix(i);
        long b = mix(a ^ i);
        for (int j = 0; j < 8; j++) {
            into[j] = (byte) (a >>> (8 * j));
            into[8 + j] = (byte) (b >>> (8 * j));
        }
    }

    private static long mix(long z) {
        z = (z + 0x9E3779B97F4A7C15L) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    private void line(String format, Object... args) {
        String s = String.format(java.util.Locale.ROOT, format, args);
        System.out.println(s);
        text.append(s).append('\n');
    }

    /** A store under a curve: Caskade (NONE) or RocksDB (default options, sync=false), already loaded. */
    sealed interface Store extends AutoCloseable {
        String name();

        void put(byte[] key, byte[] value);

        byte[] get(byte[] key);

        @Override
        void close();

        static Store open(String name, Path dir, int keys, int valueBytes) throws Exception {
            SplittableRandom random = new SplittableRandom(keys);
            byte[][] pool = values(random, valueBytes);
            return switch (name) {
                case "caskade" -> {
                    Caskade db = Caskade.open(dir, CaskadeOptions.defaults().withDurability(Durability.NONE));
                    Batch batch = Batch.create();
                    for (int i = 0; i < keys; i++) {
                        byte[] k = new byte[KEY_BYTES];
                        key(i, k);
                        batch.put(k, pool[i % VALUE_POOL]);
                        if (batch.size() == 1_000 || i == keys - 1) {
                            db.commit(batch);
                            batch = Batch.create();
                        }
                    }
                    yield new CaskadeStore(db, dir);
                }
                case "rocksdb" -> {
                    // default options, loaded in batches of 1,000, then flushed and compacted: a settled store
                    RocksEngine db = RocksEngine.open(
                            dir,
                            false,
                            keys,
                            i -> {
                                byte[] k = new byte[KEY_BYTES];
                                key(i, k);
                                return k;
                            },
                            i -> pool[i % VALUE_POOL]);
                    yield new RocksStore(db, dir);
                }
                default -> throw new IllegalArgumentException("unknown engine " + name);
            };
        }
    }

    record CaskadeStore(Caskade db, Path dir) implements Store {
        @Override
        public String name() {
            return "caskade";
        }

        @Override
        public void put(byte[] key, byte[] value) {
            db.put(key, value);
        }

        @Override
        public byte[] get(byte[] key) {
            return db.get(key).map(e -> e.value()).orElse(null);
        }

        @Override
        public void close() {
            try {
                db.close();
            } finally {
                BenchDir.delete(dir);
            }
        }
    }

    record RocksStore(RocksEngine db, Path dir) implements Store {
        @Override
        public String name() {
            return "rocksdb";
        }

        @Override
        public void put(byte[] key, byte[] value) {
            db.put(key, value); // sync=false
        }

        @Override
        public byte[] get(byte[] key) {
            return db.get(key);
        }

        @Override
        public void close() {
            try {
                db.close();
            } finally {
                BenchDir.delete(dir);
            }
        }
    }
}
