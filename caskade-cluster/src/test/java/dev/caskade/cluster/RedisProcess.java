package dev.caskade.cluster;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import redis.clients.jedis.DefaultJedisClientConfig;
import redis.clients.jedis.HostAndPort;
import redis.clients.jedis.Jedis;

/**
 * A real {@code redis-server} on a free loopback port, with its append-only file in {@code dir}: started, stopped
 * (SIGTERM, so it flushes its AOF) and started again on the same port and data.
 */
public final class RedisProcess implements AutoCloseable {
    static final Path BINARY = Path.of("/usr/bin/redis-server");

    final Path dir;
    public final int port;
    private final List<String> extra;
    private Process process;

    private RedisProcess(Path dir, int port, List<String> extra) {
        this.dir = dir;
        this.port = port;
        this.extra = extra;
    }

    /**
     * Starts a node for a Redis Cluster: cluster mode on, its cluster bus on {@code port + 10000} (both free). Not
     * joined to anything yet: see {@link RedisCluster}.
     */
    static RedisProcess startClusterNode(Path dir) {
        assumeTrue(
                Files.isExecutable(BINARY),
                "cluster tests need a real Redis: " + BINARY + " is missing (apt-get install redis-server)");
        RedisProcess r = new RedisProcess(
                dir,
                freePortWithBus(),
                List.of(
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        dir.resolve("nodes.conf").toString(),
                        "--cluster-node-timeout",
                        "2000"));
        r.start();
        return r;
    }

    /** Starts one; skips the test when redis-server is not installed. */
    public static RedisProcess start(Path dir) {
        assumeTrue(
                Files.isExecutable(BINARY),
                "cluster tests need a real Redis: " + BINARY + " is missing (apt-get install redis-server)");
        RedisProcess r = new RedisProcess(dir, freePort(), List.of());
        r.start();
        return r;
    }

    public String url(String cluster) {
        return "redis://127.0.0.1:" + port + "/" + cluster;
    }

    public void start() {
        try {
            Files.createDirectories(dir);
            List<String> command = new ArrayList<>(List.of(
                    BINARY.toString(),
                    "--port",
                    Integer.toString(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "yes",
                    "--dir",
                    dir.toString(),
                    "--daemonize",
                    "no"));
            command.addAll(extra);
            process = new ProcessBuilder(command)
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(
                            dir.resolve("redis.log").toFile()))
                    .start();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            try (Jedis j = new Jedis(
                    new HostAndPort("127.0.0.1", port),
                    DefaultJedisClientConfig.builder()
                            .autoNegotiateProtocol(false)
                            .timeoutMillis(500)
                            .build())) {
                if ("PONG".equals(j.ping())) return;
            } catch (RuntimeException e) {
                if (System.nanoTime() > deadline || !process.isAlive())
                    throw new IllegalStateException("redis-server did not start on port " + port + ": " + log(), e);
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }
    }

    /** SIGTERM: Redis writes out its append-only file and exits. */
    public void stop() {
        if (process == null) return;
        process.destroy();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        process = null;
    }

    public String log() {
        try {
            return Files.readString(dir.resolve("redis.log"));
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    @Override
    public void close() {
        stop();
    }

    /** A free port P whose P + 10000 (a cluster node's bus) is free too. */
    static int freePortWithBus() {
        for (int attempt = 0; attempt < 200; attempt++) {
            int p = 20000 + java.util.concurrent.ThreadLocalRandom.current().nextInt(25000);
            if (free(p) && free(p + 10000)) return p;
        }
        throw new IllegalStateException("no free port pair (P, P + 10000) on loopback");
    }

    private static boolean free(int port) {
        try {
            new ServerSocket(port, 1, java.net.InetAddress.getLoopbackAddress()).close();
            return true;
        } catch (IOException taken) {
            return false;
        }
    }

    static int freePort() {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
