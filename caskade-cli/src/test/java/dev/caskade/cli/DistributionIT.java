package dev.caskade.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The tarball that {@code mvn package} built (failsafe runs this after the package phase): unpacked in a temporary
 * directory, its {@code bin/caskade} runs with a PATH that holds only the few tools the script uses and a Java,
 * so neither Maven nor the checkout can be involved.
 */
@Timeout(180)
class DistributionIT {

    @TempDir
    static Path dir;

    static Path home;

    /** A directory that is the whole PATH: the launcher's tools, and no mvn. */
    static Path tools;

    @BeforeAll
    static void unpack() throws Exception {
        Path tarball = Path.of(System.getProperty("caskade.dist", "target/caskade-unknown.tar.gz"));
        assertThat(tarball).as("mvn package builds the tarball").isRegularFile();
        Result tar = run(List.of("tar", "-xzf", tarball.toString(), "-C", dir.toString()), Map.of(), dir);
        assertThat(tar.code()).as("%s", tar).isZero();
        home = dir.resolve("caskade-" + System.getProperty("caskade.version"));
        tools = Files.createDirectories(dir.resolve("tools"));
        for (String tool : List.of("bash", "env", "dirname", "readlink", "sed", "locale")) {
            Path found = which(tool);
            if (found != null) Files.createSymbolicLink(tools.resolve(tool), found);
        }
    }

    @Test
    void theTarballHoldsTheLauncherAndTheJars() throws IOException {
        Path launcher = home.resolve("bin/caskade");
        assertThat(launcher).isRegularFile();
        assertThat(Files.isExecutable(launcher)).as("bin/caskade is executable").isTrue();
        assertThat(Files.readString(launcher)).doesNotContain("mvn");
        assertThat(home.resolve("lib/caskade-cli.jar")).isRegularFile();
        assertThat(home.resolve("lib/caskade-core.jar")).isRegularFile();
        assertThat(home.resolve("lib/picocli.jar")).isRegularFile();
        try (var jars = Files.list(home.resolve("lib"))) {
            assertThat(jars.map(p -> p.getFileName().toString()))
                    .as("no test-only jars")
                    .noneMatch(n -> n.contains("junit") || n.contains("s3proxy") || n.contains("assertj"));
        }
    }

    @Test
    void versionAndServeHelpRunWithTheJavaInJavaHome() throws Exception {
        Map<String, String> env = Map.of("PATH", tools.toString(), "JAVA_HOME", System.getProperty("java.home"));
        Result version = caskade(env, "--version");
        assertThat(version.code()).as("%s", version).isZero();
        assertThat(version.out()).startsWith("caskade " + System.getProperty("caskade.version") + "\n");

        Result help = caskade(env, "serve", "--help");
        assertThat(help.code()).as("%s", help).isZero();
        assertThat(help.out()).contains("Usage: caskade serve", "--follow=URL", "--replicate-to=URL", "--check-args");
        assertThat(help.err()).isEmpty();
    }

