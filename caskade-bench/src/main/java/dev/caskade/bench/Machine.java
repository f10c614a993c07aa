package dev.caskade.bench;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/** What the benchmarks record about the machine while they run: CPU used, load, and a few units for reports. */
final class Machine {
    private Machine() {}

    /** CPU time used by this JVM so far. */
    static long processCpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime();
    }

    /** Busy and total jiffies of the whole machine, from the first line of /proc/stat. */
    static long[] cpu() throws IOException {
        String[] f = Files.readAllLines(Path.of("/proc/stat")).get(0).trim().split("\\s+");
        long total = 0;
        for (int i = 1; i < f.length && i <= 8; i++) total += Long.parseLong(f[i]); // user..steal
        long idle = Long.parseLong(f[4]) + Long.parseLong(f[5]); // idle + iowait
        return new long[] {total - idle, total};
    }

    /** How many cores the whole machine kept busy between two {@link #cpu()} readings. */
    static double busyCores(long[] a, long[] b) {
        double share = (b[0] - a[0]) / (double) Math.max(1, b[1] - a[1]);
        return share * Runtime.getRuntime().availableProcessors();
    }

    static String loadavg() throws IOException {
        return Files.readString(Path.of("/proc/loadavg")).trim();
    }

    /** Records when the run started, the machine (cores, JDK, heap) and its load, in a run's JSON. */
    static void describe(java.util.Map<String, Object> json) throws IOException {
        json.put("startedUtc", java.time.Instant.now().toString());
        json.put("cpus", Runtime.getRuntime().availableProcessors());
        json.put("java", System.getProperty("java.vm.version"));
        json.put("maxHeapBytes", Runtime.getRuntime().maxMemory());
        json.put("loadBefore", loadavg());
    }

    /** "1,2,4" as a list of ints. */
    static List<Integer> ints(String csv) {
        return Arrays.stream(csv.split(","))
                .map(String::trim)
                .filter(s -> !s.isEmpty())
                .map(Integer::parseInt)
                .toList();
    }

    /** A size in KiB, or MiB from 10 MiB up. */
    static String bytes(long b) {
        if (Math.abs(b) >= 10L << 20) return String.format(Locale.ROOT, "%.1f MiB", b / 1048576.0);
        return String.format(Locale.ROOT, "%.1f KiB", b / 1024.0);
    }
}
