package dev.caskade.client;

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
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * The child JVM (the same java and the test class path). Its stdout goes to a file, not a pipe, so that a kill
 * loses no line whose write completed; its stdin is a pipe that {@link #closeInput} ends.
 */
final class ChildJvm implements AutoCloseable {
    static final int SIGKILL_EXIT = 137;
    private final Process process;
    private final Path out;
    private final Path err;
    private final List<String> lines = new ArrayList<>();
    private long consumed;

    private ChildJvm(Process process, Path out, Path err) {
        this.process = process;
        this.out = out;
        this.err = err;
    }

    /** Starts {@code main} with {@code args}; its stdout and stderr go to files in a new directory beside {@code dir}. */
    static ChildJvm start(Class<?> main, Path dir, String... args) throws IOException {
        String java = ProcessHandle.current()
                .info()
                .command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        String cp = System.getProperty("surefire.test.class.path");
        if (cp == null || cp.isBlank()) cp = System.getProperty("java.class.path");
        Files.createDirectories(dir.getParent());
        Path work = Files.createTempDirectory(dir.getParent(), "child-");
        Path out = work.resolve("stdout");
        Path err = work.resolve("stderr");
        List<String> command = new ArrayList<>(List.of(
                java,
                "-Xmx128m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-XX:-UsePerfData",
                "-cp",
                cp,
                main.getName()));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(out.toFile()))
                .redirectError(ProcessBuilder.Redirect.appendTo(err.toFile()))
                .start();
        return new ChildJvm(p, out, err);
    }

    /** Whether a line equal to {@code line} comes within {@code timeout} (false once the child has exited). */
    boolean awaitLine(String line, Duration timeout) throws InterruptedException {
        return awaitLine(line::equals, timeout).isPresent();
    }

    Process process() {
        return process;
    }

    /** The first line (seen or to come) that matches; empty after the timeout or once the child has exited. */
    Optional<String> awaitLine(Predicate<String> match, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        int checked = 0;
        while (true) {
            boolean exited = !process.isAlive();
            List<String> seen = lines();
            for (; checked < seen.size(); checked++) {
                if (match.test(seen.get(checked))) return Optional.of(seen.get(checked));
            }
            if (exited || System.nanoTime() > deadline) return Optional.empty();
            Thread.sleep(5);
        }
    }

    int kill() throws InterruptedException {
        process.destroyForcibly();
        if (!process.waitFor(30, TimeUnit.SECONDS)) throw new AssertionError("child survived SIGKILL");
        return process.exitValue();
    }

    void closeInput() throws IOException {
        process.getOutputStream().close();
    }

    Optional<Integer> awaitExit(Duration timeout) throws InterruptedException {
        return process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)
                ? Optional.of(process.exitValue())
                : Optional.empty();
    }

    /** Every complete line so far (a last line cut short by the kill is left out). */
    synchronized List<String> lines() {
        try (FileChannel ch = FileChannel.open(out, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size > consumed) {
                ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(size - consumed));
                while (b.hasRemaining() && ch.read(b, consumed + b.position()) > 0) {
                    // read until full
                }
                byte[] bytes = b.array();
                int from = 0;
                for (int i = 0; i < b.position(); i++) {
                    if (bytes[i] == '\n') {
                        lines.add(new String(bytes, from, i - from, StandardCharsets.UTF_8));
                        from = i + 1;
                    }
                }
                consumed += from;
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return List.copyOf(lines);
    }

    String stderr() {
        try {
            String s = Files.readString(err, StandardCharsets.UTF_8);
            return s.length() <= 8000 ? s : s.substring(0, 8000) + "\n...";
        } catch (IOException e) {
            return "(stderr unreadable: " + e + ")";
        }
    }

    @Override
    public void close() {
        process.destroyForcibly();
        try {
            process.waitFor(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
