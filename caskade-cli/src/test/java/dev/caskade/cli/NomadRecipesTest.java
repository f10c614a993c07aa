package dev.caskade.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicNode;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.Timeout;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.dataformat.yaml.YAMLMapper;

/**
 * The Nomad job files in deploy/nomad: each parses with HashiCorp's HCL parser (the npm package
 * {@code @cdktf/hcl2json}, pinned, installed under target/ at test time), and on the JSON: drivers need no image,
 * lifecycle hooks and sidecar flags are what Nomad accepts and what the commands need, ports are declared and used,
 * service checks are HTTP on /readyz or /healthz, and every caskade task's command line, with Nomad's variables
 * filled in, passes the real CLI's {@code --check-args}. There is no nomad binary here, so {@code nomad job
 * validate} cannot run.
 */
@Timeout(180)
class NomadRecipesTest {
    static final String HCL2JSON = "@cdktf/hcl2json@0.21.0";
    static final Set<String> DRIVERS = Set.of("exec", "java", "raw_exec");
    static final Set<String> HOOKS = Set.of("prestart", "poststart", "poststop");
    /** Caskade commands that run until stopped: in a lifecycle hook they must be sidecars. */
    static final Set<String> LONG_RUNNING = Set.of("serve", "replicate", "webhook", "watch");

    private static final Pattern INTERPOLATION = Pattern.compile("\\$\\{([^}]*)}");
    private static final Pattern PORT_VARIABLE = Pattern.compile("NOMAD_(?:HOST_)?(?:PORT|IP|ADDR)_(\\w+)");
    private static Map<String, JsonNode> jobs;

    static Path recipes() {
        Path root = LauncherTest.repositoryRoot();
        assumeTrue(root != null, "no checkout above " + System.getProperty("user.dir"));
        return root.resolve("deploy/nomad");
    }

    @Test
    void theRecipesAreAllThere() throws Exception {
        try (Stream<Path> files = Files.list(recipes())) {
            assertThat(files.map(p -> p.getFileName().toString()))
                    .contains(
                            "caskade.nomad.hcl",
                            "caskade-ambassador.nomad.hcl",
                            "caskade-webhook.nomad.hcl",
                            "prometheus.nomad.hcl",
                            "prometheus.yml",
                            "README.md");
        }
    }

    @Test
    void prometheusScrapesTheMetricsOfTaggedNomadServices() throws Exception {
        JsonNode config = YAMLMapper.builder()
                .build()
                .readTree(recipes().resolve("prometheus.yml").toFile());
        JsonNode scrape = config.path("scrape_configs").get(0);
        assertThat(scrape.path("metrics_path").asString()).isEqualTo("/metrics");
        assertThat(scrape.path("nomad_sd_configs").get(0).path("server").asString())
                .startsWith("http://");
        assertThat(scrape.path("relabel_configs").toString()).contains("__meta_nomad_tags", "metrics", "keep");
        // the service it keeps is tagged so
        JsonNode caskade = service(jobs().get("caskade.nomad.hcl"), "caskade");
        assertThat(caskade.path("tags").toString()).contains("\"metrics\"");
        // and the job that runs Prometheus renders the same configuration
        String inlined = jobs().get("prometheus.nomad.hcl")
                .findValues("template")
                .getFirst()
                .get(0)
                .path("data")
                .asString();
        assertThat(YAMLMapper.builder().build().readTree(inlined)).isEqualTo(config);
    }

    @Test
    void theParserRejectsBrokenHcl() throws Exception {
        Path broken = Files.createTempFile(hcl2json(), "broken", ".hcl");
        Files.writeString(broken, "job \"x\" {\n  group \"g\" {\n    count = \n  }\n}\n");
        Result r = convert(List.of(broken));
        assertThat(r.code()).as("%s", r).isNotZero();
        assertThat(r.err()).contains("broken").contains(":3,");
    }