    @Test
    void theLauncherPassesOverAnOldJavaHomeAndFindsTheJavaOnPath() throws Exception {
        // JAVA_HOME names a Java 17 (a release file says so; its java would fail loudly if it were run)
        Path old = Files.createDirectories(dir.resolve("jdk-17/bin"));
        Files.writeString(old.getParent().resolve("release"), "JAVA_VERSION=\"17.0.12\"\n");
        Path oldJava = old.resolve("java");
        Files.writeString(oldJava, "#!/bin/sh\necho 'the old java ran' >&2\nexit 3\n");
        Files.setPosixFilePermissions(oldJava, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path withJava = Files.createDirectories(dir.resolve("tools-with-java"));
        for (File f : tools.toFile().listFiles()) Files.createSymbolicLink(withJava.resolve(f.getName()), f.toPath());
        if (!Files.exists(withJava.resolve("java")))
            Files.createSymbolicLink(withJava.resolve("java"), Path.of(System.getProperty("java.home"), "bin/java"));
        Map<String, String> env =
                Map.of("PATH", withJava.toString(), "JAVA_HOME", old.getParent().toString());

        // and the launcher is run through a symlink, as from /usr/local/bin
        Path link = Files.createDirectories(dir.resolve("usr-local-bin")).resolve("caskade");
        if (!Files.exists(link, java.nio.file.LinkOption.NOFOLLOW_LINKS))
            Files.createSymbolicLink(link, home.resolve("bin/caskade"));
        Result version = run(List.of(link.toString(), "--version"), env, dir);
        assertThat(version.code()).as("%s", version).isZero();
        assertThat(version.out()).startsWith("caskade ");
        assertThat(version.err()).doesNotContain("the old java ran");
    }

    @Test
    void aStoreCommandAndTheCompletionScriptRunFromTheTarball() throws Exception {
        Map<String, String> env = Map.of("PATH", tools.toString(), "JAVA_HOME", System.getProperty("java.home"));
        Path data = dir.resolve("store");
        Result put = caskade(env, "put", "--data", data.toString(), "greeting", "hello");
        assertThat(put.code()).as("%s", put).isZero();
        Result get = caskade(env, "get", "--data", data.toString(), "greeting");
        assertThat(get.out()).as("%s", get).isEqualTo("hello\n");
        Result completion = caskade(env, "generate-completion");
        assertThat(completion.code()).as("%s", completion).isZero();
        assertThat(completion.out()).contains("complete -F _complete_caskade");
    }

    @Test
    void aClusterNodeServesFromTheTarball() throws Exception {
        // the cluster's Redis client must be in the tarball, not only on the tests' class path
        try (var jars = Files.list(home.resolve("lib"))) {
            assertThat(jars.map(p -> p.getFileName().toString())).anyMatch(n -> n.startsWith("jedis"));
        }
        try (dev.caskade.cluster.RedisProcess redis = dev.caskade.cluster.RedisProcess.start(dir.resolve("redis"))) {
            int http = freePort();
            int resp = freePort();
            List<String> command = List.of(
                    home.resolve("bin/caskade").toString(),
                    "serve",
                    "--cluster",
                    redis.url("dist"),
                    "--cluster-shards",
                    "2",
                    "--data",
                    dir.resolve("node").toString(),
                    "--http-port",
                    Integer.toString(http),
                    "--resp-port",
                    Integer.toString(resp));
            ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile());
            pb.environment().clear();
            pb.environment().putAll(Map.of("PATH", tools.toString(), "JAVA_HOME", System.getProperty("java.home")));
            Path log = dir.resolve("node.log");
            Process node =
                    pb.redirectErrorStream(true).redirectOutput(log.toFile()).start();
            try {
                var client = java.net.http.HttpClient.newHttpClient();
                java.net.URI key = java.net.URI.create("http://127.0.0.1:" + http + "/v1/kv/greeting");
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                int status = 0;
                while (System.nanoTime() < deadline && node.isAlive()) {
                    try {
                        status = client.send(
                                        java.net.http.HttpRequest.newBuilder(key)
                                                .PUT(java.net.http.HttpRequest.BodyPublishers.ofString("hello"))
                                                .build(),
                                        java.net.http.HttpResponse.BodyHandlers.discarding())
                                .statusCode();
                        if (status == 200) break;
                    } catch (IOException notYet) {
                        // not listening yet
                    }
                    Thread.sleep(200);
                }
                assertThat(status)
                        .as("a write through the node: %s", Files.readString(log))
                        .isEqualTo(200);
                var got = client.send(
                        java.net.http.HttpRequest.newBuilder(key).build(),
                        java.net.http.HttpResponse.BodyHandlers.ofString());
                assertThat(got.body()).contains("hello");
            } finally {
                node.destroy();
                if (!node.waitFor(20, TimeUnit.SECONDS)) node.destroyForcibly();
            }
        }
    }

    private static int freePort() throws IOException {
        try (var s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private record Result(int code, String out, String err) {}

    private static Result caskade(Map<String, String> env, String... args) throws Exception {
        List<String> command =
                new ArrayList<>(List.of(home.resolve("bin/caskade").toString()));
        command.addAll(List.of(args));
        return run(command, env, dir);
    }

    private static Result run(List<String> command, Map<String, String> env, Path cwd) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(command).directory(cwd.toFile());
        pb.environment().clear();
        pb.environment().putAll(env);
        pb.environment().putIfAbsent("PATH", System.getenv().getOrDefault("PATH", "/usr/bin:/bin"));
        Path out = Files.createTempFile(dir, "out", ".txt");
        Path err = Files.createTempFile(dir, "err", ".txt");
        Process p = pb.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(out.toFile())
                .redirectError(err.toFile())
                .start();
        boolean done = p.waitFor(60, TimeUnit.SECONDS);
        if (!done) p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        assertThat(done).as("%s finished within 60 s", command).isTrue();
        return new Result(
                p.exitValue(),
                Files.readString(out, StandardCharsets.UTF_8),
                Files.readString(err, StandardCharsets.UTF_8));
    }

    private static Path which(String tool) {
        for (String d : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(File.pathSeparator)) {
            Path p = Path.of(d, tool);
            if (Files.isExecutable(p)) return p;
        }
        return null;
    }
}
