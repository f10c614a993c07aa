package dev.caskade.bench;

import dev.caskade.Entry;
import dev.caskade.client.CaskadeClient;
import dev.caskade.client.ClientOptions;
import dev.caskade.client.Txn;
import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Issue 5's follower figures: a primary ({@code bin/caskade serve}) and followers ({@code bin/caskade serve --follow
 * http://127.0.0.1:PORT}), each a real process of its own, driven from this JVM over loopback. Run by {@code
 * bench/follower.sh}.
 *
 * <p><b>Writes.</b> One primary (durability {@code sync}, then {@code none}) and one follower. First a check: {@code
 * follower.ryw} puts sent to the follower, each read back from the follower at once (its value and revision must be
 * there). Then HTTP PUTs (one key each, {@code follower.valueBytes} bytes) on a fixed schedule of {@code
 * follower.rate}/s by 8 writer threads (a slot missed goes at once), first to the primary, then to the follower
 * (which forwards the write and answers once the commit is applied in its copy): round-trip p50/p99/p99.9 after
 * {@code follower.warmup} s. Then unpaced PUTs from 1 and 16 client threads for {@code follower.throughputSeconds}
 * each. The follower is attached in every part, so a write to the primary also pays the follower's stream.
 *
 * <p><b>RESP.</b> {@code redis-benchmark -t set,get -n follower.respRequests -c 16 -q} against the primary's, then
 * the follower's RESP port (skipped, and said so, when redis-benchmark is not on the PATH).
 *
 * <p><b>Reads.</b> {@code follower.readKeys} keys written to the primary in txns of 500; once the follower has them,
 * {@code follower.readClients} threads GET random keys over HTTP for {@code follower.readSeconds}, from the
 * primary, then from the follower.
 *
 * <p><b>Fan-out.</b> A fresh primary and {@code n} followers ({@code follower.followers}, 1 and 10), one SSE
 * watcher ({@link SseSubscribers}) on each follower and one on the primary itself. 4 writer threads PUT to the
 * primary on a fixed schedule of {@code follower.rate}/s for {@code follower.fanoutSeconds} after the warm-up, each
 * value carrying its sequence number; latency = the watcher's receipt of the event minus the send time of the PUT,
 * every (commit, watcher) pair. Target p99 <= 5 ms, as for replicas.
 *
 * <p>Fresh server JVMs are warmed first ({@code follower.jitSeconds} of untimed puts and gets).
 *
 * <p>Every loop is bounded in count and time. Settings are system properties {@code follower.*}; see {@link
 * #run}.
 */
public final class FollowerBench {
    private static final byte[] LETTERS = "etaoinshrdlucmfw".getBytes(StandardCharsets.US_ASCII);
    private static final double P99_TARGET_MILLIS = 5;
    private static final Pattern REDIS_LINE =
            Pattern.compile("^\\s*(SET|GET): ([\\d.]+) requests per second(?:, p50=([\\d.]+) msec)?");

    private final Path root;
    private final Path scratch;
    private final String javaOpts;
    private final int valueBytes;
    private final StringBuilder text = new StringBuilder();
    private int jitSeconds;
    private final Map<String, Object> json = new LinkedHashMap<>();

    private FollowerBench(Path root, Path scratch, String javaOpts, int valueBytes) {
        this.root = root;
        this.scratch = scratch;
        this.javaOpts = javaOpts;
        this.valueBytes = valueBytes;
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: FollowerBench <results path without extension> (writes .txt and .json)");
            System.exit(2);
        }
        Path root = Path.of(System.getProperty("follower.root", "."))
                .toAbsolutePath()
                .normalize();
        Path scratch = Path.of(System.getProperty(
                "follower.data", root.resolve("caskade-bench/target/follower").toString()));
        new FollowerBench(
                        root,
                        scratch,
                        System.getProperty("follower.javaOpts", ""),
                        Integer.getInteger("follower.valueBytes", 100))
                .run(Path.of(args[0]));
        System.exit(0); // the HTTP clients' and Netty's threads
    }

    /** One server the benchmark talks to, with a client of its own. */
    private record Target(String name, ServerProcess process, CaskadeClient client) {}

    private void run(Path out) throws Exception {
        String parts = System.getProperty("follower.parts", "writes,resp,reads,fanout");
        List<String> durabilities = Arrays.stream(
                        System.getProperty("follower.durability", "sync,none").split(","))
                .map(String::trim)
                .filter(s -> !s.isEmpty())
                .toList();
        int rate = Integer.getInteger("follower.rate", 1000);
        int seconds = Integer.getInteger("follower.seconds", 10);
        int warmup = Integer.getInteger("follower.warmup", 2);
        int ryw = Integer.getInteger("follower.ryw", 200);
        int throughputSeconds = Integer.getInteger("follower.throughputSeconds", 5);
        List<Integer> clients = Machine.ints(System.getProperty("follower.clients", "1,16"));
        int respRequests = Integer.getInteger("follower.respRequests", 20_000);
        int respClients = Integer.getInteger("follower.respClients", 16);
        int readKeys = Integer.getInteger("follower.readKeys", 10_000);
        int readClients = Integer.getInteger("follower.readClients", 16);
        int readSeconds = Integer.getInteger("follower.readSeconds", 5);
        List<Integer> followers = Machine.ints(System.getProperty("follower.followers", "1,10"));
        int fanoutSeconds = Integer.getInteger("follower.fanoutSeconds", 10);
        jitSeconds = Integer.getInteger("follower.jitSeconds", 5);
        Path redisBenchmark = onPath("redis-benchmark");

        line(
                "# Followers: bin/caskade serve and serve --follow as separate processes on 127.0.0.1, driven from"
                        + " this JVM; %s; %d cpus; %s",
                Instant.now(), Runtime.getRuntime().availableProcessors(), System.getProperty("java.vm.version"));
        line("# load before: %s", Machine.loadavg());
        Machine.describe(json);
        Map<String, Object> settings = new LinkedHashMap<>();
        settings.put("parts", parts);
        settings.put("durability", durabilities);
        settings.put("rate", rate);
        settings.put("seconds", seconds);
        settings.put("warmupSeconds", warmup);
        settings.put("readYourWritesChecks", ryw);
        settings.put("throughputSeconds", throughputSeconds);
        settings.put("clients", clients);
        settings.put("respRequests", respRequests);
        settings.put("respClients", respClients);
        settings.put("readKeys", readKeys);
        settings.put("readClients", readClients);
        settings.put("readSeconds", readSeconds);
        settings.put("followers", followers);
        settings.put("fanoutSeconds", fanoutSeconds);
        settings.put("jitWarmupSeconds", jitSeconds);
        settings.put("valueBytes", valueBytes);
        settings.put("serverJavaOpts", javaOpts);
        settings.put("redisBenchmark", redisBenchmark == null ? null : redisBenchmark.toString());
        json.put("settings", settings);
        BenchDir.delete(scratch);
        Files.createDirectories(scratch);
        List<Object> runs = new ArrayList<>();
        json.put("runs", runs);
        for (String durability : durabilities) {
            Map<String, Object> d = new LinkedHashMap<>();
            d.put("durability", durability);
            runs.add(d);
            if (parts.contains("writes") || parts.contains("resp") || parts.contains("reads")) {
                line("");
                line("## Primary (durability %s) and one follower (load %s)", durability, Machine.loadavg());
                Path dir = scratch.resolve(durability);
                try (ServerProcess primary = ServerProcess.start(root, dir.resolve("primary"), durability, javaOpts);
                        ServerProcess follower =
                                ServerProcess.startFollower(root, dir.resolve("follower"), primary.httpPort, javaOpts);
                        CaskadeClient toPrimary = client(primary);
                        CaskadeClient toFollower = client(follower)) {
                    Target p = new Target("primary", primary, toPrimary);
                    Target f = new Target("follower", follower, toFollower);
                    List<ServerProcess> both = List.of(primary, follower);
                    warmUp(List.of(p, f), "warm/", jitSeconds);
                    if (parts.contains("writes")) {
                        d.put("readYourWrites", readYourWrites(toFollower, ryw));
                        List<Object> paced = new ArrayList<>();
                        for (Target t : List.of(p, f)) paced.add(paced(t, both, rate, seconds, warmup));
                        d.put("paced", paced);
                        List<Object> unpaced = new ArrayList<>();
                        for (int c : clients) {
                            for (Target t : List.of(p, f)) unpaced.add(unpaced(t, both, c, throughputSeconds));
                        }
                        d.put("unpaced", unpaced);
                    }
                    if (parts.contains("resp")) {
                        List<Object> resp = new ArrayList<>();
                        for (Target t : List.of(p, f))
                            resp.add(redisBenchmark(redisBenchmark, t, respRequests, respClients));
                        d.put("resp", resp);
                    }
                    if (parts.contains("reads")) d.put("reads", reads(p, f, both, readKeys, readClients, readSeconds));
                }
            }
            if (parts.contains("fanout")) {
                List<Object> fan = new ArrayList<>();
                for (int n : followers) fan.add(fanout(n, durability, rate, fanoutSeconds, warmup));
                d.put("fanout", fan);
            }
        }
        line("");
        line("# load after: %s", Machine.loadavg());
        json.put("loadAfter", Machine.loadavg());
        json.put("finishedUtc", Instant.now().toString());
        Files.createDirectories(out.toAbsolutePath().getParent());
        Files.writeString(Path.of(out + ".txt"), text);
        Files.writeString(Path.of(out + ".json"), Json.write(json) + "\n");
        System.out.println("follower: results in " + out + ".txt and .json");
        BenchDir.delete(scratch);
    }

    private static CaskadeClient client(ServerProcess server) {
        return CaskadeClient.connect(
                URI.create("http://127.0.0.1:" + server.httpPort),
                ClientOptions.defaults()
                        .withConnectTimeout(Duration.ofSeconds(5))
                        .withRequestTimeout(Duration.ofSeconds(30)));
    }

    // ---- writes

    /** Puts sent to the follower, each read back from the follower as soon as the put returns. */
    private Map<String, Object> readYourWrites(CaskadeClient follower, int n) {
        long stale = 0;
        long t0 = System.nanoTime();
        long deadline = t0 + TimeUnit.SECONDS.toNanos(60);
        int done = 0;
        for (; done < n && System.nanoTime() < deadline; done++) {
            byte[] key = key("ryw/", done);
            byte[] value = ("v" + done).getBytes(StandardCharsets.US_ASCII);
            long rev = follower.put(key, value);
            Optional<Entry> e = follower.get(key);
            if (e.isEmpty()
                    || e.get().revision() != rev
                    || !Arrays.equals(e.get().value(), value)) stale++;
        }
        line(
                "read-your-writes on the follower: %,d puts, each read back at once from the follower: %,d stale",
                done, stale);
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("puts", done);
        r.put("stale", stale);
        return r;
    }

    /** PUTs on a fixed schedule from 8 threads; round trips after the warm-up. */
    private Map<String, Object> paced(Target t, List<ServerProcess> servers, int rate, int seconds, int warmup)
            throws Exception {
        byte[] value = text(new SplittableRandom(7), valueBytes);
        byte[] prefix = ("paced/" + t.name() + "/").getBytes(StandardCharsets.US_ASCII);
        Schedule schedule = Schedule.start(
                "paced", 8, rate, warmup, seconds, (i, now) -> t.client().put(key(prefix, i), value));
        schedule.awaitWarmup();
        Window win = Window.open(servers);
        schedule.join();
        LatencyHistogram all = schedule.timed();
        Map<String, Object> cpu = win.close(all.count());
        double secs = (double) cpu.get("seconds");
        line(
                "HTTP PUT to the %-8s paced %,d/s: %,d timed in %.1f s (%,.0f/s; %,d late > 1 ms, %,d errors): p50 %s,"
                        + " p90 %s, p99 %s, p99.9 %s, max %s; %s",
                t.name(),
                rate,
                all.count(),
                secs,
                all.count() / secs,
                schedule.late(),
                schedule.errors(),
                millis(all.percentile(0.5)),
                millis(all.percentile(0.9)),
                millis(all.percentile(0.99)),
                millis(all.percentile(0.999)),
                millis(all.max()),
                cpu.get("describe"));
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("target", t.name());
        r.put("rate", rate);
        r.put("lateSlots", schedule.late());
        r.put("errors", schedule.errors());
        r.put("latencyMillis", all.summary(1e6));
        r.put("cpu", cpu);
        return r;
    }

    /** PUTs as fast as {@code clients} threads can send them, each waiting for its answer. */
    private Map<String, Object> unpaced(Target t, List<ServerProcess> servers, int clients, int seconds)
            throws Exception {
        byte[] value = text(new SplittableRandom(8), valueBytes);
        LatencyHistogram[] hs = new LatencyHistogram[clients];
        AtomicLong errors = new AtomicLong();
        AtomicLong done = new AtomicLong();
        List<Thread> threads = new ArrayList<>();
        Window win = Window.open(servers);
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        for (int c = 0; c < clients; c++) {
            LatencyHistogram h = new LatencyHistogram();
            hs[c] = h;
            byte[] prefix = ("unpaced/" + t.name() + "/" + clients + "/" + c + "/").getBytes(StandardCharsets.US_ASCII);
            threads.add(Thread.ofPlatform().name("unpaced-" + c).start(() -> {
                for (int i = 0; i < 10_000_000 && System.nanoTime() < end; i++) {
                    long s = System.nanoTime();
                    try {
                        t.client().put(key(prefix, i), value);
                    } catch (RuntimeException e) {
                        errors.incrementAndGet();
                        continue;
                    }
                    h.record(System.nanoTime() - s);
                    done.incrementAndGet();
                }
            }));
        }
        for (Thread th : threads) th.join();
        Map<String, Object> cpu = win.close(done.get());
        LatencyHistogram all = new LatencyHistogram();
        for (LatencyHistogram h : hs) all.add(h);
        double secs = (double) cpu.get("seconds");
        line(
                "HTTP PUT to the %-8s unpaced, %2d client%s: %,.0f puts/s (%,d in %.1f s, %,d errors): p50 %s, p99 %s,"
                        + " p99.9 %s; %s",
                t.name(),
                clients,
                clients == 1 ? " " : "s",
                all.count() / secs,
                all.count(),
                secs,
                errors.get(),
                millis(all.percentile(0.5)),
                millis(all.percentile(0.99)),
                millis(all.percentile(0.999)),
                cpu.get("describe"));
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("target", t.name());
        r.put("clients", clients);
        r.put("putsPerSecond", all.count() / secs);
        r.put("errors", errors.get());
        r.put("latencyMillis", all.summary(1e6));
        r.put("cpu", cpu);
        return r;
    }

    /**
     * Fresh server JVMs run interpreted at first: 8 threads put and get through every target for {@code seconds}
     * (keys under {@code under}), untimed.
     */
    private void warmUp(List<Target> targets, String under, int seconds) throws InterruptedException {
        if (seconds <= 0) return;
        byte[] value = text(new SplittableRandom(3), valueBytes);
        AtomicLong errors = new AtomicLong();
        AtomicLong done = new AtomicLong();
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        List<Thread> threads = new ArrayList<>();
        for (int c = 0; c < 8; c++) {
            byte[] prefix = (under + c + "/").getBytes(StandardCharsets.US_ASCII);
            threads.add(Thread.ofPlatform().name("warm-" + c).start(() -> {
                for (int i = 0; i < 10_000_000 && System.nanoTime() < end; i++) {
                    Target t = targets.get(i % targets.size());
                    try {
                        t.client().put(key(prefix, i % 1000), value);
                        t.client().get(key(prefix, i % 1000));
                        done.incrementAndGet();
                    } catch (RuntimeException e) {
                        errors.incrementAndGet();
                    }
                }
            }));
        }
        for (Thread th : threads) th.join();
        line(
                "JIT warm-up: %,d put+get pairs in %d s through %d server%s (%,d errors), untimed",
                done.get(), seconds, targets.size(), targets.size() == 1 ? "" : "s", errors.get());
    }

    // ---- RESP

    private Map<String, Object> redisBenchmark(Path tool, Target t, int requests, int clients) throws Exception {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("target", t.name());
        if (tool == null) {
            line("redis-benchmark is not on the PATH: RESP part skipped");
            r.put("skipped", "redis-benchmark not found");
            return r;
        }
        List<String> cmd = List.of(
                tool.toString(),
                "-h",
                "127.0.0.1",
                "-p",
                Integer.toString(t.process().respPort),
                "-t",
                "set,get",
                "-n",
                Integer.toString(requests),
                "-c",
                Integer.toString(clients),
                "-q");
        r.put("command", String.join(" ", cmd).replace(tool.toString(), "redis-benchmark"));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        // read on a thread of its own, so that a hung tool still lets the timeout below act
        Future<byte[]> output;
        try (ExecutorService reader = Executors.newSingleThreadExecutor()) {
            output = reader.submit(() -> p.getInputStream().readAllBytes());
            if (!p.waitFor(300, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                line("redis-benchmark against the %s did not finish in 300 s", t.name());
                r.put("error", "timeout");
                return r;
            }
        }
        String all = new String(output.get(10, TimeUnit.SECONDS), StandardCharsets.UTF_8);
        for (String s : all.split("[\r\n]+")) {
            Matcher m = REDIS_LINE.matcher(s);
            if (!m.find()) continue;
            Map<String, Object> op = new LinkedHashMap<>();
            op.put("requestsPerSecond", Double.parseDouble(m.group(2)));
            if (m.group(3) != null) op.put("p50Millis", Double.parseDouble(m.group(3)));
            r.put(m.group(1), op);
            line("%s (%s): %s", r.get("command"), t.name(), s.trim());
        }
        if (!r.containsKey("SET") || !r.containsKey("GET")) {
            line("redis-benchmark against the %s: unexpected output: %s", t.name(), all.strip());
            r.put("output", all.strip());
        }
        return r;
    }

    // ---- reads

    private Map<String, Object> reads(
            Target primary, Target follower, List<ServerProcess> servers, int keys, int clients, int seconds)
            throws Exception {
        SplittableRandom random = new SplittableRandom(11);
        byte[] prefix = "read/".getBytes(StandardCharsets.US_ASCII);
        for (int i = 0; i < keys; ) {
            List<Txn.Op> ops = new ArrayList<>();
            for (int j = 0; j < 500 && i < keys; j++, i++) ops.add(Txn.put(key(prefix, i), text(random, valueBytes)));
            primary.client().txn(Txn.create().success(ops.toArray(Txn.Op[]::new)));
        }
        long last = primary.client().revision();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (follower.client().revision() < last) {
            if (System.nanoTime() > deadline) throw new IllegalStateException("the follower did not catch up");
            Thread.sleep(10);
        }
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("keys", keys);
        r.put("clients", clients);
        List<Object> each = new ArrayList<>();
        for (Target t : List.of(primary, follower)) {
            LatencyHistogram[] hs = new LatencyHistogram[clients];
            AtomicLong misses = new AtomicLong();
            AtomicLong errors = new AtomicLong();
            AtomicLong done = new AtomicLong();
            List<Thread> threads = new ArrayList<>();
            Window win = Window.open(servers);
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
            for (int c = 0; c < clients; c++) {
                LatencyHistogram h = new LatencyHistogram();
                hs[c] = h;
                SplittableRandom rnd = new SplittableRandom(100 + c);
                threads.add(Thread.ofPlatform().name("get-" + c).start(() -> {
                    for (int i = 0; i < 10_000_000 && System.nanoTime() < end; i++) {
                        long s = System.nanoTime();
                        try {
                            if (t.client().get(key(prefix, rnd.nextInt(keys))).isEmpty()) misses.incrementAndGet();
                        } catch (RuntimeException e) {
                            errors.incrementAndGet();
                            continue;
                        }
                        h.record(System.nanoTime() - s);
                        done.incrementAndGet();
                    }
                }));
            }
            for (Thread th : threads) th.join();
            Map<String, Object> cpu = win.close(done.get());
            LatencyHistogram all = new LatencyHistogram();
            for (LatencyHistogram h : hs) all.add(h);
            double secs = (double) cpu.get("seconds");
            line(
                    "HTTP GET from the %-8s %d clients, %,d keys: %,.0f gets/s (%,d misses, %,d errors): p50 %s,"
                            + " p99 %s; %s",
                    t.name(),
                    clients,
                    keys,
                    all.count() / secs,
                    misses.get(),
                    errors.get(),
                    millis(all.percentile(0.5)),
                    millis(all.percentile(0.99)),
                    cpu.get("describe"));
            Map<String, Object> one = new LinkedHashMap<>();
            one.put("target", t.name());
            one.put("getsPerSecond", all.count() / secs);
            one.put("misses", misses.get());
            one.put("errors", errors.get());
            one.put("latencyMillis", all.summary(1e6));
            one.put("cpu", cpu);
            each.add(one);
        }
        r.put("targets", each);
        return r;
    }

    // ---- fan-out

    private Map<String, Object> fanout(int n, String durability, int rate, int seconds, int warmup) throws Exception {
        line("");
        line(
                "## Fan-out: PUT on the primary (durability %s) -> SSE event at a watcher on each of %d follower%s,"
                        + " %,d commits/s for %d s after %d s warm-up (load %s)",
                durability, n, n == 1 ? "" : "s", rate, seconds, warmup, Machine.loadavg());
        Path dir = scratch.resolve("fan-" + n + "-" + durability);
        List<ServerProcess> followers = new ArrayList<>();
        List<SseSubscribers> watchers = new ArrayList<>();
        Map<String, Object> r = new LinkedHashMap<>();
        try (ServerProcess primary = ServerProcess.start(root, dir.resolve("primary"), durability, javaOpts);
                CaskadeClient writer = client(primary)) {
            try {
                fanout(n, durability, rate, seconds, warmup, primary, writer, dir, followers, watchers, r);
            } finally {
                // the followers stop before their primary does
                for (SseSubscribers w : watchers) w.close();
                for (ServerProcess f : followers) f.close();
            }
        }
        return r;
    }

    private void fanout(
            int n,
            String durability,
            int rate,
            int seconds,
            int warmup,
            ServerProcess primary,
            CaskadeClient writer,
            Path dir,
            List<ServerProcess> followers,
            List<SseSubscribers> watchers,
            Map<String, Object> r)
            throws Exception {
        writer.put("seed", "x");
        try (ExecutorService starts = Executors.newFixedThreadPool(Math.min(n, 4))) {
            List<Future<ServerProcess>> fs = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                Path d = dir.resolve("follower-" + i);
                fs.add(starts.submit(() -> ServerProcess.startFollower(root, d, primary.httpPort, javaOpts)));
            }
            for (Future<ServerProcess> f : fs) followers.add(f.get(5, TimeUnit.MINUTES));
        }
        // watcher 0 on the primary itself (the floor), then one on each follower
        List<ServerProcess> watched = new ArrayList<>();
        watched.add(primary);
        watched.addAll(followers);
        for (ServerProcess s : watched) {
            SseSubscribers w =
                    new SseSubscribers(new InetSocketAddress("127.0.0.1", s.httpPort), "/v1/watch?prefix=f/", 1);
            watchers.add(w);
            w.open(1, 1, 30_000);
        }
        // the warm-up's keys are under the watched prefix (values without a marker), so that every follower's
        // apply and SSE paths are compiled too before anything is timed
        warmUp(List.of(new Target("primary", primary, writer)), "f/warm/", jitSeconds);
        r.put("settle", settle(watched));
        int total = rate * (warmup + seconds);
        int warm = rate * warmup;
        AtomicLongArray sentAt = new AtomicLongArray(total);
        for (SseSubscribers w : watchers) w.time(sentAt, warm);
        // 4 writers, as in ReplicaBench, so that one slow PUT does not hold back the schedule; commits may then
        // reach the watchers out of sequence order, so completeness is counted as deliveries per watcher
        Schedule schedule = Schedule.start("fan-writer", 4, rate, warmup, seconds, (i, now) -> {
            sentAt.set(i, now);
            writer.put(key(FAN, i), marked(i));
        });
        List<ServerProcess> servers = new ArrayList<>(watched);
        schedule.awaitWarmup();
        Window win = Window.open(servers);
        schedule.join();
        LatencyHistogram putTime = schedule.timed();
        long sent = schedule.done();
        long late = schedule.late();
        long errors = schedule.errors();
        Map<String, Object> cpu = win.close(putTime.count());
        long waitUntil = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (delivered(watchers) < sent * watchers.size() && System.nanoTime() < waitUntil) Thread.sleep(10);
        LatencyHistogram direct = watchers.get(0).latencies();
        LatencyHistogram viaFollowers = new LatencyHistogram();
        double worstP99 = 0;
        List<Object> perFollower = new ArrayList<>();
        long missing = 0;
        long outOfOrder = 0;
        for (int i = 0; i < watchers.size(); i++) {
            SseSubscribers w = watchers.get(i);
            missing += Math.max(0, sent - w.delivered.sum());
            outOfOrder += w.outOfOrder();
            if (i == 0) continue;
            LatencyHistogram h = w.latencies();
            viaFollowers.add(h);
            worstP99 = Math.max(worstP99, h.percentile(0.99) / 1e6);
            perFollower.add(h.percentile(0.99) / 1e6);
        }
        boolean met = missing == 0 && viaFollowers.percentile(0.99) / 1e6 <= P99_TARGET_MILLIS;
        line(
                "commits: %,d sent (%,d timed in %.1f s; %,d more than 1 ms behind their slot; %,d errors); every"
                        + " watcher had every commit: %s (missing %,d; %,d after a later-numbered one: concurrent"
                        + " writers)",
                sent,
                putTime.count(),
                (double) cpu.get("seconds"),
                late,
                errors,
                missing == 0 ? "yes" : "NO",
                missing,
                outOfOrder);
        line(
                "PUT on primary -> event at a follower's watcher (%,d pairs): p50 %s, p90 %s, p99 %s, p99.9 %s,"
                        + " max %s; worst follower's p99 %.2f ms  [target p99 <= %.0f ms: %s]",
                viaFollowers.count(),
                millis(viaFollowers.percentile(0.5)),
                millis(viaFollowers.percentile(0.9)),
                millis(viaFollowers.percentile(0.99)),
                millis(viaFollowers.percentile(0.999)),
                millis(viaFollowers.max()),
                worstP99,
                P99_TARGET_MILLIS,
                met ? "met" : "NOT met");
        line(
                "PUT on primary -> event at a watcher on the primary itself (%,d): p50 %s, p90 %s, p99 %s, p99.9"
                        + " %s, max %s",
                direct.count(),
                millis(direct.percentile(0.5)),
                millis(direct.percentile(0.9)),
                millis(direct.percentile(0.99)),
                millis(direct.percentile(0.999)),
                millis(direct.max()));
        line(
                "PUT round trip on the primary: p50 %s, p99 %s, max %s; %s",
                millis(putTime.percentile(0.5)),
                millis(putTime.percentile(0.99)),
                millis(putTime.max()),
                cpu.get("describe"));
        r.put("followers", n);
        r.put("durability", durability);
        r.put("rate", rate);
        r.put("sent", sent);
        r.put("lateSlots", late);
        r.put("errors", errors);
        r.put("missing", missing);
        r.put("outOfOrder", outOfOrder);
        r.put("viaFollowersMillis", viaFollowers.summary(1e6));
        r.put("perFollowerP99Millis", perFollower);
        r.put("directOnPrimaryMillis", direct.summary(1e6));
        r.put("putRoundTripMillis", putTime.summary(1e6));
        r.put("targetP99Millis", P99_TARGET_MILLIS);
        r.put("targetMet", met);
        r.put("cpu", cpu);
    }

    /**
     * Waits (up to 20 s) until the servers use under 0.3 cores together over a second, so that the timed window does
     * not start while fresh JVMs still compile; returns what the servers and the machine used in the last second.
     */
    private Map<String, Object> settle(List<ServerProcess> servers) throws Exception {
        long t0 = System.nanoTime();
        Map<String, Object> last = Map.of();
        for (int i = 0; i < 20; i++) {
            Window w = Window.open(servers);
            Thread.sleep(1000);
            last = w.close(0);
            double cores = 0;
            for (Object c : (List<?>) last.get("serverCores")) cores += (double) c;
            if (cores < 0.3) break;
        }
        line("settled after %.1f s; last second idle: %s", (System.nanoTime() - t0) / 1e9, last.get("describe"));
        return last;
    }

    private static final byte[] FAN = "f/".getBytes(StandardCharsets.US_ASCII);

    private static long delivered(List<SseSubscribers> watchers) {
        long d = 0;
        for (SseSubscribers w : watchers) d += w.delivered.sum();
        return d;
    }

    /** A value carrying the watchers' marker {@code @<seq>#}, padded with letters to the value size. */
    private byte[] marked(int seq) {
        byte[] head = ("@" + seq + "#").getBytes(StandardCharsets.US_ASCII);
        byte[] pad = text(new SplittableRandom(seq), Math.max(0, valueBytes - head.length));
        byte[] v = Arrays.copyOf(head, head.length + pad.length);
        System.arraycopy(pad, 0, v, head.length, pad.length);
        return v;
    }

    // ---- helpers

    /** CPU of the server processes, this JVM and the machine over a measured window. */
    private record Window(List<ServerProcess> servers, long[] serverCpu0, long jvmCpu0, long[] machine0, long t0) {
        static Window open(List<ServerProcess> servers) throws IOException {
            long[] cpu = new long[servers.size()];
            for (int i = 0; i < cpu.length; i++) cpu[i] = servers.get(i).cpuNanos();
            return new Window(servers, cpu, Machine.processCpuNanos(), Machine.cpu(), System.nanoTime());
        }

        /** Seconds, cores used by each server and this JVM, machine busy cores, and µs of CPU per op. */
        Map<String, Object> close(long ops) throws IOException {
            long t1 = System.nanoTime();
            long[] machine1 = Machine.cpu();
            long jvm = Machine.processCpuNanos() - jvmCpu0;
            double secs = (t1 - t0) / 1e9;
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("seconds", secs);
            List<Object> cores = new ArrayList<>();
            StringBuilder d = new StringBuilder("CPU cores: ");
            long serverTotal = 0;
            for (int i = 0; i < servers.size(); i++) {
                long used = servers.get(i).cpuNanos() - serverCpu0[i];
                serverTotal += used;
                cores.add(used / 1e9 / secs);
                if (i < 2)
                    d.append(i == 0 ? "primary " : "follower ")
                            .append(fmt(used / 1e9 / secs))
                            .append(", ");
            }
            if (servers.size() > 2) {
                long rest = 0;
                for (int i = 2; i < servers.size(); i++) rest += servers.get(i).cpuNanos() - serverCpu0[i];
                d.append("other followers ").append(fmt(rest / 1e9 / secs)).append(", ");
            }
            double busy = Machine.busyCores(machine0, machine1);
            d.append("bench JVM ")
                    .append(fmt(jvm / 1e9 / secs))
                    .append(", machine ")
                    .append(fmt(busy))
                    .append(" of ")
                    .append(Runtime.getRuntime().availableProcessors());
            if (ops > 0)
                d.append("; servers ").append(fmt(serverTotal / 1e3 / ops)).append(" µs CPU/op");
            m.put("serverCores", cores);
            m.put("benchJvmCores", jvm / 1e9 / secs);
            m.put("machineBusyCores", busy);
            m.put("serverCpuMicrosPerOp", ops > 0 ? serverTotal / 1e3 / ops : null);
            m.put("describe", d.toString());
            return m;
        }

        private static String fmt(double v) {
            return String.format(Locale.ROOT, "%.2f", v);
        }
    }

    private static Path onPath(String tool) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            if (dir.isEmpty()) continue;
            Path p = Path.of(dir, tool);
            if (Files.isExecutable(p)) return p;
        }
        return null;
    }

    private static byte[] key(String prefix, int i) {
        return key(prefix.getBytes(StandardCharsets.US_ASCII), i);
    }

    /** {@code prefix} followed by {@code i} in 8 digits. */
    private static byte[] key(byte[] prefix, int i) {
        byte[] k = Arrays.copyOf(prefix, prefix.length + 8);
        for (int j = k.length - 1, v = i; j >= prefix.length; j--, v /= 10) k[j] = (byte) ('0' + v % 10);
        return k;
    }

    /** Random text over 16 letters. */
    private static byte[] text(SplittableRandom random, int n) {
        byte[] b = new byte[n];
        long bits = 0;
        for (int i = 0; i < n; i++) {
            if ((i & 15) == 0) bits = random.nextLong();
            b[i] = LETTERS[(int) (bits & 15)];
            bits >>>= 4;
        }
        return b;
    }

    private void line(String format, Object... args) {
        String s = String.format(Locale.ROOT, format, args);
        System.out.println(s);
        text.append(s).append('\n');
    }

    private static String millis(long nanos) {
        return String.format(Locale.ROOT, "%.2f ms", nanos / 1e6);
    }
}
