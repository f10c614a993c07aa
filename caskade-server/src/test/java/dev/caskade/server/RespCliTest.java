package dev.caskade.server;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The real redis-cli and redis-benchmark binaries (apt redis-tools) against the server. */
class RespCliTest {
    @TempDir
    Path dir;

    RespFixture fx;

    @BeforeEach
    void start() {
        fx = new RespFixture(dir);
    }

    @AfterEach
    void stop() {
        fx.close();
    }

    private static Path binary(String name) {
        for (String d : System.getenv().getOrDefault("PATH", "/usr/bin").split(":")) {
            Path p = Path.of(d, name);
            if (Files.isExecutable(p)) return p;
        }
        return null;
    }

    private String run(int timeoutSeconds, String binary, String... args) throws IOException, InterruptedException {
        Path exe = binary(binary);
        assumeTrue(exe != null, binary + " is not installed (apt-get install redis-tools); skipping");
        List<String> command =
                new ArrayList<>(List.of(exe.toString(), "-h", "127.0.0.1", "-p", Integer.toString(fx.port())));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        p.getOutputStream().close();
        boolean exited = p.waitFor(timeoutSeconds, TimeUnit.SECONDS);
        if (!exited) {
            p.destroyForcibly();
            throw new AssertionError(binary + " did not finish within " + timeoutSeconds + " s: " + command);
        }
        return new String(p.getInputStream().readAllBytes(), UTF_8).trim();
    }

    @Test
    void redisCli() throws Exception {
        assertThat(run(10, "redis-cli", "PING")).isEqualTo("PONG");
        assertThat(run(10, "redis-cli", "SET", "greeting", "hello world")).isEqualTo("OK");
        assertThat(run(10, "redis-cli", "GET", "greeting")).isEqualTo("hello world");
        assertThat(run(10, "redis-cli", "GET", "missing")).isEmpty();
        assertThat(run(10, "redis-cli", "INCR", "n")).isEqualTo("1");
        String hello = run(10, "redis-cli", "-3", "HELLO", "3");
        assertThat(hello).contains("proto", "3", "server", "version");
        assertThat(run(10, "redis-cli", "FOO", "bar"))
                .isEqualTo("ERR unknown command 'FOO', with args beginning with: 'bar'");
        assertThat(run(10, "redis-cli", "--scan")).contains("greeting", "n");
        // more keys than one page (COUNT 10): redis-cli follows the numeric cursor to the end
        for (int i = 0; i < 25; i++) run(10, "redis-cli", "SET", "page:" + i, "v");
        assertThat(run(30, "redis-cli", "--scan", "--pattern", "page:*")
                        .lines()
                        .sorted()
                        .toList())
                .hasSize(25)
                .doesNotHaveDuplicates()
                .allMatch(k -> k.startsWith("page:"));
    }

    @Test
    void redisBenchmark() throws Exception {
        String out = run(60, "redis-benchmark", "-t", "set,get", "-n", "2000", "-q");
        Matcher m = Pattern.compile("(SET|GET): ([0-9.]+) requests per second").matcher(out);
        List<String> seen = new ArrayList<>();
        while (m.find()) {
            assertThat(Double.parseDouble(m.group(2))).as(out).isPositive();
            seen.add(m.group(1));
        }
        assertThat(seen).as(out).containsExactlyInAnyOrder("SET", "GET");
        System.out.println("redis-benchmark against Caskade: " + out.replaceAll("\\s*\\r", " "));
    }
}
