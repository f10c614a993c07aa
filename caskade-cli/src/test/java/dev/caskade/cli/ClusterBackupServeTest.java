package dev.caskade.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.caskade.Entry;
import dev.caskade.client.CaskadeClient;
import dev.caskade.client.ClientOptions;
import dev.caskade.cluster.ClusterNode;
import dev.caskade.cluster.ClusterOptions;
import dev.caskade.cluster.RedisProcess;
import dev.caskade.s3.S3ProxyFixture;
import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.resps.StreamEntry;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code serve --cluster --bootstrap-from s3://...} with the real {@code bin/caskade}: node a ships the cluster's
 * state to S3 (S3Proxy on loopback) with {@code --replicate-to}, and stops; the stream, kept short by {@code
 * --cluster-retention}, no longer starts at 1; a new node b, with no peer able to give it a snapshot, restores the
 * backup, converges and goes on applying the stream, with what a {@link ClusterNode} in this JVM writes (it serves
 * no HTTP, so it is no peer). S3 credentials reach the processes as in a deployment:
 * AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
 */
@Timeout(120)
class ClusterBackupServeTest {
    private static final String BUCKET = "caskade-cluster";
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final HttpClient HTTP =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @TempDir
    Path dir;

    private RedisProcess redis;
    private S3ProxyFixture s3;
    private final List<Process> started = new ArrayList<>();
    private final List<AutoCloseable> open = new ArrayList<>();

    @BeforeEach
    void start() {
        redis = RedisProcess.start(dir.resolve("redis"));
        s3 = S3ProxyFixture.start(dir.resolve("s3"), true); // lenient: as S3, it takes the SDK's checksum headers
        s3.createBucket(BUCKET);
    }

    @AfterEach
    void stop() throws Exception {
        for (Process p : started) p.destroyForcibly();
        for (int i = open.size() - 1; i >= 0; i--) open.get(i).close();
        if (s3 != null) s3.close();
        if (redis != null) redis.close();
    }

    /** A running {@code bin/caskade}; stdout and stderr go to files, so a chatty process never blocks. */
    private record Child(Process process, Path out, Path err) {
        String stdout() throws IOException {
            return Files.readString(out);
        }

        String stderr() throws IOException {
            return Files.readString(err);
        }

        /** SIGTERM, then waits for a clean stop: the JVM's exit code after SIGTERM is 143. */
        void stop() throws Exception {
            process.destroy();
            assertThat(process.waitFor(30, TimeUnit.SECONDS))
                    .as("stops on SIGTERM")
                    .isTrue();
            assertThat(process.exitValue()).as("%s", this).isEqualTo(143);
        }

        @Override
        public String toString() {
            try {
                return "--- stdout:\n" + stdout() + "--- stderr:\n" + stderr();
            } catch (IOException e) {
                return e.toString();
            }
        }
    }

