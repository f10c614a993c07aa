package dev.caskade.bench;

import dev.caskade.Batch;
import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.Durability;
import dev.caskade.Recovery;
import dev.caskade.Stats;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;

/**
 * Measurements JMH is the wrong tool for: how long {@code Caskade.open} takes on a store of 1M and 10M keys with hint
 * files, and how much heap the key directory holds per key.
 *
 * <p>{@code suite <out.json> [bigKeys]} builds each store in a child JVM (16-byte keys, 100-byte values,
 * Durability.NONE, commits of 1,000 puts, then close, which writes the hint files), then opens it 3 times with a warm
 * page cache and 3 times after {@code sync; echo 3 > /proc/sys/vm/drop_caches} (when the kernel lets us; fewer, at
 * least one, once a case's opens passed 2 minutes in total), each time in a fresh JVM so the
 * heap holds nothing else: the time is that of the {@code open} call alone (JVM start excluded, JIT cold as after a
 * restart), and the heap figure is used heap after a full GC with the store open minus the same before it.
 */
public final class ReopenBench {
    private static final String RESULT = "RESULT ";
    /** Opens per case; bin/bench --quick makes it 1. */
    private static final int OPENS = Integer.getInteger("reopen.opens", 3);

    private static final int BUILD_BATCH = 1_000;
    /** Opens of one case stop early (after at least one) once they have taken this long in total. */
    private static final long OPEN_BUDGET_MS = 120_000;

    private ReopenBench() {}

    public static void main(String[] args) throws Exception {
        if (args.length == 0) {
            System.err.println("usage: ReopenBench suite <out.json> [bigKeys] | build <dir> <keys> | open <dir>");
            System.exit(2);
        }
        switch (args[0]) {
            case "suite" -> suite(Path.of(args[1]), args.length > 2 ? Integer.parseInt(args[2]) : 10_000_000);
            case "build" -> print(build(Path.of(args[1]), Integer.parseInt(args[2])));
            case "open" -> print(open(Path.of(args[1])));
            default -> throw new IllegalArgumentException("unknown command " + args[0]);
        }
    }

    // ---- child commands ----

    static Map<String, Object> build(Path dir, int keys) throws IOException {
        Files.createDirectories(dir);
        SplittableRandom keyStream = Workload.keyStream();
        long start = System.nanoTime();
        long closeStart;
        try (Caskade db = Caskade.open(dir, CaskadeOptions.defaults().withDurability(Durability.NONE))) {
            // batches only to keep the 10M build short; the log and hints hold the same entries either way
            Batch batch = Batch.create();
            for (int i = 0; i < keys; i++) {
                batch.put(Workload.streamedKey(keyStream), Workload.value(i));
                if (batch.size() == BUILD_BATCH || i == keys - 1) {
                    db.commit(batch);
                    batch.clear();
                }
            }
            closeStart = System.nanoTime();
        }
        long end = System.nanoTime();
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("keys", keys);
        out.put("putsPerSecond", Math.round(keys / ((closeStart - start) / 1e9)));
        out.put("buildMs", ms(end - start));
        out.put("closeMs", ms(end - closeStart));
        out.putAll(files(dir));
        return out;
    }

    static Map<String, Object> open(Path dir) {
        long before = usedHeapAfterGc();
        long start = System.nanoTime();
        Caskade db = Caskade.open(dir, CaskadeOptions.defaults());
        long openNanos = System.nanoTime() - start;
        try (db) {
            Stats stats = db.stats();
            Recovery recovery = db.recovery();
            long after = usedHeapAfterGc();
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("openMs", ms(openNanos));
            out.put("keys", stats.keys());
            out.put("keyDirBytes", stats.keyDirBytes());
            out.put("heapDeltaBytes", after - before);
            out.put("hintFallbacks", recovery.hintFallbacks());
            out.put("truncatedBytes", recovery.truncatedBytes());
            out.put("segments", stats.segments());
            out.put("diskBytes", stats.diskBytes());
            return out;
        }
    }

    private static long usedHeapAfterGc() {
        for (int i = 0; i < 3; i++) {
            System.gc();
        }
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }

