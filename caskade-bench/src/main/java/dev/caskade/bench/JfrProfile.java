package dev.caskade.bench;

import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BiConsumer;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordedFrame;
import jdk.jfr.consumer.RecordedThread;
import jdk.jfr.consumer.RecordingFile;

/**
 * Where a recorded server spent its CPU: the share of CPU-time samples per thread kind and, inclusively, per
 * method (a method counts once per sample whose stack holds it). Falls back to execution samples when the
 * recording has no CPU-time samples.
 */
final class JfrProfile {
    private JfrProfile() {}

    /** Prints the summary through {@code out} (a format and its arguments) and returns it. */
    static Map<String, Object> summarize(Path file, BiConsumer<String, Object[]> out) throws IOException {
        List<RecordedEvent> events = RecordingFile.readAllEvents(file);
        String type = events.stream().anyMatch(e -> e.getEventType().getName().equals("jdk.CPUTimeSample"))
                ? "jdk.CPUTimeSample"
                : "jdk.ExecutionSample";
        Map<String, Integer> threads = new HashMap<>();
        Map<String, Integer> inclusive = new HashMap<>();
        int samples = 0;
        for (RecordedEvent e : events) {
            if (!e.getEventType().getName().equals(type) || e.getStackTrace() == null) continue;
            samples++;
            RecordedThread t = e.hasField("sampledThread") ? e.getThread("sampledThread") : e.getThread();
            String name = t == null ? "?" : String.valueOf(t.getJavaName());
            threads.merge(name.replaceAll("[-#]?\\d+", "-N"), 1, Integer::sum);
            Set<String> seen = new HashSet<>();
            for (RecordedFrame f : e.getStackTrace().getFrames()) {
                String m =
                        f.getMethod().getType().getName() + "." + f.getMethod().getName();
                if (seen.add(m)) inclusive.merge(m, 1, Integer::sum);
            }
        }
        int n = Math.max(1, samples);
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("event", type);
        result.put("samples", samples);
        out.accept("  %,d %s events; share of samples by thread:", new Object[] {samples, type});
        Map<String, Double> byThread = new LinkedHashMap<>();
        threads.entrySet().stream()
                .sorted(Map.Entry.<String, Integer>comparingByValue().reversed())
                .limit(10)
                .forEach(e -> {
                    out.accept("    %5.1f %%  %s", new Object[] {e.getValue() * 100.0 / n, e.getKey()});
                    byThread.put(e.getKey(), e.getValue() * 100.0 / n);
                });
        result.put("threadsPercent", byThread);
        out.accept("  inclusive share by method (top 45; thread-entry frames left out):", new Object[0]);
        Map<String, Double> byMethod = new LinkedHashMap<>();
        inclusive.entrySet().stream()
                .filter(e -> !e.getKey().startsWith("java.lang.Thread.")
                        && !e.getKey().startsWith("jdk.internal.vm.Continuation.")
                        && !e.getKey().startsWith("java.lang.VirtualThread$VThreadContinuation")
                        && !e.getKey().startsWith("io.netty.util.internal.ThreadExecutorMap")
                        && !e.getKey().startsWith("io.netty.util.concurrent.FastThreadLocalRunnable")
                        && !e.getKey().contains("$$Lambda"))
                .sorted(Map.Entry.<String, Integer>comparingByValue().reversed())
                .limit(45)
                .forEach(e -> {
                    out.accept("    %5.1f %%  %s", new Object[] {e.getValue() * 100.0 / n, e.getKey()});
                    byMethod.put(e.getKey(), e.getValue() * 100.0 / n);
                });
        result.put("inclusivePercent", byMethod);
        return result;
    }
}
