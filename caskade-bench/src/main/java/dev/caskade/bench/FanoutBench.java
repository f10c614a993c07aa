package dev.caskade.bench;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;

/**
 * Watch fan-out of {@code bin/caskade serve}: many Server-Sent Events subscribers on one prefix while one client
 * commits at a fixed rate, and the server memory that an idle subscriber costs. Run by {@code bench/fanout.sh}.
 *
 * <p><b>Latency.</b> The server runs as its own process. {@link SseSubscribers} opens the subscribers to {@code GET
 * /v1/watch?prefix=fan/} from this process; then one writer thread sends {@code SET fan/kI @<seq>#...} over the
 * Redis protocol, paced to the rate, one at a time, noting {@code System.nanoTime()} just before each send. A
 * subscriber that receives commit {@code seq} records now minus that send time. This is send-to-delivery: it
 * includes the SET's own trip to the server and its commit, so it bounds commit-to-delivery from above; the SET
 * round trip is reported next to it. Both clocks are this process's. The first seconds are warm-up (delivered
 * and checked, not timed). Every subscriber must see every commit once and in order; what it did not is reported
 * as missing.
 *
 * <p><b>Memory.</b> A fresh server with native memory tracking: live heap after a full GC ({@code jcmd
 * GC.class_histogram}), committed native memory other than the heap ({@code jcmd VM.native_memory}) and RSS, with
 * 0 idle subscribers and then with each count of {@code fanout.idle}; the difference divided by the count is the
 * cost of one idle subscriber. The classes that grew are listed. Kernel socket buffers are in none of these.
 *
 * <p>Settings (system properties): {@code fanout.root} (the checkout, default the working directory), {@code
 * fanout.data} (scratch directory), {@code fanout.subscribers} (1000), {@code fanout.rate} (1000 commits/s),
 * {@code fanout.seconds} (30), {@code fanout.warmup} (5), {@code fanout.durability} (none), {@code fanout.idle}
 * (1000,5000), {@code fanout.extra} (more, shorter latency runs as SUBSCRIBERSxRATE, default
 * 1x1000,100x1000,1000x100,1000x10), {@code fanout.extraSeconds} (10), {@code fanout.clientThreads} (1), {@code
 * fanout.valueBytes} (64), {@code fanout.jfr} (true: profile the server during the main run), {@code
 * fanout.parts} (memory,latency,floor).
 *
 * <p><b>Floor.</b> The same latency runs against {@link BroadcastFloor}, the cheapest server of the same bytes,
 * which shows what this machine and this client cost by themselves.
 */
public final class FanoutBench {
    private static final String PREFIX = "fan/";

    private final Path root;
    private final Path scratch;
    private final StringBuilder text = new StringBuilder();
    private final Map<String, Object> json = new LinkedHashMap<>();

