package dev.caskade.cluster;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import redis.clients.jedis.Jedis;

/**
 * A real Redis Cluster on loopback: {@code masters} {@code redis-server} nodes in cluster mode, joined and given the
 * 16384 hash slots by {@code redis-cli --cluster create}, no replicas.
 */
public final class RedisCluster implements AutoCloseable {
    static final Path CLI = Path.of("/usr/bin/redis-cli");

    public final List<RedisProcess> nodes = new ArrayList<>();

    private RedisCluster() {}

    public static RedisCluster start(Path dir, int masters) {
        assumeTrue(Files.isExecutable(CLI), "Redis Cluster tests need " + CLI + " (apt-get install redis-tools)");
        RedisCluster c = new RedisCluster();
        try {
            for (int i = 0; i < masters; i++) c.nodes.add(RedisProcess.startClusterNode(dir.resolve("node-" + i)));
            List<String> create = new ArrayList<>(List.of(CLI.toString(), "--cluster", "create"));
            for (RedisProcess n : c.nodes) create.add("127.0.0.1:" + n.port);
            create.addAll(List.of("--cluster-replicas", "0", "--cluster-yes"));
            Process p = new ProcessBuilder(create).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0)
                throw new IllegalStateException("redis-cli --cluster create failed: " + out);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            for (RedisProcess n : c.nodes) {
                while (true) {
                    try (Jedis j = new Jedis("127.0.0.1", n.port)) {
                        if (j.clusterInfo().contains("cluster_state:ok")) break;
                    }
                    if (System.nanoTime() > deadline)
                        throw new IllegalStateException("Redis Cluster not ok on port " + n.port + ": " + out);
                    Thread.sleep(50);
                }
            }
            return c;
        } catch (IOException e) {
            c.close();
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            c.close();
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        } catch (RuntimeException e) {
            c.close();
            throw e;
        }
    }

    /** A cluster URL naming the first node: a node follows {@code MOVED} to the others. */
    public String url(String cluster) {
        return nodes.getFirst().url(cluster);
    }

    /** The port of the master that serves {@code key}'s slot (the others answer {@code MOVED}). */
    public int ownerOf(String key) {
        for (RedisProcess n : nodes) {
            try (Jedis j = new Jedis("127.0.0.1", n.port)) {
                j.exists(key);
                return n.port;
            } catch (redis.clients.jedis.exceptions.JedisMovedDataException elsewhere) {
                // not this one
            }
        }
        throw new IllegalStateException("no master serves " + key);
    }

    @Override
    public void close() {
        for (RedisProcess n : nodes) n.close();
    }
}
