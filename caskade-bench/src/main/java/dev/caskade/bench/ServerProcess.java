package dev.caskade.bench;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code bin/caskade serve} as a separate process, so that its memory and CPU are its own, with what the benchmark
 * reads from the outside: live heap by class ({@code jcmd GC.class_histogram}, which collects first), native memory
 * ({@code jcmd VM.native_memory}, when started with NMT), resident set size and CPU time from {@code /proc}.
 */
final class ServerProcess implements AutoCloseable {
    private static final Pattern HISTOGRAM_ROW = Pattern.compile("^\\s*\\d+:\\s+(\\d+)\\s+(\\d+)\\s+(\\S+)");
    private static final Pattern HISTOGRAM_TOTAL = Pattern.compile("^Total\\s+(\\d+)\\s+(\\d+)");
    private static final Pattern NMT_CATEGORY =
            Pattern.compile("^-\\s+(.+?) \\(reserved=(\\d+)KB, committed=(\\d+)KB\\)");

    private final Process process;
    private final Path javaHome;
    final long pid;
    final int respPort;
    final int httpPort;
    final ConcurrentLinkedDeque<String> output;

    private ServerProcess(
            Process process,
            Path javaHome,
            long pid,
            int respPort,
            int httpPort,
            ConcurrentLinkedDeque<String> output) {
        this.process = process;
        this.javaHome = javaHome;
        this.pid = pid;
        this.respPort = respPort;
        this.httpPort = httpPort;
        this.output = output;
    }

    /** Starts {@code root/bin/caskade serve} on {@code data} with free ports and waits until it serves. */
    static ServerProcess start(Path root, Path data, String durability, String javaOpts) throws Exception {
        return serve(root, data, javaOpts, "caskade serving", "--durability", durability);
    }

    /**
     * Starts {@code root/bin/caskade serve --follow http://127.0.0.1:<primaryHttpPort>} on {@code data} with free
     * ports and waits until it serves, which is after its first snapshot of the primary.
     */
    static ServerProcess startFollower(Path root, Path data, int primaryHttpPort, String javaOpts) throws Exception {
        return serve(root, data, javaOpts, "caskade following", "--follow", "http://127.0.0.1:" + primaryHttpPort);
    }

    /** {@code root/bin/caskade serve --data data} on free ports with {@code more}, ready once it prints {@code ready}. */
    private static ServerProcess serve(Path root, Path data, String javaOpts, String ready, String... more)
            throws Exception {
        List<String> command = new ArrayList<>(List.of(
                root.resolve("bin/caskade").toString(),
                "serve",
                "--data",
                data.toString(),
                "--resp-port",
                "0",
                "--http-port",
                "0"));
        command.addAll(List.of(more));
        ProcessBuilder pb = new ProcessBuilder(command);
        pb.environment().put("CASKADE_JAVA_OPTS", javaOpts);
        return launch(pb, data, ready);
    }

    /** Starts {@link BroadcastFloor} from this benchmark's own class path, with the server's default JVM flags. */
    static ServerProcess startFloor(Path data) throws Exception {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        return launch(
                new ProcessBuilder(
                        java.toString(),
                        "-cp",
                        System.getProperty("java.class.path"),
                        BroadcastFloor.class.getName(),
                        data.toString()),
                data,
                "floor serving");
    }

    private static ServerProcess launch(ProcessBuilder pb, Path data, String ready) throws Exception {
        Files.createDirectories(data);
        Files.deleteIfExists(data.resolve("serve.json"));
        Process p = pb.redirectErrorStream(true).start();
        ConcurrentLinkedDeque<String> output = new ConcurrentLinkedDeque<>();
        BlockingQueue<String> banner = new LinkedBlockingQueue<>();
        Thread.ofPlatform().daemon().start(() -> {
            try (BufferedReader r =
                    new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    output.add(line);
                    if (output.size() > 500) output.poll();
                    if (line.startsWith(ready)) banner.add(line);
                }
            } catch (IOException e) {
                output.add("read failed: " + e);
            }
            banner.add("(server output ended)");
        });
        // the first start may build the CLI
        String line = banner.poll(10, TimeUnit.MINUTES);
        if (line == null || !line.startsWith(ready)) {
            p.destroyForcibly();
            throw new IllegalStateException("the server did not start: " + String.join("\n", output));
        }
        String json = Files.readString(data.resolve("serve.json"));
        Path javaHome = Path.of(System.getProperty("java.home"));
        return new ServerProcess(
                p, javaHome, p.pid(), (int) field(json, "respPort"), (int) field(json, "httpPort"), output);
    }

    private static long field(String json, String name) {
        Matcher m = Pattern.compile("\"" + name + "\"\\s*:\\s*(\\d+)").matcher(json);
        if (!m.find()) throw new IllegalStateException(name + " not in " + json);
        return Long.parseLong(m.group(1));
    }

    /** Runs {@code jcmd <pid> args...} and returns its output. */
    String jcmd(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(javaHome.resolve("bin/jcmd").toString(), Long.toString(pid)));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException("jcmd " + String.join(" ", args) + " hung");
        }
        return new String(out, StandardCharsets.UTF_8);
    }

    /** Live heap after a full collection: bytes per class, and the total under the key {@code "(total)"}. */
    Map<String, Long> liveHeap() throws IOException, InterruptedException {
        jcmd("GC.run");
        Map<String, Long> bytes = new LinkedHashMap<>();
        for (String line : jcmd("GC.class_histogram").split("\n")) {
            Matcher row = HISTOGRAM_ROW.matcher(line);
            if (row.find()) {
                bytes.merge(row.group(3), Long.parseLong(row.group(2)), Long::sum);
                continue;
            }
            Matcher total = HISTOGRAM_TOTAL.matcher(line);
            if (total.find()) bytes.put("(total)", Long.parseLong(total.group(2)));
        }
        if (!bytes.containsKey("(total)")) throw new IllegalStateException("no class histogram from jcmd");
        return bytes;
    }

    /** Committed native memory per NMT category in bytes; empty when the server runs without NMT. */
    Map<String, Long> nativeMemory() throws IOException, InterruptedException {
        Map<String, Long> committed = new LinkedHashMap<>();
        for (String line : jcmd("VM.native_memory", "summary").split("\n")) {
            Matcher m = NMT_CATEGORY.matcher(line.trim());
            if (m.find()) committed.put(m.group(1).trim(), Long.parseLong(m.group(3)) * 1024);
        }
        return committed;
    }

    /** A field of {@code /proc/<pid>/status} in kB (VmRSS, Threads...). */
    long status(String field) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (line.startsWith(field + ":"))
                return Long.parseLong(line.substring(field.length() + 1).trim().split("\\s+")[0]);
        }
        throw new IllegalStateException(field + " not in /proc/" + pid + "/status");
    }

    /** User plus system CPU time of the process, in nanoseconds (from clock ticks of 10 ms). */
    long cpuNanos() throws IOException {
        String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        // after "pid (comm) ": state is field 3, utime 14 and stime 15 (1-based over the whole line)
        long ticks = Long.parseLong(f[11]) + Long.parseLong(f[12]);
        return ticks * 10_000_000L;
    }

    /** SIGTERM and wait for the graceful stop. */
    @Override
    public void close() {
        if (!process.isAlive()) return;
        process.destroy();
        try {
            if (process.waitFor(60, TimeUnit.SECONDS)) return;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        process.destroyForcibly();
    }
}