    @TestFactory
    Stream<DynamicNode> everyJobIsValidForNomadAndEveryCaskadeCommandLineIsAccepted() throws Exception {
        List<DynamicNode> nodes = new ArrayList<>();
        for (var file : jobs().entrySet()) {
            JsonNode root = file.getValue();
            assertThat(root.path("job").size())
                    .as("%s holds one job", file.getKey())
                    .isEqualTo(1);
            String jobName = root.path("job").propertyNames().iterator().next();
            JsonNode job = root.path("job").path(jobName).get(0);
            assertThat(job.path("datacenters").isArray())
                    .as("%s: datacenters", file.getKey())
                    .isTrue();
            for (String groupName : job.path("group").propertyNames()) {
                JsonNode group = job.path("group").path(groupName).get(0);
                String where = file.getKey() + " group " + groupName;
                nodes.add(
                        DynamicTest.dynamicTest(where + ": ports, services, volumes", () -> checkGroup(where, group)));
                for (String taskName : group.path("task").propertyNames()) {
                    JsonNode task = group.path("task").path(taskName).get(0);
                    String at = where + " task " + taskName;
                    nodes.add(DynamicTest.dynamicTest(at + ": driver and lifecycle", () -> checkTask(at, group, task)));
                    if (isCaskade(task)) {
                        nodes.add(DynamicTest.dynamicTest(
                                at + ": caskade --check-args "
                                        + commandLine(task).getFirst(),
                                () -> checkCommandLine(at, job, group, task)));
                    }
                }
            }
        }
        return nodes.stream();
    }

    private static void checkGroup(String where, JsonNode group) {
        Map<String, JsonNode> ports = ports(group);
        Set<String> referenced = new TreeSet<>();
        Matcher m = PORT_VARIABLE.matcher(group.toString());
        while (m.find()) referenced.add(m.group(1));
        for (JsonNode service : each(group.path("service"))) {
            String port = service.path("port").asString();
            referenced.add(port);
            assertThat(service.path("name").asString())
                    .as("%s: a service's name", where)
                    .isNotBlank();
            assertThat(service.path("provider").asString("nomad"))
                    .as("%s: service provider", where)
                    .isIn("nomad", "consul");
            for (JsonNode check : each(service.path("check"))) {
                assertThat(check.path("type").asString())
                        .as("%s: check type", where)
                        .isEqualTo("http");
                String path = check.path("path").asString();
                if (service.path("name").asString().startsWith("caskade")) {
                    assertThat(path).as("%s: a caskade check", where).isIn("/readyz", "/healthz");
                } else {
                    assertThat(path).as("%s: check path", where).startsWith("/");
                }
                assertThat(check.path("interval").asString())
                        .as("%s: check interval", where)
                        .matches("\\d+[smh]");
                assertThat(check.path("timeout").asString())
                        .as("%s: check timeout", where)
                        .matches("\\d+[smh]");
            }
        }
        assertThat(ports.keySet()).as("%s: every port declared is used", where).isEqualTo(referenced);
        for (var p : ports.entrySet()) {
            assertThat(p.getKey())
                    .as("%s: a port label usable in NOMAD_PORT_<label>", where)
                    .matches("[a-z_][a-z0-9_]*");
            JsonNode s = p.getValue().path("static");
            if (!s.isMissingNode()) assertThat(s.asInt()).isBetween(1, 65535);
        }
        Set<String> volumes = new TreeSet<>(group.path("volume").propertyNames());
        for (String v : volumes) {
            JsonNode volume = group.path("volume").path(v).get(0);
            assertThat(volume.path("type").asString())
                    .as("%s: volume %s type", where, v)
                    .isIn("host", "csi");
            assertThat(volume.path("source").asString())
                    .as("%s: volume %s source", where, v)
                    .isNotBlank();
        }
        List<String> mainTasks = new ArrayList<>();
        for (String t : group.path("task").propertyNames()) {
            JsonNode task = group.path("task").path(t).get(0);
            if (task.path("lifecycle").isMissingNode()) mainTasks.add(t);
            for (JsonNode mount : each(task.path("volume_mount"))) {
                assertThat(mount.path("volume").asString())
                        .as("%s task %s mounts a declared volume", where, t)
                        .isIn(volumes);
                assertThat(mount.path("destination").asString()).startsWith("/");
            }
        }
        assertThat(mainTasks).as("%s: a main task (no lifecycle)", where).isNotEmpty();
        JsonNode disk = group.path("ephemeral_disk");
        if (!disk.isMissingNode()) {
            for (String k : List.of("sticky", "migrate")) {
                JsonNode b = disk.get(0).path(k);
                if (!b.isMissingNode())
                    assertThat(b.isBoolean())
                            .as("%s: ephemeral_disk.%s", where, k)
                            .isTrue();
            }
        }
    }

