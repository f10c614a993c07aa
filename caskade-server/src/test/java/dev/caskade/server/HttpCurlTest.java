package dev.caskade.server;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.caskade.Entry;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;

/** The real curl binary (apt curl) against the HTTP API: what the docs tell people to type works. */
class HttpCurlTest {
    private static final int TIMEOUT_SECONDS = 10;

    @TempDir
    Path dir;

    HttpFixture http;

    @BeforeEach
    void start() {
        http = new HttpFixture(dir);
    }

    @AfterEach
    void stop() {
        http.close();
    }

    private static Path curl() {
        for (String d : System.getenv().getOrDefault("PATH", "/usr/bin").split(":")) {
            Path p = Path.of(d, "curl");
            if (Files.isExecutable(p)) return p;
        }
        assumeTrue(false, "curl is not installed (apt-get install curl); skipping");
        return null;
    }

    private String url(String pathAndQuery) {
        return http.uri(pathAndQuery).toString();
    }

    /** curl without any ~/.curlrc or proxy from the environment, failing loudly on transport errors. */
    private static Process start(String... args) throws IOException {
        List<String> command = new ArrayList<>(List.of(
                curl().toString(), "-q", "--noproxy", "*", "-sS", "--max-time", Integer.toString(TIMEOUT_SECONDS)));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command)
                .redirectError(ProcessBuilder.Redirect.DISCARD)
                .start();
        p.getOutputStream().close();
        return p;
    }

    /** Runs curl to the end and returns its stdout; fails if it does not exit 0 in time. */
    private static String run(String... args) throws IOException, InterruptedException {
        Process p = start(args);
        String out = new String(p.getInputStream().readAllBytes(), UTF_8);
        if (!p.waitFor(TIMEOUT_SECONDS + 5, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("curl did not finish: " + List.of(args));
        }
        assertThat(p.exitValue())
                .as("curl exit code for %s; stdout: %s", List.of(args), out)
                .isZero();
        return out;
    }

    /** Runs curl and returns only the response's status code. */
    private static int status(String... args) throws IOException, InterruptedException {
        List<String> all = new ArrayList<>(List.of("-o", "/dev/null", "-w", "%{http_code}"));
        all.addAll(List.of(args));
        return Integer.parseInt(run(all.toArray(String[]::new)).trim());
    }

    @Test
    void putGetConditionalPutDeleteAndList(@TempDir Path files) throws Exception {
        String greeting = url("/v1/kv/greeting");
        assertThat(run("-X", "PUT", "--data-binary", "hello world", greeting)).isEqualTo("{\"revision\":1}");
        assertThat(run(greeting)).isEqualTo("hello world");

        String head = run("-i", greeting);
        assertThat(head).startsWith("HTTP/1.1 200");
        assertThat(head.lines()).anyMatch(l -> l.equalsIgnoreCase("etag: \"1\""));
        assertThat(head).endsWith("\r\n\r\nhello world");

        // every byte value survives --data-binary @file, newlines included
        byte[] bytes = new byte[256];
        for (int i = 0; i < bytes.length; i++) bytes[i] = (byte) i;
        Path file = Files.write(files.resolve("body.bin"), bytes);
        assertThat(status("-X", "PUT", "--data-binary", "@" + file, url("/v1/kv/bin%2Fall")))
                .isEqualTo(200);
        assertThat(http.db.get("bin/all").map(Entry::value)).hasValue(bytes);

        // If-Match names the revision the writer last saw: a stale one is refused and nothing changes
        assertThat(status("-X", "PUT", "-H", "If-Match: \"999\"", "--data-binary", "lost", greeting))
                .isEqualTo(412);
        assertThat(run(greeting)).isEqualTo("hello world");
        assertThat(status("-X", "PUT", "-H", "If-Match: \"1\"", "--data-binary", "hello again", greeting))
                .isEqualTo(200);
        assertThat(run(greeting)).isEqualTo("hello again");
        assertThat(status("-X", "PUT", "-H", "If-None-Match: *", "--data-binary", "new?", greeting))
                .isEqualTo(412);

        long before = http.db.revision();
        assertThat(run("-X", "DELETE", greeting)).isEqualTo("{\"revision\":" + (before + 1) + "}");
        assertThat(status(greeting)).isEqualTo(404);
        assertThat(status("-X", "DELETE", greeting)).isEqualTo(404);

        for (String k : List.of("list/a", "list/b", "list/c", "other/x")) {
            assertThat(status("-X", "PUT", "--data-binary", "v-" + k, url("/v1/kv/" + k)))
                    .isEqualTo(200);
        }
        JsonNode page = HttpJson.MAPPER.readTree(run(url("/v1/kv?prefix=list/&limit=2")));
        assertThat(page.get("revision").asLong()).isEqualTo(http.db.revision());
        assertThat(page.get("items").size()).isEqualTo(2);
        assertThat(page.get("items").get(0).get("key").asString()).isEqualTo("list/a");
        assertThat(page.get("items").get(0).get("value").asString()).isEqualTo("v-list/a");
        assertThat(page.get("items").get(1).get("key").asString()).isEqualTo("list/b");
        assertThat(page.get("next").asString()).isEqualTo("list/b");
        JsonNode rest = HttpJson.MAPPER.readTree(
                run("-G", "--data-urlencode", "prefix=list/", "--data-urlencode", "after=list/b", url("/v1/kv")));
        assertThat(rest.get("items").size()).isEqualTo(1);
        assertThat(rest.get("items").get(0).get("key").asString()).isEqualTo("list/c");
        assertThat(rest.has("next")).isFalse();
    }

    @Test
    void curlNFollowsAWatchAsCommitsHappen() throws Exception {
        http.db.put("w/1", "before");
        http.db.put("elsewhere", "not under the prefix");
        Process p = start("-N", url("/v1/watch?prefix=w/&from=0"));
        BlockingQueue<String> data = new LinkedBlockingQueue<>();
        Thread reader = Thread.ofVirtual().start(() -> {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(p.getInputStream(), UTF_8))) {
                String event = null;
                for (String line; (line = in.readLine()) != null; ) {
                    if (line.startsWith("event: ")) event = line.substring(7);
                    else if (line.startsWith("data: ") && "commit".equals(event)) data.add(line.substring(6));
                }
            } catch (IOException e) {
                // curl was destroyed: the end of the stream
            }
        });
        try {
            // history first: the stream is live once it arrives
            JsonNode first = next(data);
            assertThat(first.get("revision").asLong()).isEqualTo(1);
            assertThat(first.get("changes").get(0).get("key").asString()).isEqualTo("w/1");
            assertThat(first.get("changes").get(0).get("value").asString()).isEqualTo("before");

            long during = http.db.put("w/2", "during");
            long gone = http.db.delete("w/1");
            JsonNode second = next(data);
            assertThat(second.get("revision").asLong()).isEqualTo(during);
            assertThat(second.get("changes").get(0).get("type").asString()).isEqualTo("put");
            assertThat(second.get("changes").get(0).get("key").asString()).isEqualTo("w/2");
            JsonNode third = next(data);
            assertThat(third.get("revision").asLong()).isEqualTo(gone);
            assertThat(third.get("changes").get(0).get("type").asString()).isEqualTo("delete");
            assertThat(third.get("changes").get(0).get("key").asString()).isEqualTo("w/1");
            assertThat(p.isAlive()).as("curl -N keeps following").isTrue();
        } finally {
            p.destroy();
            if (!p.waitFor(5, TimeUnit.SECONDS)) p.destroyForcibly();
            reader.join(5000);
        }
        assertThat(data).as("nothing outside the prefix, nothing twice").isEmpty();
    }

    private static JsonNode next(BlockingQueue<String> data) throws InterruptedException {
        String line = data.poll(5, TimeUnit.SECONDS);
        assertThat(line).as("a commit event within 5 s").isNotNull();
        return HttpJson.MAPPER.readTree(line);
    }
}
