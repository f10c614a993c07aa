package dev.caskade;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.stream.Stream;

/**
 * A second JVM running one of the test classes' {@code main}, for tests that need another process: one that
 * holds the store's lock, or one that is killed with SIGKILL in the middle of writing. Closing it kills it.
 *
 * <p>The child's stdout and stderr go to files, not pipes: when a child is killed while the parent reads its pipe,
 * the JDK's process reaper may close the stream under the reader and drop what was still in the pipe (seen on JDK
 * 25: hundreds of lines lost). A file keeps every line whose write(2) completed, which is exactly what a crash test
 * needs to know.
 */
final class ChildJvm implements AutoCloseable {
    /** Exit status of a process killed by SIGKILL (128 + 9), as {@link Process#exitValue()} reports it on Linux. */
    static final int SIGKILL_EXIT = 137;

    private final Process process;
    private final Path workDir;
    private final Path out;
    private final Path err;
    private final List<String> lines = new ArrayList<>();
    private long consumed; // bytes of the stdout file already split into lines

    private ChildJvm(Process process, Path workDir, Path out, Path err) {
        this.process = process;
        this.workDir = workDir;
        this.out = out;
        this.err = err;
    }

    /** Starts {@code main} in a new JVM (the same java binary and the test class path). */
    static ChildJvm start(Class<?> main, List<String> args) throws IOException {
        List<String> command = new ArrayList<>();
        command.add(javaBinary());
        command.addAll(List.of(
                "-Xmx256m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-XX:-UsePerfData",
                "--enable-native-access=ALL-UNNAMED",
                "-cp",
                testClassPath(),
                main.getName()));
        command.addAll(args);
        Path workDir = Files.createTempDirectory("caskade-child-");
        Path out = workDir.resolve("stdout");
        Path err = workDir.resolve("stderr");
        // stdin stays a pipe that the parent never writes: the child sees EOF when the parent dies, and exits
        Process p = new ProcessBuilder(command)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(out.toFile()))
                .redirectError(ProcessBuilder.Redirect.appendTo(err.toFile()))
                .start();
        return new ChildJvm(p, workDir, out, err);
    }

    static String javaBinary() {
        return ProcessHandle.current()
                .info()
                .command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    }

    /**
     * Surefire may run the tests from a manifest-only jar, so java.class.path can be a single jar; the real test
     * class path is in surefire.test.class.path.
     */
    static String testClassPath() {
        String cp = System.getProperty("surefire.test.class.path");
        return cp == null || cp.isBlank() ? System.getProperty("java.class.path") : cp;
    }

    long pid() {
        return process.pid();
    }

    boolean isAlive() {
        return process.isAlive();
    }

    /**
     * Waits for the first line (seen so far or still to come) matching {@code match}; empty when the timeout
     * passes or the child exits first.
     */
    synchronized Optional<String> awaitLine(Predicate<String> match, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        int checked = 0;
        while (true) {
            boolean exited = !process.isAlive();
            poll();
            for (; checked < lines.size(); checked++) {
                if (match.test(lines.get(checked))) return Optional.of(lines.get(checked));
            }
            if (exited || System.nanoTime() > deadline) return Optional.empty();
            Thread.sleep(5);
        }
    }

    /** SIGKILLs the child (destroyForcibly sends SIGKILL on Linux) and waits for it; returns its exit status. */
    int kill() throws InterruptedException {
        process.destroyForcibly();
        if (!process.waitFor(30, TimeUnit.SECONDS)) throw new AssertionError("child " + pid() + " survived SIGKILL");
        return process.exitValue();
    }

    /** Waits up to {@code timeout} for the child to exit by itself; its exit status, or empty if it still runs. */
    Optional<Integer> awaitExit(Duration timeout) throws InterruptedException {
        return process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)
                ? Optional.of(process.exitValue())
                : Optional.empty();
    }

    /**
     * Every complete stdout line so far; once the child is dead, all it ever wrote. A last line without its newline
     * (a write cut short) is left out.
     */
    synchronized List<String> lines() {
        poll();
        return List.copyOf(lines);
    }

    /** The child's stderr so far (its stack traces), shortened for a failure message. */
    String stderr() {
        try {
            String s = Files.readString(err, StandardCharsets.UTF_8);
            return s.length() <= 8000 ? s : s.substring(0, 8000) + "\n...";
        } catch (IOException e) {
            return "(stderr unreadable: " + e + ")";
        }
    }

    /** Kills the child if it still runs, waits for it (bounded) and removes its output files. */
    @Override
    public void close() {
        process.destroyForcibly();
        try {
            process.waitFor(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try (Stream<Path> s = Files.walk(workDir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        } catch (IOException e) {
            // leftovers in the temp directory are harmless
        }
    }

    /** Splits what the child wrote since the last poll into lines, up to its last newline. */
    private void poll() {
        try (FileChannel ch = FileChannel.open(out, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size <= consumed) return;
            ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(size - consumed));
            while (b.hasRemaining() && ch.read(b, consumed + b.position()) > 0) {
                // read until full
            }
            byte[] bytes = b.array();
            int start = 0;
            for (int i = 0; i < b.position(); i++) {
                if (bytes[i] == '\n') {
                    lines.add(new String(bytes, start, i - start, StandardCharsets.UTF_8));
                    start = i + 1;
                }
            }
            consumed += start;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