    private static void checkTask(String at, JsonNode group, JsonNode task) {
        assertThat(task.path("driver").asString())
                .as("%s: driver (no container image)", at)
                .isIn(DRIVERS);
        JsonNode config = task.path("config").get(0);
        assertThat(config.has("image")).as("%s: no image", at).isFalse();
        if (task.path("driver").asString().equals("java")) {
            assertThat(config.path("class").asString()).as("%s: java class", at).isNotBlank();
        } else {
            assertThat(config.path("command").asString()).as("%s: command", at).isNotBlank();
        }
        JsonNode args = config.path("args");
        if (!args.isMissingNode()) {
            assertThat(args.isArray()).as("%s: args is a list", at).isTrue();
            for (JsonNode a : args)
                assertThat(a.isString()).as("%s: every arg is a string", at).isTrue();
        }
        JsonNode lifecycle = task.path("lifecycle");
        if (!lifecycle.isMissingNode()) {
            assertThat(lifecycle.size()).as("%s: one lifecycle block", at).isEqualTo(1);
            JsonNode l = lifecycle.get(0);
            assertThat(l.path("hook").asString()).as("%s: lifecycle hook", at).isIn(HOOKS);
            JsonNode sidecar = l.path("sidecar");
            if (!sidecar.isMissingNode())
                assertThat(sidecar.isBoolean()).as("%s: sidecar", at).isTrue();
            if (isCaskade(task) && LONG_RUNNING.contains(commandLine(task).getFirst())) {
                assertThat(sidecar.asBoolean(false))
                        .as("%s: a long-running command in a lifecycle hook must be a sidecar", at)
                        .isTrue();
                assertThat(l.path("hook").asString())
                        .as("%s: sidecars start before or after the main task", at)
                        .isIn("prestart", "poststart");
            }
            if (isCaskade(task) && commandLine(task).getFirst().equals("restore")) {
                assertThat(l.path("hook").asString())
                        .as("%s: restore runs before the server", at)
                        .isEqualTo("prestart");
                assertThat(sidecar.asBoolean(false))
                        .as("%s: restore runs to its end", at)
                        .isFalse();
            }
        }
        for (JsonNode t : each(task.path("template"))) {
            assertThat(t.path("destination").asString())
                    .as("%s: template destination", at)
                    .matches("(local|secrets|alloc)/.+");
            assertThat(t.path("data").asString()).as("%s: template data", at).isNotBlank();
        }
        for (JsonNode r : each(task.path("resources"))) {
            assertThat(r.path("memory").asInt()).as("%s: memory MB", at).isPositive();
        }
    }

    private void checkCommandLine(String at, JsonNode job, JsonNode group, JsonNode task) {
        List<String> args = new ArrayList<>();
        for (String a : commandLine(task)) args.add(interpolate(at, a, job, group, task));
        String command = args.getFirst();
        var known = Main.commandLine(
                        new java.io.PrintWriter(java.io.Writer.nullWriter()),
                        new java.io.PrintWriter(java.io.Writer.nullWriter()))
                .getSubcommands();
        assumeTrue(
                known.containsKey(command),
                at + ": 'caskade " + command + "' does not exist in this build yet (another branch adds it);"
                        + " its command line is not checked");
        args.addFirst("--check-args");
        Invocation r = Invocation.run(args.toArray(String[]::new));
        assertThat(r.code())
                .as("%s: caskade %s%n%s", at, String.join(" ", args), r)
                .isZero();
    }

