package dev.caskade.bench;

import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.Change;
import dev.caskade.Durability;
import dev.caskade.WatchEvent;
import dev.caskade.cluster.ClusterNode;
import dev.caskade.cluster.ClusterOptions;
import java.io.IOException;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.JedisPubSub;
import redis.clients.jedis.Pipeline;

/**
 * Issue 6: three cluster nodes on loopback, kept in one order by a real redis-server's stream, against the original
 * design's shape measured in the same run: every write a {@code SET} plus a {@code PUBLISH}, every node applying what
 * it hears into its own store; and (cluster.sharded, default true) the cluster with three shards on a three-master
 * Redis Cluster. Per system and repetition (alternating, so drift hits both): write throughput per node
 * and in total with {@code cluster.writers} threads per node for {@code cluster.seconds}, then write-on-A to
 * visible-on-B latency at a paced {@code cluster.rate} writes/s. Redis runs with {@code appendonly yes,
 * appendfsync everysec} for both. Writes `<out>.txt` and `<out>.json`.
 */
public final class ClusterBench {
    private static final int KEYS = 100_000;
    private static final int VALUE_BYTES = 100;

    private static PrintStream txt;

    private ClusterBench() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: ClusterBench <results path without extension>");
            System.exit(2);
        }
        Path out = Path.of(args[0]);
        int reps = Integer.getInteger("cluster.reps", 3);
        int writers = Integer.getInteger("cluster.writers", 4);
        int seconds = Integer.getInteger("cluster.seconds", 10);
        int rate = Integer.getInteger("cluster.rate", 1_000);
        Path data = Path.of(System.getProperty("cluster.data", "caskade-bench/target/cluster"));
        Files.createDirectories(out.toAbsolutePath().getParent());
        txt = new PrintStream(Files.newOutputStream(Path.of(out + ".txt")), true, StandardCharsets.UTF_8);
        Map<String, Object> json = new LinkedHashMap<>();
        Machine.describe(json);
        json.put("writersPerNode", writers);
        json.put("seconds", seconds);
        json.put("rate", rate);
        line(
                "# ClusterBench: 3 nodes, %d writer threads each, %d s; latency at %d writes/s; %d repetitions",
                writers, seconds, rate, reps);
        line("# load before: %s", Machine.loadavg());
        // cluster.sharded (default: when redis-cli is there to build a Redis Cluster): also three shards on a
        // three-master Redis Cluster (on the same cores: it shows the cost of sharding here, not the gain of machines)
        boolean redisCli = java.util.stream.Stream.of(
                        System.getenv().getOrDefault("PATH", "").split(":"))
                .anyMatch(d -> Files.isExecutable(Path.of(d, "redis-cli")));
        if (!redisCli) line("# no redis-cli on the PATH: the sharded system (a Redis Cluster) is left out");
        List<String> systems = Boolean.parseBoolean(System.getProperty("cluster.sharded", Boolean.toString(redisCli)))
                ? List.of("caskade", "sharded", "pubsub")
                : List.of("caskade", "pubsub");
        List<Object> runs = new ArrayList<>();
        for (int rep = 1; rep <= reps; rep++) {
            for (String system : systems) {
                BenchDir.delete(data);
                Files.createDirectories(data);
                if (system.equals("sharded")) {
                    Map<String, Object> r = sharded(data, writers, seconds, rate);
                    r.put("system", system);
                    r.put("rep", rep);
                    r.put("load", Machine.loadavg());
                    runs.add(r);
                    continue;
                }
                try (RedisServer redis = RedisServer.start(data.resolve("redis"))) {
                    Map<String, Object> r = system.equals("caskade")
                            ? caskade(redis.url(), data, 1, writers, seconds, rate)
                            : pubsub(redis, data, writers, seconds, rate);
                    r.put("system", system);
                    r.put("rep", rep);
                    r.put("load", Machine.loadavg());
                    runs.add(r);
                }
            }
        }
        json.put("runs", runs);
        json.put("loadAfter", Machine.loadavg());
        line("# load after: %s", Machine.loadavg());
        Files.writeString(Path.of(out + ".json"), Json.write(json));
        BenchDir.delete(data);
        System.out.println("cluster: results in " + out + ".txt and .json");
        System.exit(0);
    }

    // ---- Caskade cluster mode

    private static Map<String, Object> caskade(
            String redisUrl, Path data, int shards, int writers, int seconds, int rate) throws Exception {
        List<ClusterNode> nodes = new ArrayList<>();
        try {
            for (int i = 0; i < 3; i++) {
                nodes.add(ClusterNode.open(
                        data.resolve("node" + i),
                        ClusterOptions.parse(redisUrl + "/bench")
                                .withNodeId("n" + i)
                                .withShards(shards)));
            }
            Map<String, Object> r = new LinkedHashMap<>();
            long[] perNode = throughput(
                    seconds, writers, (node, rnd) -> nodes.get(node).store().put(key(rnd), value(rnd)));
            long[] head = new long[shards];
            for (ClusterNode n : nodes) {
                long[] p = n.positions();
                for (int i = 0; i < shards; i++) head[i] = Math.max(head[i], p[i]);
            }
            for (ClusterNode n : nodes) n.awaitPositions(head, java.time.Duration.ofSeconds(60));
            String digest = nodes.get(0).store().digest(new byte[0]).sha256();
            boolean same = nodes.stream()
                    .allMatch(n -> n.store().digest(new byte[0]).sha256().equals(digest));
            report(r, shards == 1 ? "caskade" : "sharded", perNode, seconds, same);

            // latency: paced writes on node 0, seen applied on node 1
            long[] sent = new long[rate * seconds + 1];
            LatencyHistogram visible = new LatencyHistogram();
            LatencyHistogram put = new LatencyHistogram();
            Object lock = new Object();
            nodes.get(1).onChange(new ClusterNode.Listener() {
                @Override
                public void commit(WatchEvent.Commit c) {
                    long now = System.nanoTime();
                    for (Change ch : c.changes()) {
                        String k = ch.keyString();
                        if (!k.startsWith("lat/")) continue;
                        int i = Integer.parseInt(k.substring(4));
                        synchronized (lock) {
                            visible.record(now - sent[i]);
                        }
                    }
                }
            });
            paced(rate, seconds, sent, i -> {
                long t0 = System.nanoTime();
                nodes.get(0).store().put("lat/" + i, "x".repeat(VALUE_BYTES));
                put.record(System.nanoTime() - t0);
            });
            Thread.sleep(500);
            synchronized (lock) {
                latency(r, shards == 1 ? "caskade" : "sharded", visible, put);
            }
            return r;
        } finally {
            for (ClusterNode n : nodes) n.close();
        }
    }

    // ---- Caskade cluster mode, three shards on a three-master Redis Cluster

    private static Map<String, Object> sharded(Path data, int writers, int seconds, int rate) throws Exception {
        List<RedisServer> masters = new ArrayList<>();
        try {
            for (int i = 0; i < 3; i++) masters.add(RedisServer.startClusterNode(data.resolve("redis" + i)));
            List<String> create = new ArrayList<>(List.of("redis-cli", "--cluster", "create"));
            for (RedisServer m : masters) create.add("127.0.0.1:" + m.port);
            create.addAll(List.of("--cluster-replicas", "0", "--cluster-yes"));
            Process p = new ProcessBuilder(create)
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .start();
            if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0)
                throw new IOException("redis-cli --cluster create failed");
            for (RedisServer m : masters) {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (true) {
                    try (Jedis j = new Jedis("127.0.0.1", m.port)) {
                        if (j.clusterInfo().contains("cluster_state:ok")) break;
                    }
                    if (System.nanoTime() > deadline) throw new IOException("Redis Cluster not ok");
                    Thread.sleep(50);
                }
            }
            return caskade(masters.getFirst().url(), data, 3, writers, seconds, rate);
        } finally {
            for (RedisServer m : masters) m.close();
        }
    }

    // ---- the original design: SET + PUBLISH per write, every node applies what it hears

    private static Map<String, Object> pubsub(RedisServer redis, Path data, int writers, int seconds, int rate)
            throws Exception {
        List<Caskade> stores = new ArrayList<>();
        List<Jedis> subscribers = new ArrayList<>();
        List<Thread> threads = new ArrayList<>();
        AtomicLongArray applied = new AtomicLongArray(3);
        long[] sent = new long[rate * seconds + 1];
        LatencyHistogram visible = new LatencyHistogram();
        Object lock = new Object();
        List<JedisPubSub> subs = new ArrayList<>();
        try {
            for (int i = 0; i < 3; i++) {
                Caskade db = Caskade.open(
                        data.resolve("node" + i), CaskadeOptions.defaults().withDurability(Durability.NONE));
                stores.add(db);
                int node = i;
                JedisPubSub sub = new JedisPubSub() {
                    @Override
                    public void onMessage(String channel, String message) {
                        int eq = message.indexOf('=');
                        String k = message.substring(0, eq);
                        db.put(k, message.substring(eq + 1));
                        applied.incrementAndGet(node);
                        if (node == 1 && k.startsWith("lat/")) {
                            long now = System.nanoTime();
                            int n = Integer.parseInt(k.substring(4));
                            synchronized (lock) {
                                visible.record(now - sent[n]);
                            }
                        }
                    }
                };
                subs.add(sub);
                Jedis j = new Jedis("127.0.0.1", redis.port);
                subscribers.add(j);
                Thread t = Thread.ofPlatform().name("pubsub-" + i).start(() -> j.subscribe(sub, "bench"));
                threads.add(t);
            }
            for (JedisPubSub s : subs) {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (!s.isSubscribed() && System.nanoTime() < deadline) Thread.sleep(5);
            }
            Map<String, Object> r = new LinkedHashMap<>();
            ThreadLocal<Jedis> conn = ThreadLocal.withInitial(() -> new Jedis("127.0.0.1", redis.port));
            List<Jedis> opened = java.util.Collections.synchronizedList(new ArrayList<>());
            long[] perNode = throughput(seconds, writers, (node, rnd) -> {
                Jedis j = conn.get();
                if (!opened.contains(j)) opened.add(j);
                String k = key(rnd);
                String v = value(rnd);
                Pipeline p = j.pipelined();
                p.set(k, v);
                p.publish("bench", k + "=" + v);
                p.sync();
            });
            // every node hears every message; wait until they applied all of them
            long published = 0;
            for (long n : perNode) published += n;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (System.nanoTime() < deadline) {
                boolean all = true;
                for (int i = 0; i < 3; i++) all &= applied.get(i) >= published;
                if (all) break;
                Thread.sleep(20);
            }
            String digest = stores.get(0).digest(new byte[0]).sha256();
            boolean same =
                    stores.stream().allMatch(s -> s.digest(new byte[0]).sha256().equals(digest));
            report(r, "pubsub", perNode, seconds, same);
            r.put("note", "no order across nodes, no catch-up after a disconnect, no compare-and-set");

            LatencyHistogram put = new LatencyHistogram();
            try (Jedis j = new Jedis("127.0.0.1", redis.port)) {
                paced(rate, seconds, sent, i -> {
                    long t0 = System.nanoTime();
                    String k = "lat/" + i;
                    String v = "x".repeat(VALUE_BYTES);
                    Pipeline p = j.pipelined();
                    p.set(k, v);
                    p.publish("bench", k + "=" + v);
                    p.sync();
                    stores.get(0).put(k, v); // the writer's own copy, as the original clients kept one
                    put.record(System.nanoTime() - t0);
                });
            }
            Thread.sleep(500);
            synchronized (lock) {
                latency(r, "pubsub", visible, put);
            }
            for (Jedis j : opened) j.close();
            return r;
        } finally {
            for (JedisPubSub s : subs) {
                try {
                    s.unsubscribe();
                } catch (RuntimeException ignored) {
                    // already gone
                }
            }
            for (Thread t : threads) t.join(5_000);
            for (Jedis j : subscribers) j.close();
            for (Caskade db : stores) db.close();
        }
    }

    // ---- shared

    interface Write {
        void run(int node, SplittableRandom rnd) throws Exception;
    }

    /** {@code writers} threads per node writing as fast as they can for {@code seconds}; writes per node. */
    private static long[] throughput(int seconds, int writers, Write write) throws InterruptedException {
        AtomicLongArray counts = new AtomicLongArray(3);
        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong failures = new AtomicLong();
        List<Thread> threads = new ArrayList<>();
        for (int node = 0; node < 3; node++) {
            for (int w = 0; w < writers; w++) {
                int n = node;
                SplittableRandom rnd = new SplittableRandom(31L * node + w);
                threads.add(Thread.ofPlatform().start(() -> {
                    while (!stop.get()) {
                        try {
                            write.run(n, rnd);
                            counts.incrementAndGet(n);
                        } catch (Exception e) {
                            if (failures.incrementAndGet() < 5) System.err.println("write failed: " + e);
                        }
                    }
                }));
            }
        }
        Thread.sleep(TimeUnit.SECONDS.toMillis(seconds));
        stop.set(true);
        for (Thread t : threads) t.join(30_000);
        long[] out = new long[3];
        for (int i = 0; i < 3; i++) out[i] = counts.get(i);
        if (failures.get() > 0) line("#   %d writes failed", failures.get());
        return out;
    }

    interface Indexed {
        void run(int i) throws Exception;
    }

    /** One write every 1/rate s for {@code seconds} (a missed slot goes at once); sent[i] = its start. */
    private static void paced(int rate, int seconds, long[] sent, Indexed write) throws Exception {
        long start = System.nanoTime();
        long interval = TimeUnit.SECONDS.toNanos(1) / rate;
        int total = rate * seconds;
        for (int i = 1; i <= total; i++) {
            long at = start + i * interval;
            long wait = at - System.nanoTime();
            if (wait > 0) TimeUnit.NANOSECONDS.sleep(wait);
            sent[i] = System.nanoTime();
            write.run(i);
        }
    }

    private static void report(Map<String, Object> r, String system, long[] perNode, int seconds, boolean same) {
        long total = 0;
        List<Double> rates = new ArrayList<>();
        for (long n : perNode) {
            total += n;
            rates.add(n / (double) seconds);
        }
        r.put("writesPerSecondPerNode", rates);
        r.put("writesPerSecondTotal", total / (double) seconds);
        r.put("converged", same);
        line(
                "%-8s throughput: total %,.0f writes/s; per node %s; same digest on every node: %s",
                system,
                total / (double) seconds,
                rates.stream().map(x -> String.format(Locale.ROOT, "%,.0f", x)).toList(),
                same);
    }

    private static void latency(Map<String, Object> r, String system, LatencyHistogram visible, LatencyHistogram put) {
        r.put("visibleOnB", visible.summary(1e6));
        r.put("writeCall", put.summary(1e6));
        line(
                "%-8s write on A -> visible on B: p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms (%d);"
                        + " the write call on A: p50 %.2f ms, p99 %.2f ms",
                system,
                visible.percentile(0.5) / 1e6,
                visible.percentile(0.99) / 1e6,
                visible.percentile(0.999) / 1e6,
                visible.max() / 1e6,
                visible.count(),
                put.percentile(0.5) / 1e6,
                put.percentile(0.99) / 1e6);
    }

    private static String key(SplittableRandom rnd) {
        return "k/" + rnd.nextInt(KEYS);
    }

    private static String value(SplittableRandom rnd) {
        char[] c = new char[VALUE_BYTES];
        for (int i = 0; i < c.length; i++) c[i] = (char) ('a' + rnd.nextInt(26));
        return new String(c);
    }

    private static void line(String format, Object... args) {
        String s = String.format(Locale.ROOT, format, args);
        System.out.println(s);
        txt.println(s);
    }

    /** A real redis-server on a free loopback port, appendonly yes / everysec, in {@code dir}. */
    static final class RedisServer implements AutoCloseable {
        final int port;
        private final Process process;

        private RedisServer(int port, Process process) {
            this.port = port;
            this.process = process;
        }

        String url() {
            return "redis://127.0.0.1:" + port;
        }

        static RedisServer start(Path dir) throws IOException, InterruptedException {
            int port;
            try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
                port = s.getLocalPort();
            }
            return start(dir, port, List.of());
        }

        /** A node of a Redis Cluster: cluster mode on, its bus on port + 10000. Not joined yet. */
        static RedisServer startClusterNode(Path dir) throws IOException, InterruptedException {
            for (int attempt = 0; attempt < 200; attempt++) {
                int port =
                        20000 + java.util.concurrent.ThreadLocalRandom.current().nextInt(25000);
                if (free(port) && free(port + 10000))
                    return start(
                            dir,
                            port,
                            List.of(
                                    "--cluster-enabled",
                                    "yes",
                                    "--cluster-config-file",
                                    dir.resolve("nodes.conf").toString()));
            }
            throw new IOException("no free port pair (P, P + 10000) on loopback");
        }

        private static boolean free(int port) {
            try {
                new ServerSocket(port, 1, java.net.InetAddress.getLoopbackAddress()).close();
                return true;
            } catch (IOException taken) {
                return false;
            }
        }

        private static RedisServer start(Path dir, int port, List<String> extra)
                throws IOException, InterruptedException {
            Files.createDirectories(dir);
            List<String> command = new ArrayList<>(List.of(
                    "redis-server",
                    "--port",
                    Integer.toString(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "everysec",
                    "--dir",
                    dir.toString(),
                    "--daemonize",
                    "no",
                    "--logfile",
                    dir.resolve("redis.log").toString()));
            command.addAll(extra);
            Process p = new ProcessBuilder(command)
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .start();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (true) {
                try (Jedis j = new Jedis("127.0.0.1", port)) {
                    if ("PONG".equals(j.ping())) break;
                } catch (RuntimeException e) {
                    if (System.nanoTime() > deadline) throw new IOException("redis-server did not start", e);
                    Thread.sleep(50);
                }
            }
            return new RedisServer(port, p);
        }

        @Override
        public void close() {
            process.destroy();
            try {
                if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                process.destroyForcibly();
            }
        }
    }
}