    private static Map<String, Object> files(Path dir) throws IOException {
        long segBytes = 0, hintBytes = 0;
        int segs = 0, hints = 0;
        try (Stream<Path> list = Files.list(dir)) {
            for (Path p : list.toList()) {
                String name = p.getFileName().toString();
                if (name.endsWith(".seg")) {
                    segs++;
                    segBytes += Files.size(p);
                } else if (name.endsWith(".hint")) {
                    hints++;
                    hintBytes += Files.size(p);
                }
            }
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("segmentFiles", segs);
        out.put("segmentBytes", segBytes);
        out.put("hintFiles", hints);
        out.put("hintBytes", hintBytes);
        return out;
    }

    private static void print(Map<String, Object> result) {
        StringBuilder line = new StringBuilder(RESULT);
        result.forEach((k, v) -> line.append(k).append('=').append(v).append(' '));
        System.out.println(line.toString().trim());
    }

    // ---- the suite (parent) ----

    static void suite(Path out, int bigKeys) throws Exception {
        Path root = BenchDir.create("reopen");
        String dropCaches = dropCaches();
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("benchmark", "reopen");
        doc.put("childJvm", String.join(" ", childJvmArgs()));
        doc.put("dropCaches", dropCaches);
        doc.put("opensPerCase", OPENS);
        doc.put("openBudgetMsPerCase", OPEN_BUDGET_MS);
        doc.put("buildBatch", BUILD_BATCH);
        List<Object> stores = new ArrayList<>();
        try {
            int small = Math.min(1_000_000, bigKeys);
            for (int keys : small == bigKeys ? new int[] {bigKeys} : new int[] {small, bigKeys}) {
                Path dir = root.resolve("store-" + keys);
                System.out.printf(Locale.ROOT, "reopen: building %,d keys in %s%n", keys, dir);
                Map<String, String> built = child("build", dir.toString(), Integer.toString(keys));
                System.out.println("reopen:   " + built);
                List<Map<String, String>> warm = new ArrayList<>();
                List<Map<String, String>> cold = new ArrayList<>();
                for (int i = 0; i < OPENS && spent(warm) < OPEN_BUDGET_MS; i++) {
                    warm.add(child("open", dir.toString()));
                    System.out.println("reopen:   warm " + warm.getLast());
                }
                for (int i = 0; dropCaches.equals("ok") && i < OPENS && spent(cold) < OPEN_BUDGET_MS; i++) {
                    dropCaches();
                    cold.add(child("open", dir.toString()));
                    System.out.println("reopen:   cold " + cold.getLast());
                }
                stores.add(summary(keys, built, warm, cold));
                BenchDir.delete(dir);
            }
        } finally {
            BenchDir.delete(root);
        }
        doc.put("stores", stores);
        Files.createDirectories(out.toAbsolutePath().getParent());
        Files.writeString(out, Json.write(doc) + "\n");
        System.out.println("reopen: wrote " + out);
    }

    private static long spent(List<Map<String, String>> opens) {
        return column(opens, "openMs").stream().mapToLong(Long::longValue).sum();
    }

    private static Map<String, Object> summary(
            int keys, Map<String, String> built, List<Map<String, String>> warm, List<Map<String, String>> cold) {
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("keys", keys);
        Map<String, Object> build = new LinkedHashMap<>();
        built.forEach((k, v) -> build.put(k, Long.parseLong(v)));
        s.put("build", build);
        s.put("warmOpenMs", column(warm, "openMs"));
        s.put("warmOpenMsMedian", median(column(warm, "openMs")));
        s.put("coldOpenMs", column(cold, "openMs"));
        s.put("coldOpenMsMedian", cold.isEmpty() ? null : median(column(cold, "openMs")));
        long keyDirBytes = median(column(warm, "keyDirBytes"));
        long heapDelta = median(column(warm, "heapDeltaBytes"));
        s.put("keysAfterOpen", median(column(warm, "keys")));
        s.put("hintFallbacks", column(warm, "hintFallbacks"));
        s.put("keyDirBytes", keyDirBytes);
        s.put("keyDirBytesPerKeyBeyondKey", perKeyBeyondKey(keyDirBytes, keys));
        s.put("heapDeltaBytes", column(warm, "heapDeltaBytes"));
        s.put("heapDeltaBytesMedian", heapDelta);
        s.put("heapBytesPerKeyBeyondKey", perKeyBeyondKey(heapDelta, keys));
        return s;
    }

    private static double perKeyBeyondKey(long bytes, int keys) {
        return Math.round(((double) bytes / keys - Workload.KEY_BYTES) * 10) / 10.0;
    }

    private static List<Long> column(List<Map<String, String>> rows, String key) {
        return rows.stream().map(r -> Long.parseLong(r.get(key))).toList();
    }

    private static long median(List<Long> values) {
        long[] sorted = values.stream().mapToLong(Long::longValue).sorted().toArray();
        return sorted[sorted.length / 2];
    }

    /** "ok", or why page-cache dropping is not possible here (then only warm opens are measured). */
    private static String dropCaches() {
        try {
            new ProcessBuilder("sync").inheritIO().start().waitFor();
            Files.writeString(Path.of("/proc/sys/vm/drop_caches"), "3");
            return "ok";
        } catch (IOException | RuntimeException e) {
            return "unavailable: " + e;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "interrupted";
        }
    }

    private static List<String> childJvmArgs() {
        return List.of(
                "-Xms8g",
                "-Xmx8g",
                "-XX:+UseG1GC",
                "--enable-native-access=ALL-UNNAMED",
                "--sun-misc-unsafe-memory-access=allow");
    }

    private static Map<String, String> child(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(childJvmArgs());
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(ReopenBench.class.getName());
        cmd.addAll(Arrays.asList(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        Map<String, String> result = null;
        StringBuilder log = new StringBuilder();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
                if (line.startsWith(RESULT)) {
                    result = new LinkedHashMap<>();
                    for (String kv : line.substring(RESULT.length()).split(" ")) {
                        int eq = kv.indexOf('=');
                        result.put(kv.substring(0, eq), kv.substring(eq + 1));
                    }
                } else {
                    log.append(line).append('\n');
                }
            }
        }
        int exit = p.waitFor();
        if (exit != 0 || result == null) {
            throw new IllegalStateException("child " + String.join(" ", args) + " failed (exit " + exit + "):\n" + log);
        }
        return result;
    }

    private static long ms(long nanos) {
        return Math.round(nanos / 1e6);
    }
}