    private FanoutBench(Path root, Path scratch) {
        this.root = root;
        this.scratch = scratch;
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: FanoutBench <results path without extension> (writes .txt and .json)");
            System.exit(2);
        }
        Path out = Path.of(args[0]);
        Path root =
                Path.of(System.getProperty("fanout.root", ".")).toAbsolutePath().normalize();
        Path scratch = Path.of(System.getProperty(
                "fanout.data", root.resolve("caskade-bench/target/fanout").toString()));
        FanoutBench bench = new FanoutBench(root, scratch);
        bench.run(out);
    }

    private void run(Path out) throws Exception {
        int subscribers = Integer.getInteger("fanout.subscribers", 1000);
        int rate = Integer.getInteger("fanout.rate", 1000);
        int seconds = Integer.getInteger("fanout.seconds", 30);
        int warmup = Integer.getInteger("fanout.warmup", 5);
        String durability = System.getProperty("fanout.durability", "none");
        String parts = System.getProperty("fanout.parts", "memory,latency,floor");
        boolean jfr = Boolean.parseBoolean(System.getProperty("fanout.jfr", "true"));
        line(
                "# Watch fan-out, %s; %d cpus; %s",
                Instant.now(), Runtime.getRuntime().availableProcessors(), System.getProperty("java.vm.version"));
        line("# load before: %s", Files.readString(Path.of("/proc/loadavg")).trim());
        json.put("startedUtc", Instant.now().toString());
        json.put("cpus", Runtime.getRuntime().availableProcessors());
        json.put("durability", durability);
        BenchDir.delete(scratch);

        if (parts.contains("memory")) {
            List<Integer> counts = new ArrayList<>();
            for (String c : System.getProperty("fanout.idle", "1000,5000").split(","))
                counts.add(Integer.parseInt(c.trim()));
            json.put("memory", memory(counts, durability));
        }
        String extra = System.getProperty("fanout.extra", "1x1000,100x1000,1000x100,1000x10");
        int extraSeconds = Integer.getInteger("fanout.extraSeconds", 10);
        for (String part : List.of("latency", "floor")) {
            if (!parts.contains(part)) continue;
            boolean floor = part.equals("floor");
            List<Object> runs = new ArrayList<>();
            runs.add(
                    latency(floor, "main", subscribers, rate, warmup, seconds, durability, jfr && !floor ? out : null));
            for (String e : extra.split(",")) {
                if (e.isBlank()) continue;
                String[] nr = e.trim().split("x");
                runs.add(latency(
                        floor,
                        e.trim(),
                        Integer.parseInt(nr[0]),
                        Integer.parseInt(nr[1]),
                        Math.min(warmup, 3),
                        extraSeconds,
                        durability,
                        null));
            }
            json.put(part, runs);
        }
        line("# load after: %s", Files.readString(Path.of("/proc/loadavg")).trim());
        Files.createDirectories(out.toAbsolutePath().getParent());
        Files.writeString(Path.of(out + ".txt"), text);
        Files.writeString(Path.of(out + ".json"), Json.write(json) + "\n");
        System.out.println("fanout: results in " + out + ".txt and .json");
        BenchDir.delete(scratch);
    }

    // ---- memory per idle subscriber

    private Map<String, Object> memory(List<Integer> counts, String durability) throws Exception {
        line("");
        line("## Memory per idle subscriber (server with -XX:NativeMemoryTracking=summary, durability %s)", durability);
        Map<String, Object> result = new LinkedHashMap<>();
        try (ServerProcess server = ServerProcess.start(
                        root, scratch.resolve("memory"), durability, "-XX:NativeMemoryTracking=summary");
                SseSubscribers subs = subscribers(server, 1)) {
            // load every class and JIT the paths once, so the baseline is not missing them
            subs.open(50, 50, 30_000);
            try (RespWriter w = RespWriter.connect(server.respPort, 64)) {
                for (int i = 0; i < 200; i++) w.set(i);
            }
            awaitDelivered(subs, 50L * 200, 10_000);
            subs.closeAll();
            awaitNoWatches(server);
            Thread.sleep(1_000);
            Snapshot base = Snapshot.of(server);
            double idleCpu0 = idleCpu(server);
            line(
                    "0 subscribers: live heap %s, native (non-heap) %s, RSS %s, threads %d, idle CPU %.1f %% of a core",
                    Machine.bytes(base.heapTotal()),
                    Machine.bytes(base.nativeNonHeap()),
                    Machine.bytes(base.rss),
                    base.threads,
                    idleCpu0 * 100);
            result.put("baseline", base.toMap(idleCpu0));
            List<Object> rows = new ArrayList<>();
            Snapshot first = null;
            for (int n : counts) {
                subs.open(n - subs.size(), 200, 60_000);
                Thread.sleep(3_000);
                Snapshot s = Snapshot.of(server);
                if (first == null) first = s;
                double cpu = idleCpu(server);
                long heapPer = (s.heapTotal() - base.heapTotal()) / n;
                long nativePer = (s.nativeNonHeap() - base.nativeNonHeap()) / n;
                long rssPer = (s.rss - base.rss) / n;
                line(
                        "%d subscribers: live heap %s (+%,d B each), native (non-heap) %s (+%,d B each), RSS %s (+%,d B each),"
                                + " threads %d, idle CPU %.1f %% of a core",
                        n,
                        Machine.bytes(s.heapTotal()),
                        heapPer,
                        Machine.bytes(s.nativeNonHeap()),
                        nativePer,
                        Machine.bytes(s.rss),
                        rssPer,
                        s.threads,
                        cpu * 100);
                Map<String, Object> row = s.toMap(cpu);
                row.put("subscribers", n);
                row.put("heapBytesPerSubscriber", heapPer);
                row.put("nativeBytesPerSubscriber", nativePer);
                row.put("rssBytesPerSubscriber", rssPer);
                row.put("heapPlusNativePerSubscriber", heapPer + nativePer);
                rows.add(row);
            }
            result.put("idle", rows);
            if (first != null) {
                int n = counts.get(0);
                line("");
                line("Heap growth by class with %d idle subscribers (bytes per subscriber):", n);
                List<Object> classes = new ArrayList<>();
                first.heap.entrySet().stream()
                        .filter(e -> !e.getKey().equals("(total)"))
                        .map(e -> Map.entry(e.getKey(), e.getValue() - base.heap.getOrDefault(e.getKey(), 0L)))
                        .sorted(Map.Entry.<String, Long>comparingByValue(Comparator.reverseOrder()))
                        .limit(15)
                        .forEach(e -> {
                            line("  %,10.0f  %s", e.getValue() / (double) n, e.getKey());
                            classes.add(Map.of("class", e.getKey(), "bytesPerSubscriber", e.getValue() / (double) n));
                        });
                result.put("heapGrowthByClass", classes);
                line(
                        "Native growth by NMT category with %d idle subscribers (bytes per subscriber; * = left out of the"
                                + " native figure above as JIT/class-loading noise):",
                        n);
                Map<String, Object> nat = new LinkedHashMap<>();
                Snapshot f = first;
                f.nativeMemory.forEach((k, v) -> {
                    long d = v - base.nativeMemory.getOrDefault(k, 0L);
                    if (!k.equals("Java Heap") && Math.abs(d) >= 64L * n) {
                        line("  %,10.0f  %s%s", d / (double) n, k, NOT_PER_SUBSCRIBER.contains(k) ? " *" : "");
                        nat.put(k, d / (double) n);
                    }
                });
                result.put("nativeGrowthByCategory", nat);
            }
            int open = subs.size();
            long c0 = System.nanoTime();
            subs.closeAll();
            long left = awaitNoWatches(server);
            double closeSeconds = (System.nanoTime() - c0) / 1e9;
            Snapshot after = Snapshot.of(server);
            line(
                    "closing all %,d: %.1f s until the server's watch count was %d; then live heap %s (%+,d B against"
                            + " the baseline)",
                    open, closeSeconds, left, Machine.bytes(after.heapTotal()), after.heapTotal() - base.heapTotal());
            result.put("closeAllSeconds", closeSeconds);
            result.put("watchesLeftAfterClose", left);
            result.put("afterCloseHeapDelta", after.heapTotal() - base.heapTotal());
        }
        return result;
    }

    /** Waits (up to 3 minutes) until the server has no watch open; returns how many are left. */
    private static long awaitNoWatches(ServerProcess server) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
        long left;
        while ((left = watches(server)) > 0 && System.nanoTime() < deadline) Thread.sleep(100);
        return left;
    }

    /** The server's open watches, from {@code GET /v1/status}. */
    private static long watches(ServerProcess server) throws IOException, InterruptedException {
        try (var client = java.net.http.HttpClient.newHttpClient()) {
            String body = client.send(
                            java.net.http.HttpRequest.newBuilder(
                                            java.net.URI.create("http://127.0.0.1:" + server.httpPort + "/v1/status"))
                                    .timeout(java.time.Duration.ofMinutes(3))
                                    .build(),
                            java.net.http.HttpResponse.BodyHandlers.ofString())
                    .body();
            var m = java.util.regex.Pattern.compile("\"watches\"\\s*:\\s*(\\d+)")
                    .matcher(body);
            if (!m.find()) throw new IllegalStateException("no watches in " + body);
            return Long.parseLong(m.group(1));
        }
    }

    /** The server's CPU use over 10 s with nothing to do, as a fraction of one core. */
    private static double idleCpu(ServerProcess server) throws IOException, InterruptedException {
        long c0 = server.cpuNanos();
        long t0 = System.nanoTime();
        Thread.sleep(10_000);
        return (server.cpuNanos() - c0) / (double) (System.nanoTime() - t0);
    }

    private static final java.util.Set<String> NOT_PER_SUBSCRIBER = java.util.Set.of(
            "Java Heap",
            "Code",
            "Compiler",
            "Arena Chunk",
            "Metaspace",
            "Class",
            "Symbol",
            "Native Memory Tracking",
            "Shared class space");

    private record Snapshot(Map<String, Long> heap, Map<String, Long> nativeMemory, long rss, long threads) {
        static Snapshot of(ServerProcess server) throws IOException, InterruptedException {
            Map<String, Long> heap = server.liveHeap();
            return new Snapshot(heap, server.nativeMemory(), server.status("VmRSS") * 1024, server.status("Threads"));
        }

        long heapTotal() {
            return heap.get("(total)");
        }

        /**
         * Committed native memory outside the heap, without what the JIT and class loading use (Code, Compiler,
         * Arena Chunk, Metaspace, Class, Symbol, NMT itself): those grow with time and warm-up, not with
         * subscribers, and would otherwise drown the per-subscriber figure in noise.
         */
        long nativeNonHeap() {
            long sum = 0;
            for (var e : nativeMemory.entrySet()) if (!NOT_PER_SUBSCRIBER.contains(e.getKey())) sum += e.getValue();
            return sum;
        }

        Map<String, Object> toMap(double idleCpu) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("liveHeapBytes", heapTotal());
            m.put("nativeNonHeapBytes", nativeNonHeap());
            m.put("rssBytes", rss);
            m.put("threads", threads);
            m.put("idleCpuCores", idleCpu);
            return m;
        }
    }

    // ---- commit-to-delivery latency

    private Map<String, Object> latency(
            boolean floor, String name, int n, int rate, int warmup, int seconds, String durability, Path jfrOut)
            throws Exception {
        line("");
        if (floor) {
            line(
                    "## Floor run %s: %,d subscribers, %,d commits/s, %d s (+%d s warm-up), BroadcastFloor instead of Caskade",
                    name, n, rate, seconds, warmup);
        } else {
            line(
                    "## Latency run %s: %,d subscribers, %,d commits/s, %d s (+%d s warm-up), durability %s",
                    name, n, rate, seconds, warmup, durability);
        }
        int warmCommits = warmup * rate;
        int timedCommits = seconds * rate;
        int total = warmCommits + timedCommits;
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("name", name);
        result.put("subscribers", n);
        result.put("rate", rate);
        result.put("seconds", seconds);
        result.put("warmupSeconds", warmup);
        result.put("server", floor ? "floor" : "caskade");
        if (!floor) result.put("durability", durability);
        int threads = Integer.getInteger("fanout.clientThreads", 1);
        Path data = scratch.resolve((floor ? "floor-" : "latency-") + name);
        try (ServerProcess server =
                        floor ? ServerProcess.startFloor(data) : ServerProcess.start(root, data, durability, "");
                SseSubscribers subs = subscribers(server, threads);
                RespWriter writer = RespWriter.connect(server.respPort, Integer.getInteger("fanout.valueBytes", 64))) {
            subs.open(n, 200, 60_000);
            AtomicLongArray sentAt = new AtomicLongArray(total);
            // twice the planned time at most: a server that cannot take the rate ends a phase early
            int warmEnd = (int) writer.pace(
                            0, warmCommits, rate, sentAt, null, System.nanoTime() + 2L * warmup * 1_000_000_000L)[0];
            subs.time(sentAt, warmEnd);
            Path jfr = jfrOut == null
                    ? null
                    : root.resolve("caskade-bench/target").resolve(jfrOut.getFileName() + "-server.jfr");
            if (jfr != null) {
                // CPU-time samples (JDK 25, Linux) also see time spent in system calls, which execution samples miss
                server.jcmd(
                        "JFR.start",
                        "name=fanout",
                        "settings=profile",
                        "jdk.CPUTimeSample#enabled=true",
                        "jdk.CPUTimeSample#throttle=2ms",
                        "filename=" + jfr.toAbsolutePath());
            }
            long serverCpu0 = server.cpuNanos();
            long clientCpu0 = Machine.processCpuNanos();
            long ctx0 = contextSwitches(server.pid);
            long[] machine0 = Machine.cpu();
            long delivered0 = subs.delivered.sum();
            LatencyHistogram rtt = new LatencyHistogram();
            long t0 = System.nanoTime();
            long[] paced =
                    writer.pace(warmEnd, warmEnd + timedCommits, rate, sentAt, rtt, t0 + 2L * seconds * 1_000_000_000L);
            long t1 = System.nanoTime();
            int sent = (int) paced[0];
            long late = paced[1];
            int timedSent = sent - warmEnd;
            long serverCpu = server.cpuNanos() - serverCpu0;
            long clientCpu = Machine.processCpuNanos() - clientCpu0;
            long ctx = contextSwitches(server.pid) - ctx0;
            long[] machine1 = Machine.cpu();
            long inWindow = subs.delivered.sum() - delivered0;
            if (jfr != null) server.jcmd("JFR.stop", "name=fanout");
            long expected = (long) n * sent;
            awaitDelivered(subs, expected, 20_000);
            long drained = System.nanoTime();
            LatencyHistogram h = subs.latencies();
            long delivered = subs.delivered.sum();
            double window = (t1 - t0) / 1e9;
            double achieved = timedSent / window;
            line(
                    "writer: %,d of %,d timed commits sent in %.2f s = %,.0f commits/s (%,d sent more than 1 ms after their slot%s);"
                            + " SET round trip p50 %s, p99 %s, max %s",
                    timedSent,
                    timedCommits,
                    window,
                    achieved,
                    late,
                    timedSent < timedCommits ? "; stopped at twice the planned time: the server did not keep up" : "",
                    us(rtt.percentile(0.5)),
                    us(rtt.percentile(0.99)),
                    us(rtt.max()));
            line(
                    "deliveries: %,d of %,d expected (%,d subscribers x %,d commits incl. warm-up); missing (not delivered 20 s after"
                            + " the last send: late or lost) %,d, out of order %,d, overflow events %,d, connections closed by"
                            + " the server %,d; waited %.2f s after the last send",
                    delivered,
                    expected,
                    n,
                    sent,
                    subs.missing(0, sent - 1L),
                    subs.outOfOrder(),
                    subs.overflows(),
                    subs.closedByServer(),
                    (drained - t1) / 1e9);
            line(
                    "send-to-delivery over %,d timed deliveries: p50 %s, p90 %s, p99 %s, p99.9 %s, max %s, mean %s",
                    h.count(),
                    us(h.percentile(0.5)),
                    us(h.percentile(0.9)),
                    us(h.percentile(0.99)),
                    us(h.percentile(0.999)),
                    us(h.max()),
                    us((long) h.mean()));
            double busy = Machine.busyCores(machine0, machine1);
            double serverCores = serverCpu / (t1 - t0 + 0.0);
            double clientCores = clientCpu / (t1 - t0 + 0.0);
            line(
                    "CPU during the timed window: server %.2f cores, client (this JVM: subscribers + writer) %.2f cores,"
                            + " whole machine %.2f of %d busy (so %.2f for the kernel's softirq work and other processes);"
                            + " server context switches %,.0f/s",
                    serverCores,
                    clientCores,
                    busy,
                    Runtime.getRuntime().availableProcessors(),
                    busy - serverCores - clientCores,
                    ctx / window);
            line(
                    "CPU per delivery in the window (%,d deliveries): server %.2f µs, client %.2f µs",
                    inWindow, serverCpu / 1e3 / Math.max(1, inWindow), clientCpu / 1e3 / Math.max(1, inWindow));
            result.put("machineBusyCores", busy);
            result.put("deliveriesInWindow", inWindow);
            result.put("serverCpuMicrosPerDelivery", serverCpu / 1e3 / Math.max(1, inWindow));
            result.put("clientCpuMicrosPerDelivery", clientCpu / 1e3 / Math.max(1, inWindow));
            result.put(
                    "loadAverageAfter",
                    Files.readString(Path.of("/proc/loadavg")).trim());
            result.put("achievedCommitsPerSecond", achieved);
            result.put("lateSends", late);
            result.put("setRoundTripMicros", rtt.summary(1e3));
            result.put("expectedDeliveries", expected);
            result.put("delivered", delivered);
            result.put("commitsSent", sent);
            result.put("missing", subs.missing(0, sent - 1L));
            result.put("outOfOrder", subs.outOfOrder());
            result.put("overflowEvents", subs.overflows());
            result.put("closedByServer", subs.closedByServer());
            result.put("timedDeliveries", h.count());
            result.put("sendToDeliveryMicros", h.summary(1e3));
            result.put("serverCpuCores", serverCpu / (double) (t1 - t0));
            result.put("clientCpuCores", clientCpu / (double) (t1 - t0));
            result.put("serverContextSwitchesPerSecond", ctx / window);
            if (jfr != null) {
                result.put("jfr", root.relativize(jfr).toString());
                line("");
                line("Server CPU profile during this run (JFR CPU-time samples, %s):", root.relativize(jfr));
                result.put("profile", JfrProfile.summarize(jfr, this::line));
                for (String view : List.of("allocation-by-class")) {
                    line("");
                    line("JFR %s of the server during this run (%s):", view, jfr.getFileName());
                    String v = run(server, view, jfr);
                    for (String l : v.split("\n")) line("    %s", l);
                }
            }
        }
        return result;
    }

    private static String run(ServerProcess server, String view, Path jfr) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(
                        Path.of(System.getProperty("java.home"), "bin", "jfr").toString(),
                        "view",
                        "--width",
                        "160",
                        view,
                        jfr.toString())
                .redirectErrorStream(true)
                .start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        p.waitFor(60, TimeUnit.SECONDS);
        return out.strip();
    }

    private static void awaitDelivered(SseSubscribers subs, long expected, long timeoutMillis)
            throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        long last = -1;
        long stalledSince = System.nanoTime();
        while (subs.delivered.sum() < expected && System.nanoTime() < deadline) {
            long now = subs.delivered.sum();
            if (now != last) {
                last = now;
                stalledSince = System.nanoTime();
            } else if (System.nanoTime() - stalledSince > TimeUnit.SECONDS.toNanos(5)) {
                return; // nothing arrives any more: the rest is missing
            }
            Thread.sleep(20);
        }
    }

    private static SseSubscribers subscribers(ServerProcess server, int threads) {
        return new SseSubscribers(
                new InetSocketAddress("127.0.0.1", server.httpPort), "/v1/watch?prefix=" + PREFIX, threads);
    }

    /** Voluntary plus involuntary context switches of every thread of the process. */
    private static long contextSwitches(long pid) throws IOException {
        long sum = 0;
        try (Stream<Path> tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
            for (Path t : tasks.toList()) {
                try {
                    for (String l : Files.readAllLines(t.resolve("status"))) {
                        if (l.startsWith("voluntary_ctxt_switches:") || l.startsWith("nonvoluntary_ctxt_switches:"))
                            sum += Long.parseLong(
                                    l.substring(l.indexOf(':') + 1).trim());
                    }
                } catch (IOException gone) {
                    // the thread ended while we listed
                }
            }
        }
        return sum;
    }

    /** One Redis-protocol connection that SETs {@code fan/kI} to {@code @<seq>#} padded, and waits for +OK. */
    private static final class RespWriter implements AutoCloseable {
        private final Socket socket;
        private final OutputStream out;
        private final InputStream in;
        private final int valueBytes;

        private RespWriter(Socket socket, int valueBytes) throws IOException {
            this.socket = socket;
            this.out = new BufferedOutputStream(socket.getOutputStream());
            this.in = new BufferedInputStream(socket.getInputStream());
            this.valueBytes = valueBytes;
        }

        static RespWriter connect(int port, int valueBytes) throws IOException {
            Socket s = new Socket();
            s.connect(new InetSocketAddress("127.0.0.1", port), 10_000);
            s.setTcpNoDelay(true);
            s.setSoTimeout(30_000);
            return new RespWriter(s, valueBytes);
        }

        void set(long seq) throws IOException {
            String key = PREFIX + "k" + (seq % 100);
            StringBuilder v = new StringBuilder().append('@').append(seq).append('#');
            while (v.length() < valueBytes) v.append('x');
            byte[] value = v.toString().getBytes(StandardCharsets.US_ASCII);
            String head = "*3\r\n$3\r\nSET\r\n$" + key.length() + "\r\n" + key + "\r\n$" + value.length + "\r\n";
            out.write(head.getBytes(StandardCharsets.US_ASCII));
            out.write(value);
            out.write('\r');
            out.write('\n');
            out.flush();
            // +OK\r\n
            for (int i = 0; i < 5; i++) {
                int c = in.read();
                if (c < 0) throw new IOException("server closed the connection");
                if (i == 0 && c != '+')
                    throw new IOException("SET failed: " + (char) c + new String(in.readNBytes(in.available())));
            }
        }

        /**
         * Sends sequence numbers [from, to) at {@code rate} per second on a fixed schedule, noting each send time;
         * a send that is behind schedule goes at once. Stops early, at the first sequence number not sent by
         * {@code deadline} (nanoTime), when the server cannot take the rate. Returns {@code {end, late}}: the
         * first sequence number not sent, and how many went more than 1 ms after their slot.
         */
        long[] pace(int from, int to, int rate, AtomicLongArray sentAt, LatencyHistogram rtt, long deadline)
                throws IOException {
            long period = 1_000_000_000L / rate;
            long start = System.nanoTime();
            long late = 0;
            int seq = from;
            for (; seq < to; seq++) {
                long slot = start + (seq - from) * period;
                long wait;
                while ((wait = slot - System.nanoTime()) > 0) {
                    if (wait > 100_000) LockSupport.parkNanos(wait - 50_000);
                    else Thread.onSpinWait();
                }
                long sent = System.nanoTime();
                if (sent - deadline > 0) break;
                if (sent - slot > 1_000_000) late++;
                sentAt.set(seq, sent);
                set(seq);
                if (rtt != null) rtt.record(System.nanoTime() - sent);
            }
            return new long[] {seq, late};
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }

    // ---- output

    private void line(String format, Object... args) {
        String s = String.format(Locale.ROOT, format, args);
        System.out.println(s);
        text.append(s).append('\n');
    }

    private static String us(long nanos) {
        if (nanos >= 10_000_000) return String.format(Locale.ROOT, "%.1f ms", nanos / 1e6);
        if (nanos >= 1_000_000) return String.format(Locale.ROOT, "%.2f ms", nanos / 1e6);
        return String.format(Locale.ROOT, "%d µs", nanos / 1_000);
    }
}
