package dev.caskade.bench;

/**
 * Latencies in nanoseconds, counted in log-linear buckets: exact below 256 ns, then 128 buckets per power of two
 * (every value is within 0.8 % of its bucket's upper bound, which is what percentiles report). Not thread-safe:
 * one per recording thread, merged at the end.
 */
final class LatencyHistogram {
    private static final int LINEAR = 256;
    private static final int HALF = LINEAR / 2;
    private static final int SHIFT_BASE = Integer.numberOfTrailingZeros(HALF); // 7

    private final long[] counts = new long[(64 - SHIFT_BASE) * HALF + LINEAR];
    private long total;
    private long max;
    private long min = Long.MAX_VALUE;
    private double sum;

    void record(long nanos) {
        long v = Math.max(0, nanos);
        counts[index(v)]++;
        total++;
        sum += v;
        if (v > max) max = v;
        if (v < min) min = v;
    }

    void add(LatencyHistogram other) {
        for (int i = 0; i < counts.length; i++) counts[i] += other.counts[i];
        total += other.total;
        sum += other.sum;
        max = Math.max(max, other.max);
        min = Math.min(min, other.min);
    }

    long count() {
        return total;
    }

    long max() {
        return total == 0 ? 0 : max;
    }

    long min() {
        return total == 0 ? 0 : min;
    }

    double mean() {
        return total == 0 ? 0 : sum / total;
    }

    /** The smallest bucket bound at or below which a fraction {@code q} of the values lie (0 < q <= 1). */
    long percentile(double q) {
        if (total == 0) return 0;
        long rank = (long) Math.ceil(q * total);
        long seen = 0;
        for (int i = 0; i < counts.length; i++) {
            seen += counts[i];
            if (seen >= Math.max(1, rank)) return Math.min(upperBound(i), max);
        }
        return max;
    }

    static int index(long v) {
        if (v < LINEAR) return (int) v;
        int shift = 63 - Long.numberOfLeadingZeros(v) - SHIFT_BASE; // v >>> shift lies in [HALF, LINEAR)
        return shift * HALF + (int) (v >>> shift);
    }

    static long upperBound(int index) {
        if (index < LINEAR) return index;
        int shift = index / HALF - 1;
        long mantissa = index - (long) shift * HALF;
        return ((mantissa + 1) << shift) - 1;
    }

    /** Count, p50, p90, p99, p99.9, max and mean, each divided by {@code unit} (1e6: milliseconds, 1e3: µs). */
    java.util.Map<String, Object> summary(double unit) {
        java.util.Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put("count", count());
        m.put("p50", percentile(0.5) / unit);
        m.put("p90", percentile(0.9) / unit);
        m.put("p99", percentile(0.99) / unit);
        m.put("p999", percentile(0.999) / unit);
        m.put("max", max() / unit);
        m.put("mean", mean() / unit);
        return m;
    }
}
