package dev.caskade.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/**
 * Smoke check of the benchmark suite (runs in {@code mvn verify}, after the benchmarks jar and the CLI are packaged):
 * {@code bin/bench --quick} into a temporary results directory must run every part and leave its results as JSON that
 * parses, plus the report and its charts. No timing is asserted: the numbers of a quick run mean nothing. A part whose
 * external tool is missing (redis-server, redis-benchmark) may be skipped, but only with a note naming the tool.
 */
class BenchSmokeIT {
    private static final Path ROOT =
            Path.of(System.getProperty("caskade.root", "..")).toAbsolutePath().normalize();
    private static final long TIMEOUT_SECONDS = 300;

    /** The files every part must leave behind when it ran. */
    private static final Map<String, List<String>> FILES = new LinkedHashMap<>();

    static {
        FILES.put("engine", List.of("engine-nosync-r1.json", "engine-durable-r1.json"));
        FILES.put(
                "durability",
                List.of("durability-interval-r1.json", "durability-group-t8-r1.json", "durability-group-t64-r1.json"));
        FILES.put("curves", List.of("curves.json"));
        FILES.put("reopen", List.of("reopen.json"));
        FILES.put("resp", List.of("resp.json"));
        FILES.put("fanout", List.of("fanout-r1.json"));
        FILES.put("replica", List.of("replica-r1.json"));
        FILES.put("replication", List.of("replication-r1.json"));
        FILES.put("cluster", List.of("cluster.json"));
    }

    private final ObjectMapper json = JsonMapper.builder().build();

    @Test
    void quickRunWritesEveryPartsResultsAndTheReport(@TempDir Path results) throws Exception {
        Path log = results.resolve("bench.out");
        Process p = new ProcessBuilder(
                        ROOT.resolve("bin/bench").toString(),
                        "--quick",
                        "--no-build",
                        "--results",
                        results.resolve("run").toString())
                .directory(ROOT.toFile())
                .redirectErrorStream(true)
                .redirectOutput(log.toFile())
                .start();
        boolean finished = p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        if (!finished) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
        String out = Files.readString(log, StandardCharsets.UTF_8);
        assertThat(finished)
                .as("bin/bench --quick finished within %d s; output:%n%s", TIMEOUT_SECONDS, out)
                .isTrue();
        assertThat(p.exitValue()).as("exit code; output:%n%s", out).isZero();

        Path run = results.resolve("run");
        Map<String, JsonNode> parts = new LinkedHashMap<>();
        for (String line : Files.readAllLines(run.resolve("parts.jsonl"))) {
            JsonNode part = json.readTree(line);
            parts.put(part.get("part").asString(), part);
        }
        assertThat(parts.keySet()).as("parts run; output:%n%s", out).containsExactlyElementsOf(FILES.keySet());
        List<String> checked = new ArrayList<>();
        for (Map.Entry<String, List<String>> e : FILES.entrySet()) {
            JsonNode part = parts.get(e.getKey());
            String status = part.get("status").asString();
            if (status.equals("skipped")) {
                assertThat(part.get("note").asString()).as(e.getKey()).contains("missing");
                System.out.println("BenchSmokeIT: " + e.getKey() + " skipped: "
                        + part.get("note").asString());
                continue;
            }
            assertThat(status).as("status of %s; output:%n%s", e.getKey(), out).isEqualTo("ok");
            for (String file : e.getValue()) {
                JsonNode doc = parse(run.resolve(file));
                assertThat(doc.isEmpty()).as(file + " is empty").isFalse();
                checked.add(file);
            }
        }
        assertThat(parse(run.resolve("curves.json")).get("points").size()).isPositive();
        assertThat(parse(run.resolve("machine.json"))
                        .at("/fsync/fsyncsPerSecond")
                        .asLong())
                .isPositive();

        String report = Files.readString(run.resolve("report.md"));
        assertThat(report).contains("### Ratios against each peer", "### Absolute numbers");
        for (String svg : List.of("ratios.svg", "curve-values.svg", "curve-clients.svg", "curve-keys.svg")) {
            Path f = run.resolve("img").resolve(svg);
            assertThat(f).exists();
            DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(f.toFile()); // well-formed XML
        }
        System.out.println("BenchSmokeIT: parsed " + checked);
    }

    private JsonNode parse(Path file) throws IOException {
        assertThat(file).exists();
        return json.readTree(Files.readString(file));
    }
}