    private Child caskade(String... args) throws IOException {
        Path root = LauncherTest.repositoryRoot();
        assumeTrue(root != null, "bin/caskade not found above " + System.getProperty("user.dir"));
        List<String> command =
                new ArrayList<>(List.of(root.resolve("bin/caskade").toString()));
        command.addAll(List.of(args));
        String name = args[0] + "-" + started.size();
        ProcessBuilder pb = new ProcessBuilder(command)
                .directory(dir.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(dir.resolve(name + ".out").toFile())
                .redirectError(dir.resolve(name + ".err").toFile());
        Map<String, String> env = pb.environment();
        env.keySet().removeIf(k -> k.startsWith("CASKADE_") || k.startsWith("AWS_"));
        env.put("CASKADE_CLASSPATH", LauncherTest.classPath());
        env.put("JAVA_HOME", System.getProperty("java.home"));
        env.put("CASKADE_JAVA_OPTS", "-Dlogback.statusListenerClass=ch.qos.logback.core.status.NopStatusListener");
        env.put("AWS_ACCESS_KEY_ID", S3ProxyFixture.ACCESS_KEY);
        env.put("AWS_SECRET_ACCESS_KEY", S3ProxyFixture.SECRET_KEY);
        Process p = pb.start();
        started.add(p);
        return new Child(p, dir.resolve(name + ".out"), dir.resolve(name + ".err"));
    }

    /** Waits for node {@code id}'s startup line; returns a client of its HTTP port (from DIR/serve.json). */
    private CaskadeClient started(Child node, String id, Path data) {
        await().atMost(Duration.ofSeconds(60))
                .pollInterval(Duration.ofMillis(50))
                .failFast("the node exited", () -> !node.process().isAlive())
                .until(() -> node.stdout().startsWith("caskade node " + id + " ")
                        && Files.exists(data.resolve("serve.json")));
        int port = JSON.readTree(data.resolve("serve.json").toFile())
                .path("httpPort")
                .asInt();
        CaskadeClient c = CaskadeClient.connect(URI.create("http://127.0.0.1:" + port), ClientOptions.defaults());
        open.add(c);
        return c;
    }

    private static JsonNode status(CaskadeClient c) throws Exception {
        HttpResponse<String> r = HTTP.send(
                HttpRequest.newBuilder(URI.create(c.base() + "/v1/status")).build(),
                HttpResponse.BodyHandlers.ofString());
        return JSON.readTree(r.body());
    }

    @Test
    void aNewNodeWithNoPeerRestoresTheClustersBackupFromS3AndFollowsTheStream() throws Exception {
        String cluster = redis.url("shop");
        String s3Url = "s3://" + BUCKET + "/shop";
        String endpoint = s3.endpoint().toString();
        Path aData = dir.resolve("a");
        Child a = caskade(
                "serve",
                "--data",
                aData.toString(),
                "--resp-port",
                "0",
                "--http-port",
                "0",
                "--cluster",
                cluster,
                "--node-id",
                "a",
                "--cluster-retention",
                "100",
                "--replicate-to",
                s3Url,
                "--s3-endpoint",
                endpoint,
                "--sync-interval",
                "100ms");
        CaskadeClient onA = started(a, "a", aData);

        ClusterNode writer = ClusterNode.open(
                dir.resolve("writer"),
                ClusterOptions.parse(cluster).withNodeId("writer").withRetention(100));
        open.add(writer); // in this JVM, serving no HTTP: it is no node's peer
        // written on a, which answers once it applied each: a never falls behind the short stream itself
        for (int i = 0; i < 600; i++) {
            if (i % 10 == 9) onA.delete("cart/" + (i + 3) % 70);
            else onA.put("cart/" + i % 70, "v" + i);
        }
        long revision = onA.put("from-a/last", "y");
        assertThat(writer.awaitRevision(revision, WAIT)).isTrue();
        await().atMost(WAIT)
                .pollInterval(Duration.ofMillis(100))
                .failFast("a exited", () -> !a.process().isAlive())
                .untilAsserted(() -> assertThat(status(onA)
                                .path("replication")
                                .get(0)
                                .path("shippedRevision")
                                .asLong())
                        .isEqualTo(revision));
        a.stop(); // no node serves a snapshot now: b can only restore the backup

        try (Jedis j = new Jedis("127.0.0.1", redis.port)) {
            List<StreamEntry> first = j.xrange("caskade:{shop}:log", "-", "+", 1);
            assertThat(first.getFirst().getID().getTime())
                    .as("the stream no longer starts at 1")
                    .isGreaterThan(1);
        }

        Path bData = dir.resolve("b");
        Child b = caskade(
                "serve",
                "--data",
                bData.toString(),
                "--resp-port",
                "0",
                "--http-port",
                "0",
                "--cluster",
                cluster,
                "--node-id",
                "b",
                "--cluster-retention",
                "100",
                "--bootstrap-from",
                s3Url,
                "--s3-endpoint",
                endpoint);
        CaskadeClient onB = started(b, "b", bData);
        assertThat(b.stdout()).contains("bootstrap from " + s3Url);
        await().atMost(WAIT)
                .pollInterval(Duration.ofMillis(100))
                .failFast("b exited", () -> !b.process().isAlive())
                .ignoreExceptions() // the listeners restart, on the same ports, when the backup is swapped in
                .untilAsserted(() -> {
                    JsonNode s = status(onB).path("cluster");
                    assertThat(s.path("revision").asLong()).as("%s", s).isEqualTo(revision);
                    assertThat(s.path("bootstraps").asLong()).as("%s", s).isEqualTo(1);
                    assertThat(s.path("state").asString()).as("%s", s).isEqualTo("live");
                });
        assertThat(onB.digest("").sha256())
                .isEqualTo(writer.store().digest(new byte[0]).sha256());
        assertThat(onB.get("from-a/last")).map(Entry::valueString).contains("y");

        // b goes on with the stream: what others write reaches it, what it writes reaches them
        long after = writer.store().put("after", "yes");
        await().atMost(WAIT)
                .untilAsserted(
                        () -> assertThat(onB.get("after")).map(Entry::revision).contains(after));
        long fromB = onB.put("from-b", "1");
        assertThat(writer.awaitRevision(fromB, WAIT)).isTrue();
        assertThat(writer.store().get("from-b")).map(Entry::valueString).contains("1");
        b.stop();
        assertThat(b.stderr()).contains("loaded the backup at " + s3Url).doesNotContain(" ERROR ");
    }
}