    /** The task's caskade arguments: exec's args after .../bin/caskade, or the java driver's args. */
    private static List<String> commandLine(JsonNode task) {
        List<String> out = new ArrayList<>();
        task.path("config").get(0).path("args").forEach(a -> out.add(a.asString()));
        return out;
    }

    private static boolean isCaskade(JsonNode task) {
        JsonNode config = task.path("config").get(0);
        return config.path("command").asString("").endsWith("/bin/caskade")
                || config.path("class").asString("").equals("dev.caskade.cli.Main");
    }

    /**
     * Fills in {@code ${...}} as Nomad would: meta from the job, group and task, ports from the group's network,
     * the task's directories, the task's env block and the variables its env templates define (rendered with a
     * sample service address). A name none of these defines fails: Nomad would pass it on verbatim.
     */
    private static String interpolate(String at, String text, JsonNode job, JsonNode group, JsonNode task) {
        Map<String, String> vars = new HashMap<>();
        for (JsonNode scope : List.of(job, group, task)) {
            for (JsonNode meta : each(scope.path("meta"))) {
                for (String k : meta.propertyNames())
                    vars.put("NOMAD_META_" + k, meta.path(k).asString());
            }
        }
        int dynamic = 23000;
        for (var p : ports(group).entrySet()) {
            String port = p.getValue().path("static").isMissingNode()
                    ? Integer.toString(dynamic++)
                    : p.getValue().path("static").asString();
            vars.put("NOMAD_PORT_" + p.getKey(), port);
            vars.put("NOMAD_HOST_PORT_" + p.getKey(), port);
            vars.put("NOMAD_IP_" + p.getKey(), "10.0.0.5");
            vars.put("NOMAD_ADDR_" + p.getKey(), "10.0.0.5:" + port);
        }
        vars.put("NOMAD_ALLOC_DIR", "/alloc");
        vars.put("NOMAD_TASK_DIR", "/local");
        vars.put("NOMAD_SECRETS_DIR", "/secrets");
        vars.put("NOMAD_ALLOC_ID", "5a1d2c3e-0000-4000-8000-000000000001");
        for (JsonNode env : each(task.path("env"))) {
            for (String k : env.propertyNames()) vars.put(k, env.path(k).asString());
        }
        for (JsonNode t : each(task.path("template"))) {
            if (!t.path("env").asBoolean(false)) continue;
            String rendered = t.path("data")
                    .asString()
                    .replace("{{ .Address }}", "10.0.0.7")
                    .replace("{{ .Port }}", "8479")
                    .replaceAll("\\{\\{[^}]*}}", "");
            for (String line : rendered.split("\n")) {
                int eq = line.indexOf('=');
                if (eq > 0)
                    vars.put(
                            line.substring(0, eq).trim(), line.substring(eq + 1).trim());
            }
        }
        StringBuilder out = new StringBuilder();
        Matcher m = INTERPOLATION.matcher(text);
        while (m.find()) {
            String value = vars.get(m.group(1));
            if (value == null) fail(at + ": ${" + m.group(1) + "} is not defined for this task");
            m.appendReplacement(out, Matcher.quoteReplacement(value));
        }
        m.appendTail(out);
        return out.toString();
    }

    private static Map<String, JsonNode> ports(JsonNode group) {
        Map<String, JsonNode> ports = new LinkedHashMap<>();
        for (JsonNode network : each(group.path("network"))) {
            for (String label : network.path("port").propertyNames())
                ports.put(label, network.path("port").path(label).get(0));
        }
        return ports;
    }

    private static JsonNode service(JsonNode root, String name) {
        for (JsonNode s : root.findValues("service").stream()
                .flatMap(n -> each(n).stream())
                .toList()) {
            if (s.path("name").asString().equals(name)) return s;
        }
        return fail("no service " + name);
    }

