package dev.caskade.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Runs the real {@code bin/caskade} as a process. CASKADE_CLASSPATH points it at the classes this test run
 * compiled, so the script never starts a Maven build inside the Maven build that runs this test.
 */
@Timeout(120)
class LauncherTest {

    @TempDir
    Path dir;

    /** The checkout holding bin/caskade, found from the test's working directory; null when there is none. */
    static Path repositoryRoot() {
        for (Path p = Path.of(System.getProperty("user.dir")).toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.exists(p.resolve("bin/caskade"))) return p;
        }
        return null;
    }

    /** The class path this test run uses (the CLI needs the server module and its dependencies too). */
    static String classPath() {
        return System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    }

    private record Result(int code, String out, String err) {}

    private ProcessBuilder caskade(String... args) throws Exception {
        Path root = repositoryRoot();
        assumeTrue(root != null, "bin/caskade not found above " + System.getProperty("user.dir"));
        List<String> command =
                new ArrayList<>(List.of(root.resolve("bin/caskade").toString()));
        command.addAll(List.of(args));
        // started from elsewhere: the script must not depend on the current directory
        ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile());
        Map<String, String> env = pb.environment();
        env.put("CASKADE_CLASSPATH", classPath());
        env.put("JAVA_HOME", System.getProperty("java.home"));
        env.remove("CASKADE_DATA");
        env.remove("CASKADE_JAVA_OPTS");
        return pb;
    }

    private Result run(String... args) throws Exception {
        Process p = caskade(args)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .start();
        // small outputs: read both after exit is safe below the pipe buffer
        boolean done = p.waitFor(60, TimeUnit.SECONDS);
        if (!done) p.destroyForcibly();
        assertThat(done)
                .as("bin/caskade %s finished in 60 s", String.join(" ", args))
                .isTrue();
        return new Result(
                p.exitValue(),
                new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8),
                new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8));
    }

    @Test
    void putThenGetThroughTheScript() throws Exception {
        String data = dir.resolve("store").toString();
        String value = "héllo wörld ✓ \"quoted\"";

        Result put = run("put", "--data", data, "greeting", value);
        assertThat(put.code()).as("%s", put).isZero();
        assertThat(put.out()).isEqualTo("1\n");
        assertThat(put.err()).as("no build inside the test run").doesNotContain("building");

        Result get = run("get", "--data", data, "greeting");
        assertThat(get.code()).as("%s", get).isZero();
        assertThat(get.out()).isEqualTo(value + "\n");

        Result json = run("get", "--data", data, "--json", "greeting");
        assertThat(json.out())
                .isEqualTo(
                        "{\"key\":\"greeting\",\"value\":\"héllo wörld ✓ \\\"quoted\\\"\",\"revision\":1,\"expiresAt\":0}\n");

        Result missing = run("get", "--data", data, "nope");
        assertThat(missing.code()).as("%s", missing).isEqualTo(1);
        assertThat(missing.out()).isEmpty();
        assertThat(missing.err()).isEqualTo("caskade: not found: nope\n");
    }

    @Test
    void watchStopsCleanlyOnCtrlC() throws Exception {
        String data = dir.resolve("store").toString();
        assertThat(run("put", "--data", data, "k", "v1").code()).isZero();

        Process watch = caskade("watch", "--data", data, "--from", "0").start();
        try {
            BlockingQueue<String> lines = new LinkedBlockingQueue<>();
            Thread reader = Thread.ofVirtual().start(() -> {
                try (BufferedReader r =
                        new BufferedReader(new InputStreamReader(watch.getInputStream(), StandardCharsets.UTF_8))) {
                    for (String line; (line = r.readLine()) != null; ) lines.add(line);
                } catch (IOException e) {
                    lines.add("read failed: " + e);
                }
            });
            assertThat(lines.poll(60, TimeUnit.SECONDS)).isEqualTo("1 PUT k v1");

            Process kill = new ProcessBuilder("kill", "-INT", Long.toString(watch.pid())).start();
            assertThat(kill.waitFor(10, TimeUnit.SECONDS)).isTrue();
            assertThat(watch.waitFor(30, TimeUnit.SECONDS))
                    .as("watch ends on SIGINT")
                    .isTrue();
            reader.join(5_000);
            String err = new String(watch.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(watch.exitValue()).as("stderr: %s", err).isEqualTo(130); // 128 + SIGINT
            assertThat(err).doesNotContain("Exception");
        } finally {
            watch.destroyForcibly();
        }
        // the store was released: the next command opens it
        Result get = run("get", "--data", data, "k");
        assertThat(get.code()).as("%s", get).isZero();
        assertThat(get.out()).isEqualTo("v1\n");
        try (Stream<Path> files = Files.list(Path.of(data))) {
            assertThat(files.map(p -> p.getFileName().toString()).collect(Collectors.joining(" ")))
                    .contains(".seg");
        }
    }
}
