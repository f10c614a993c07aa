package dev.caskade.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.caskade.s3.S3ProxyFixture;
import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The real {@code bin/caskade} as processes: {@code serve --replicate-to} a directory and S3 (S3Proxy on loopback)
 * with a {@code replicate} sidecar beside it, then {@code restore} from each gives the digest the server reported;
 * {@code serve --restore-if-empty}; the replication status in /v1/status, INFO and /metrics; /readyz with
 * {@code --max-replica-lag} against a dead destination; bad options at startup. S3 credentials reach the child
 * processes the way they reach a real deployment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
 */
@Timeout(120)
class ReplicationServeTest {
    private static final String BUCKET = "caskade-cli";
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final HttpClient HTTP =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @TempDir
    static Path s3data;

    static S3ProxyFixture s3;

    @TempDir
    Path dir;

    private final List<Process> started = new ArrayList<>();

    @BeforeAll
    static void startS3() {
        s3 = S3ProxyFixture.start(s3data);
        s3.createBucket(BUCKET);
    }

    @AfterAll
    static void stopS3() {
        if (s3 != null) s3.close();
    }

    @AfterEach
    void killLeftovers() {
        for (Process p : started) p.destroyForcibly();
    }

    /** A running {@code bin/caskade}: stdout and stderr go to files, so a chatty process never blocks. */
    private record Child(Process process, Path out, Path err) {
        String stdout() throws IOException {
            return Files.readString(out);
        }

        String stderr() throws IOException {
            return Files.readString(err);
        }

        /** SIGTERM, then waits (up to 30 s) for a clean stop: the JVM's exit code after SIGTERM is 143. */
        void stop() throws Exception {
            process.destroy(); // SIGTERM
            assertThat(process.waitFor(30, TimeUnit.SECONDS))
                    .as("stops on SIGTERM")
                    .isTrue();
            assertThat(process.exitValue()).as("%s", this).isEqualTo(143);
        }