    private static List<JsonNode> each(JsonNode n) {
        List<JsonNode> out = new ArrayList<>();
        if (n.isArray()) n.forEach(out::add);
        else if (!n.isMissingNode()) out.add(n);
        return out;
    }

    /** Every .hcl file of deploy/nomad as hcl2json's JSON, by file name; skipped when node or npm cannot help. */
    static synchronized Map<String, JsonNode> jobs() throws Exception {
        if (jobs != null) return jobs;
        List<Path> files;
        try (Stream<Path> list = Files.list(recipes())) {
            files = list.filter(p -> p.toString().endsWith(".hcl")).sorted().toList();
        }
        assertThat(files).hasSizeGreaterThanOrEqualTo(4);
        Result r = convert(files);
        assertThat(r.code()).as("hcl2json: %s", r).isZero();
        JsonNode all = JsonMapper.builder().build().readTree(r.out());
        Map<String, JsonNode> parsed = new LinkedHashMap<>();
        for (Path f : files) parsed.put(f.getFileName().toString(), all.path(f.toString()));
        jobs = parsed;
        return jobs;
    }

    private record Result(int code, String out, String err) {}

    /** Runs hcl2json over {@code files}: one JSON object, file name to its JSON; errors name file, line and column. */
    private static Result convert(List<Path> files) throws Exception {
        Path dir = hcl2json();
        List<String> command =
                new ArrayList<>(List.of("node", dir.resolve("convert.js").toString()));
        files.forEach(f -> command.add(f.toString()));
        return run(command, dir, 60);
    }

    /** target/hcl2json with the pinned package installed (once); aborts the test when node or npm are missing. */
    static synchronized Path hcl2json() throws Exception {
        Path dir = Path.of("target", "hcl2json").toAbsolutePath();
        Path installed = dir.resolve("node_modules/@cdktf/hcl2json/package.json");
        if (!Files.exists(installed) || !Files.readString(installed).contains("\"version\": \"0.21.0\"")) {
            assumeTrue(
                    onPath("node") && onPath("npm"), "node and npm are needed to parse HCL (bin/test installs them)");
            Files.createDirectories(dir);
            Result npm = run(
                    List.of(
                            "npm",
                            "install",
                            "--prefix",
                            dir.toString(),
                            "--no-audit",
                            "--no-fund",
                            "--no-save",
                            "--loglevel=error",
                            HCL2JSON),
                    dir,
                    120);
            assumeTrue(npm.code() == 0, "npm install " + HCL2JSON + " failed (offline?): " + npm.err());
        }
        Files.writeString(dir.resolve("convert.js"), """
                const { parse } = require('@cdktf/hcl2json');
                const fs = require('fs');
                (async () => {
                  const out = {};
                  for (const f of process.argv.slice(2)) out[f] = await parse(f, fs.readFileSync(f, 'utf8'));
                  process.stdout.write(JSON.stringify(out));
                })().catch(e => { process.stderr.write(String(e && e.message || e) + '\\n'); process.exit(1); });
                """);
        return dir;
    }

    private static boolean onPath(String tool) {
        for (String d : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            if (!d.isEmpty() && Files.isExecutable(Path.of(d, tool))) return true;
        }
        return false;
    }

    private static Result run(List<String> command, Path cwd, int seconds) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(command).directory(cwd.toFile());
        pb.environment().put("NODE_PATH", cwd.resolve("node_modules").toString());
        Path out = Files.createTempFile("hcl2json", ".out");
        Path err = Files.createTempFile("hcl2json", ".err");
        try {
            Process p = pb.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectOutput(out.toFile())
                    .redirectError(err.toFile())
                    .start();
            if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                return new Result(-1, "", String.join(" ", command) + " did not finish in " + seconds + " s");
            }
            return new Result(
                    p.exitValue(),
                    Files.readString(out, StandardCharsets.UTF_8),
                    Files.readString(err, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }
}
