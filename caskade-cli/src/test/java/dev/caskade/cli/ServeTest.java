package dev.caskade.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.caskade.Caskade;
import dev.caskade.Entry;
import dev.caskade.server.Credential;
import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetSocketAddress;
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
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Runs the real {@code bin/caskade serve} as a process, talks to both ports, and stops it with SIGTERM. */
class ServeTest {
    @TempDir
    Path dir;

    private ProcessBuilder caskade(String... args) {
        Path root = LauncherTest.repositoryRoot();
        assumeTrue(root != null, "bin/caskade not found above " + System.getProperty("user.dir"));
        List<String> command =
                new ArrayList<>(List.of(root.resolve("bin/caskade").toString()));
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile());
        Map<String, String> env = pb.environment();
        env.keySet().removeIf(k -> k.startsWith("CASKADE_")); // only what a test sets
        // the classes this test run compiled: no Maven build may start inside the test run
        env.put("CASKADE_CLASSPATH", LauncherTest.classPath());
        env.put("JAVA_HOME", System.getProperty("java.home"));
        return pb.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
    }

    @Test
    void servesBothProtocolsAndStopsCleanlyOnSigterm() throws Exception {
        Path data = dir.resolve("store");
        Process server = caskade(
                        "serve",
                        "--data",
                        data.toString(),
                        "--resp-port",
                        "0",
                        "--http-port",
                        "0",
                        "--durability",
                        "sync")
                .start();
        try {
            String banner = banner(server);
            assertThat(banner).as("startup line").isNotNull();
            String serveJson = Files.readString(data.resolve("serve.json"));
            int resp = intField(serveJson, "respPort");
            int http = intField(serveJson, "httpPort");
            assertThat(banner).contains(":" + resp).contains(":" + http);

            HttpClient client = HttpClient.newBuilder()
                    .connectTimeout(Duration.ofSeconds(5))
                    .build();
            HttpResponse<String> health = client.send(
                    HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + http + "/healthz"))
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(health.statusCode()).isEqualTo(200);
            HttpResponse<String> put = client.send(
                    HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + http + "/v1/kv/greeting"))
                            .PUT(HttpRequest.BodyPublishers.ofString("hello"))
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(put.statusCode()).as(put.body()).isEqualTo(200);

            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", resp), 5_000);
                s.setSoTimeout(10_000);
                OutputStream out = s.getOutputStream();
                out.write("*2\r\n$3\r\nGET\r\n$8\r\ngreeting\r\n".getBytes(StandardCharsets.US_ASCII));
                out.flush();
                byte[] reply = new byte[11];
                int n = 0;
                while (n < reply.length) {
                    int r = s.getInputStream().read(reply, n, reply.length - n);
                    if (r < 0) break;
                    n += r;
                }
                assertThat(new String(reply, 0, n, StandardCharsets.US_ASCII)).isEqualTo("$5\r\nhello\r\n");
            }

            HttpResponse<String> metrics = client.send(
                    HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + http + "/metrics"))
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(metrics.body())
                    .containsPattern("(?m)^caskade_resp_commands_total [1-9]")
                    .containsPattern("(?m)^caskade_revision 1\\.0$");

            new ProcessBuilder("kill", "-TERM", Long.toString(server.pid()))
                    .start()
                    .waitFor(10, TimeUnit.SECONDS);
            assertThat(server.waitFor(30, TimeUnit.SECONDS))
                    .as("stops on SIGTERM")
                    .isTrue();
            String err = new String(server.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(err).doesNotContain("Exception");
        } finally {
            server.destroyForcibly();
        }
        // graceful stop: the lock is released, the write is durable, serve.json is gone
        try (Caskade db = Caskade.open(data)) {
            assertThat(db.get("greeting")).map(Entry::valueString).contains("hello");
        }
        assertThat(data.resolve("serve.json")).doesNotExist();
    }

    /**
     * {@code serve --follow}: a second process copies the first, answers reads from its copy and forwards writes,
     * which it can read back as soon as they return; INFO replication names its primary.
     */
    @Test
    void aFollowerProcessServesACopyAndForwardsWrites() throws Exception {
        Path primaryData = dir.resolve("primary");
        Path followerData = dir.resolve("follower");
        Process primary = caskade("serve", "--data", primaryData.toString(), "--resp-port", "0", "--http-port", "0")
                .start();
        Process follower = null;
        try {
            assertThat(banner(primary)).as("primary startup line").isNotNull();
            int primaryHttp = intField(Files.readString(primaryData.resolve("serve.json")), "httpPort");
            HttpClient client = HttpClient.newBuilder()
                    .connectTimeout(Duration.ofSeconds(5))
                    .build();
            String primaryUrl = "http://127.0.0.1:" + primaryHttp;
            assertThat(send(client, "PUT", primaryUrl + "/v1/kv/app%2Fa", "1").statusCode())
                    .isEqualTo(200);

            follower = caskade(
                            "serve",
                            "--follow",
                            primaryUrl,
                            "--prefix",
                            "app/",
                            "--data",
                            followerData.toString(),
                            "--resp-port",
                            "0",
                            "--http-port",
                            "0")
                    .start();
            String banner = banner(follower);
            assertThat(banner).as("follower startup line").startsWith("caskade following " + primaryUrl);
            String serveJson = Files.readString(followerData.resolve("serve.json"));
            int http = intField(serveJson, "httpPort");
            int resp = intField(serveJson, "respPort");
            String url = "http://127.0.0.1:" + http;

            assertThat(send(client, "GET", url + "/v1/kv/app%2Fa", null).body()).isEqualTo("1");
            assertThat(send(client, "PUT", url + "/v1/kv/app%2Fb", "2").statusCode())
                    .isEqualTo(200);
            assertThat(send(client, "GET", url + "/v1/kv/app%2Fb", null).body()).isEqualTo("2");
            assertThat(send(client, "GET", primaryUrl + "/v1/kv/app%2Fb", null).body())
                    .isEqualTo("2");
            assertThat(send(client, "GET", url + "/v1/status", null).body())
                    .contains("\"role\":\"follower\"", "\"primary\":\"" + primaryUrl + "\"");
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", resp), 5_000);
                s.setSoTimeout(10_000);
                s.getOutputStream()
                        .write("*2\r\n$4\r\nINFO\r\n$11\r\nreplication\r\n".getBytes(StandardCharsets.US_ASCII));
                byte[] buf = new byte[4096];
                int n = s.getInputStream().read(buf);
                assertThat(new String(buf, 0, n, StandardCharsets.US_ASCII))
                        .contains("role:slave", "master_port:" + primaryHttp, "master_link_status:up");
            }
            new ProcessBuilder("kill", "-TERM", Long.toString(follower.pid()))
                    .start()
                    .waitFor(10, TimeUnit.SECONDS);
            assertThat(follower.waitFor(30, TimeUnit.SECONDS))
                    .as("stops on SIGTERM")
                    .isTrue();
            assertThat(new String(follower.getErrorStream().readAllBytes(), StandardCharsets.UTF_8))
                    .doesNotContain("Exception");
        } finally {
            if (follower != null) follower.destroyForcibly();
            primary.destroyForcibly();
        }
        // its copy is a store like any other, with the primary's revisions
        try (Caskade db = Caskade.open(followerData.resolve("store"))) {
            assertThat(db.get("app/b")).map(Entry::valueString).contains("2");
            assertThat(db.revision()).isEqualTo(2);
        }
    }

    @Test
    void followFlagsWithoutFollowAreUsageErrors() throws Exception {
        Process p = caskade("serve", "--data", dir.resolve("s").toString(), "--read-only")
                .start();
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).isEqualTo(Main.USAGE);
        assertThat(new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8))
                .contains("--prefix and --read-only need --follow");
        Process q = caskade("serve", "--data", dir.resolve("t").toString(), "--follow", "ftp://x")
                .start();
        assertThat(q.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(q.exitValue()).isEqualTo(Main.USAGE);
        assertThat(new String(q.getErrorStream().readAllBytes(), StandardCharsets.UTF_8))
                .contains("--follow needs http://host:port");
        assertThat(dir.resolve("s")).doesNotExist();

        // a primary's directory is not a follower's, and the other way round
        Path primary = dir.resolve("p");
        try (Caskade db = Caskade.open(primary)) {
            db.put("k", "v");
        }
        Process r = caskade("serve", "--data", primary.toString(), "--follow", "http://127.0.0.1:1")
                .start();
        assertThat(r.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(r.exitValue()).isEqualTo(Main.USAGE);
        assertThat(new String(r.getErrorStream().readAllBytes(), StandardCharsets.UTF_8))
                .contains("holds a primary's store");
        Path follower = dir.resolve("f");
        try (Caskade db = Caskade.open(follower.resolve("store"))) {
            db.put("k", "v");
        }
        Process t = caskade("serve", "--data", follower.toString(), "--resp-port", "0", "--http-port", "0")
                .start();
        assertThat(t.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(t.exitValue()).isEqualTo(Main.USAGE);
        assertThat(new String(t.getErrorStream().readAllBytes(), StandardCharsets.UTF_8))
                .contains("holds a follower's copy");
    }

    private static HttpResponse<String> send(HttpClient client, String method, String url, String body)
            throws Exception {
        return client.send(
                HttpRequest.newBuilder(URI.create(url))
                        .method(
                                method,
                                body == null
                                        ? HttpRequest.BodyPublishers.noBody()
                                        : HttpRequest.BodyPublishers.ofString(body))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void refusesANonLoopbackAddressWithoutUsers() throws Exception {
        Process p = caskade(
                        "serve",
                        "--data",
                        dir.resolve("s").toString(),
                        "--bind",
                        "0.0.0.0",
                        "--resp-port",
                        "0",
                        "--http-port",
                        "0")
                .start();
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.exitValue()).isEqualTo(Main.FAILED);
        assertThat(err).contains("refusing to listen on 0.0.0.0").contains("--insecure");
    }

    /**
     * The config file (named by CASKADE_CONFIG) gives the users and everything else, the environment overrides
     * it, and a flag overrides the environment; paths in the file are relative to the file.
     */
    @Test
    void configFileUsersAndPrecedence() throws Exception {
        Path conf = Files.createDirectories(dir.resolve("conf"));
        String hash = Credential.password("app-pw", Credential.MIN_ITERATIONS).encoded();
        Path file = Files.writeString(conf.resolve("caskade.yaml"), """
                data: store          # relative to this file
                resp-port: 1         # the flag says 0
                http-port: 2         # CASKADE_HTTP_PORT says 0
                durability: none     # CASKADE_DURABILITY says interval:50
                users:
                  - name: app
                    password: "%s"
                    rules:
                      - { prefix: "app/", access: write }
                """.formatted(hash));
        ProcessBuilder pb = caskade("serve", "--resp-port", "0");
        pb.environment().put("CASKADE_CONFIG", file.toString());
        pb.environment().put("CASKADE_RESP_PORT", "1");
        pb.environment().put("CASKADE_HTTP_PORT", "0");
        pb.environment().put("CASKADE_DURABILITY", "interval:50");
        Process server = pb.start();
        Path data = conf.resolve("store");
        try {
            String banner = banner(server);
            assertThat(banner).as("startup line").isNotNull().contains("1 user").contains("interval:50");
            String serveJson = Files.readString(data.resolve("serve.json"));
            assertThat(serveJson).contains("\"durability\":\"interval:50\"");
            int resp = intField(serveJson, "respPort");
            int http = intField(serveJson, "httpPort");

            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", resp), 5_000);
                s.setSoTimeout(10_000);
                BufferedReader in =
                        new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
                assertThat(command(s, in, "SET", "app/k", "v")).isEqualTo("-NOAUTH Authentication required.");
                assertThat(command(s, in, "AUTH", "app", "wrong-pw"))
                        .isEqualTo("-WRONGPASS invalid username-password pair or user is disabled.");
                assertThat(command(s, in, "AUTH", "app", "app-pw")).isEqualTo("+OK");
                assertThat(command(s, in, "SET", "app/k", "v")).isEqualTo("+OK");
                assertThat(command(s, in, "SET", "other", "v")).isEqualTo("-NOPERM No permissions to access a key");
            }
            HttpClient client = HttpClient.newBuilder()
                    .connectTimeout(Duration.ofSeconds(5))
                    .build();
            URI uri = URI.create("http://127.0.0.1:" + http + "/v1/kv/app/k");
            assertThat(client.send(HttpRequest.newBuilder(uri).build(), HttpResponse.BodyHandlers.ofString())
                            .statusCode())
                    .isEqualTo(401);
            HttpResponse<String> get = client.send(
                    HttpRequest.newBuilder(uri)
                            .header(
                                    "Authorization",
                                    "Basic "
                                            + Base64.getEncoder()
                                                    .encodeToString("app:app-pw".getBytes(StandardCharsets.UTF_8)))
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(get.body()).isEqualTo("v");

            new ProcessBuilder("kill", "-TERM", Long.toString(server.pid()))
                    .start()
                    .waitFor(10, TimeUnit.SECONDS);
            assertThat(server.waitFor(30, TimeUnit.SECONDS))
                    .as("stops on SIGTERM")
                    .isTrue();
            String err = new String(server.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(err).doesNotContain("Exception").doesNotContain("app-pw").doesNotContain("wrong-pw");
        } finally {
            server.destroyForcibly();
        }
    }

    /** Sends one command and returns the first line of the reply. */
    private static String command(Socket s, BufferedReader in, String... args) throws IOException {
        StringBuilder sb = new StringBuilder("*").append(args.length).append("\r\n");
        for (String a : args)
            sb.append('$').append(a.length()).append("\r\n").append(a).append("\r\n");
        s.getOutputStream().write(sb.toString().getBytes(StandardCharsets.UTF_8));
        s.getOutputStream().flush();
        return in.readLine();
    }

    private static int intField(String json, String name) {
        Matcher m = Pattern.compile("\"" + name + "\"\\s*:\\s*(\\d+)").matcher(json);
        assertThat(m.find()).as("%s in %s", name, json).isTrue();
        return Integer.parseInt(m.group(1));
    }

    /** The server's startup line ("caskade serving …" or "caskade following …"), or null if none came in a minute. */
    private static String banner(Process server) throws InterruptedException {
        BlockingQueue<String> lines = new LinkedBlockingQueue<>();
        Thread.ofVirtual().start(() -> {
            try (BufferedReader r =
                    new BufferedReader(new InputStreamReader(server.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) lines.add(line);
            } catch (IOException e) {
                lines.add("read failed: " + e);
            }
        });
        String banner = lines.poll(60, TimeUnit.SECONDS);
        while (banner != null && !banner.startsWith("caskade serving") && !banner.startsWith("caskade following"))
            banner = lines.poll(60, TimeUnit.SECONDS);
        return banner;
    }
}