        int exit() throws Exception {
            assertThat(process.waitFor(60, TimeUnit.SECONDS)).as("finishes").isTrue();
            return process.exitValue();
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

    private Child caskade(Map<String, String> extraEnv, String... args) throws IOException {
        Path root = LauncherTest.repositoryRoot();
        assumeTrue(root != null, "bin/caskade not found above " + System.getProperty("user.dir"));
        List<String> command =
                new ArrayList<>(List.of(root.resolve("bin/caskade").toString()));
        command.addAll(List.of(args));
        String name = args[0] + "-" + started.size();
        Path out = dir.resolve(name + ".out");
        Path err = dir.resolve(name + ".err");
        ProcessBuilder pb = new ProcessBuilder(command)
                .directory(dir.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(out.toFile())
                .redirectError(err.toFile());
        Map<String, String> env = pb.environment();
        env.keySet().removeIf(k -> k.startsWith("CASKADE_") || k.startsWith("AWS_"));
        env.put("CASKADE_CLASSPATH", LauncherTest.classPath());
        env.put("JAVA_HOME", System.getProperty("java.home"));
        // two logback-test.xml on the test class path (caskade-s3's test classes): logback's complaint would land
        // on stdout, which is the command's output
        env.put("CASKADE_JAVA_OPTS", "-Dlogback.statusListenerClass=ch.qos.logback.core.status.NopStatusListener");
        env.put("AWS_ACCESS_KEY_ID", S3ProxyFixture.ACCESS_KEY);
        env.put("AWS_SECRET_ACCESS_KEY", S3ProxyFixture.SECRET_KEY);
        env.putAll(extraEnv);
        Process p = pb.start();
        started.add(p);
        return new Child(p, out, err);
    }

    private Child caskade(String... args) throws IOException {
        return caskade(Map.of(), args);
    }

    /** Waits for the startup line; returns the HTTP port from DIR/serve.json. */
    private static int started(Child server, Path data) {
        await().atMost(Duration.ofSeconds(60))
                .pollInterval(Duration.ofMillis(50))
                .failFast("the server exited", () -> !server.process().isAlive())
                .until(() -> server.stdout().startsWith("caskade serving") && Files.exists(data.resolve("serve.json")));
        return JSON.readTree(data.resolve("serve.json").toFile())
                .path("httpPort")
                .asInt();
    }

    private static int respPort(Path data) {
        return JSON.readTree(data.resolve("serve.json").toFile())
                .path("respPort")
                .asInt();
    }

    private static HttpResponse<String> get(int port, String path) throws Exception {
        return HTTP.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private static void put(int port, String key, String value) throws Exception {
        HttpResponse<String> r = HTTP.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/kv/" + key))
                        .PUT(HttpRequest.BodyPublishers.ofString(value))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    }

    private static String info(int respPort, String section) throws IOException {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", respPort), 5_000);
            s.setSoTimeout(10_000);
            byte[] cmd = ("*2\r\n$4\r\nINFO\r\n$" + section.length() + "\r\n" + section + "\r\n")
                    .getBytes(StandardCharsets.US_ASCII);
            s.getOutputStream().write(cmd);
            var in = s.getInputStream();
            StringBuilder header = new StringBuilder();
            for (int c; (c = in.read()) != '\n'; ) header.append((char) c);
            int length = Integer.parseInt(header.substring(1).trim());
            return new String(in.readNBytes(length), StandardCharsets.UTF_8);
        }
    }

    @Test
    void shipsToADirectoryAndS3WithASidecarAndEveryRestoreGivesTheServersDigest() throws Exception {
        Path data = dir.resolve("store");
        Path destFile = dir.resolve("dest-file");
        Path destSidecar = dir.resolve("dest-sidecar");
        String s3Url = "s3://" + BUCKET + "/serve";
        String endpoint = s3.endpoint().toString();
        Child server = caskade(
                "serve",
                "--data",
                data.toString(),
                "--resp-port",
                "0",
                "--http-port",
                "0",
                "--replicate-to",
                "file://" + destFile,
                "--replicate-to",
                s3Url,
                "--s3-endpoint",
                endpoint,
                "--sync-interval",
                "100ms",
                "--validation-interval",
                "500ms",
                "--max-replica-lag",
                "30s");
        int http = started(server, data);
        assertThat(server.stdout()).contains("replicating to 2 destinations");
        Child sidecar = caskade(
                "replicate",
                "--data",
                data.toString(),
                "--to",
                destSidecar.toString(),
                "--sync-interval",
                "100ms",
                "--status-interval",
                "1s");
        for (int i = 0; i < 120; i++) put(http, "user/" + (i % 50), "value-" + i);
        long revision = 120;

        await().atMost(Duration.ofSeconds(30))
                .pollInterval(Duration.ofMillis(100))
                .failFast("the server exited", () -> !server.process().isAlive())
                .untilAsserted(() -> {
                    JsonNode status = JSON.readTree(get(http, "/v1/status").body());
                    JsonNode replication = status.path("replication");
                    assertThat(replication).hasSize(2);
                    for (JsonNode d : replication) {
                        assertThat(d.path("state").asString()).isEqualTo("shipping");
                        assertThat(d.path("breaker").asString()).isEqualTo("closed");
                        assertThat(d.path("shippedRevision").asLong()).isEqualTo(revision);
                        assertThat(d.path("lagRevisions").asLong()).isZero();
                        assertThat(d.path("requests").path("put").asLong()).isPositive();
                        assertThat(d.path("validation")
                                        .path("validatedRevision")
                                        .asLong())
                                .isEqualTo(revision);
                    }
                    assertThat(replication.get(1).path("url").asString()).isEqualTo(s3Url);
                });
        HttpResponse<String> ready = get(http, "/readyz");
        assertThat(ready.statusCode()).as(ready.body()).isEqualTo(200);

        String replicationInfo = info(respPort(data), "replication");
        assertThat(replicationInfo)
                .contains("role:master")
                .contains("caskade_destinations:2")
                .contains("dest0:url=file://" + destFile + ",state=shipping,breaker=closed,")
                .contains("dest1:url=" + s3Url + ",state=shipping,breaker=closed,")
                .contains("lag_revisions=0,");

        String metrics = get(http, "/metrics").body();
        String s3Tag = "destination=\"" + s3Url + "\"";
        assertThat(metrics)
                .contains("caskade_replication_lag_revisions{" + s3Tag + "} 0.0")
                .contains("caskade_replication_breaker_state{" + s3Tag + "} 0.0")
                .contains("caskade_replication_lag_seconds{" + s3Tag + "} ")
                .containsPattern("caskade_replication_uploaded_bytes_total\\{" + s3Tag + "} [1-9]")
                .containsPattern(
                        "caskade_replication_requests_total\\{" + s3Tag + ",outcome=\"ok\",type=\"put\"} [1-9]")
                .containsPattern("caskade_replication_validations_total\\{" + s3Tag + ",result=\"ok\"} [1-9]")
                .contains("caskade_replication_validations_total{" + s3Tag + ",result=\"mismatch\"} 0.0")
                .contains("caskade_replication_fallbacks_total{" + s3Tag + "} 0.0")
                .contains("caskade_replication_generations_total{" + s3Tag + "} 1.0");

        JsonNode digest = JSON.readTree(get(http, "/v1/digest").body());
        assertThat(digest.path("revision").asLong()).isEqualTo(revision);

        // the sidecar ships what the server's files hold, then SIGTERM makes it sync once more and stop
        await().atMost(Duration.ofSeconds(20))
                .pollInterval(Duration.ofMillis(100))
                .failFast("the sidecar exited", () -> !sidecar.process().isAlive())
                .until(() -> sidecar.stdout().contains("shipped=" + revision + "/" + revision));
        sidecar.stop();
        assertThat(sidecar.stdout())
                .startsWith("caskade replicating " + data)
                .containsPattern(" stopped breaker=closed generation=\\S+ shipped=" + revision + "/" + revision);
        server.stop();
        assertThat(server.stderr()).doesNotContain(" ERROR ").doesNotContain("could not run");

        List<Child> restores = List.of(
                caskade(
                        "restore",
                        "--from",
                        "file://" + destFile,
                        "--to",
                        dir.resolve("r-file").toString(),
                        "--json"),
                caskade(
                        "restore",
                        "--from",
                        s3Url,
                        "--s3-endpoint",
                        endpoint,
                        "--to",
                        dir.resolve("r-s3").toString(),
                        "--json"),
                caskade(
                        "restore",
                        "--from",
                        destSidecar.toString(),
                        "--to",
                        dir.resolve("r-side").toString(),
                        "--json"));
        for (Child r : restores) {
            assertThat(r.exit()).as("%s", r).isZero();
            JsonNode result = JSON.readTree(r.stdout());
            assertThat(result.path("revision").asLong()).as("%s", r).isEqualTo(revision);
            assertThat(result.path("keys").asLong())
                    .isEqualTo(digest.path("keys").asLong());
            assertThat(result.path("digest").asString())
                    .as("%s", r)
                    .isEqualTo(digest.path("digest").asString());
        }

        // a new server on an empty directory starts from the backup
        Path fresh = dir.resolve("fresh");
        Child restored = caskade(
                "serve",
                "--data",
                fresh.toString(),
                "--resp-port",
                "0",
                "--http-port",
                "0",
                "--restore-if-empty",
                s3Url,
                "--s3-endpoint",
                endpoint);
        int freshHttp = started(restored, fresh);
        JsonNode freshDigest = JSON.readTree(get(freshHttp, "/v1/digest").body());
        assertThat(freshDigest.path("digest").asString())
                .isEqualTo(digest.path("digest").asString());
        assertThat(freshDigest.path("revision").asLong()).isEqualTo(revision);
        restored.stop();
        assertThat(restored.stderr()).contains("restored " + s3Url);
    }

    @Test
    void readinessFailsWhileADestinationIsDownAndTheServerStillServes() throws Exception {
        int closedPort;
        try (ServerSocket s = new ServerSocket(0)) {
            closedPort = s.getLocalPort(); // closed again when the server starts: connections are refused
        }
        Path data = dir.resolve("store");
        Child server = caskade(
                "serve",
                "--data",
                data.toString(),
                "--resp-port",
                "0",
                "--http-port",
                "0",
                "--replicate-to",
                "s3://" + BUCKET + "/dead",
                "--s3-endpoint",
                "http://127.0.0.1:" + closedPort,
                "--breaker",
                "window=2,minimum-calls=2,open-wait=500ms,attempts=1",
                "--sync-interval",
                "100ms",
                "--max-replica-lag",
                "1s");
        int http = started(server, data);
        put(http, "k", "v"); // commits never wait for a destination
        await().atMost(Duration.ofSeconds(20))
                .pollInterval(Duration.ofMillis(100))
                .untilAsserted(() -> {
                    HttpResponse<String> r = get(http, "/readyz");
                    assertThat(r.statusCode()).as(r.body()).isEqualTo(503);
                    JsonNode body = JSON.readTree(r.body());
                    assertThat(body.path("status").asString()).isEqualTo("lagging");
                    assertThat(body.path("reason").asString())
                            .contains("s3://" + BUCKET + "/dead")
                            .contains("max-replica-lag 1 s");
                });
        assertThat(get(http, "/healthz").statusCode()).isEqualTo(200);
        JsonNode d = JSON.readTree(get(http, "/v1/status").body())
                .path("replication")
                .get(0);
        assertThat(d.path("state").asString()).isEqualTo("failing");
        assertThat(d.path("lagRevisions").asLong()).isEqualTo(1);
        assertThat(d.path("failures").asLong()).isPositive();
        assertThat(d.path("lastError").asString()).isNotEmpty();
        assertThat(info(respPort(data), "replication"))
                .contains("caskade_destinations_failing:1")
                .contains("state=failing");
        assertThat(get(http, "/metrics").body())
                .containsPattern("caskade_replication_failures_total\\{destination=\"s3://" + BUCKET + "/dead\"} [1-9]")
                .containsPattern("caskade_replication_requests_total\\{destination=\"s3://" + BUCKET
                        + "/dead\",outcome=\"transient_error\",type=\"get\"} [1-9]");
        put(http, "k2", "v2");
        server.stop();
    }

    @Test
    void aBadDestinationFailsAtStartWithExit64AndABadVariableWith1() throws Exception {
        Path data = dir.resolve("store");
        Child badUrl = caskade("serve", "--data", data.toString(), "--replicate-to", "ftp://example.com/x");
        assertThat(badUrl.exit()).as("%s", badUrl).isEqualTo(Main.USAGE);
        assertThat(badUrl.stderr().strip())
                .startsWith("caskade: replicate-to: unsupported destination scheme 'ftp'")
                .doesNotContain("\n");
        Child badEnv = caskade(
                Map.of("CASKADE_REPLICATE_TO", dir.resolve("d").toString(), "CASKADE_SYNC_INTERVAL", "often"),
                "serve",
                "--data",
                data.toString());
        assertThat(badEnv.exit()).as("%s", badEnv).isEqualTo(Main.FAILED);
        assertThat(badEnv.stderr().strip())
                .startsWith("caskade: CASKADE_SYNC_INTERVAL: bad duration 'often'")
                .doesNotContain("\n");
        Child badFlag = caskade("serve", "--data", data.toString(), "--pin-budget", "1TB");
        assertThat(badFlag.exit()).as("%s", badFlag).isEqualTo(Main.USAGE);
        assertThat(badFlag.stderr()).contains("--pin-budget").contains("bad size '1TB'");
        Child badPins = caskade(Map.of("CASKADE_PIN_BUDGET", "lots"), "serve", "--data", data.toString());
        assertThat(badPins.exit()).as("%s", badPins).isEqualTo(Main.FAILED);
        assertThat(badPins.stderr().strip())
                .startsWith("caskade: CASKADE_PIN_BUDGET: bad size 'lots'")
                .doesNotContain("\n");
        assertThat(data).doesNotExist();
    }
}
