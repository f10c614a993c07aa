package dev.caskade.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/** Scratch data directories under {@code -Dcaskade.bench.dir} (default java.io.tmpdir); deleted after each trial. */
final class BenchDir {
    private BenchDir() {}

    static Path root() throws IOException {
        Path root = Path.of(System.getProperty("caskade.bench.dir", System.getProperty("java.io.tmpdir")));
        return Files.createDirectories(root);
    }

    static Path create(String name) throws IOException {
        return Files.createTempDirectory(root(), "caskade-bench-" + name + "-");
    }

    static void delete(Path dir) {
        if (dir == null || !Files.exists(dir)) return;
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static long bytes(Path dir) throws IOException {
        try (Stream<Path> walk = Files.walk(dir)) {
            long total = 0;
            for (Path p : walk.filter(Files::isRegularFile).toList()) {
                total += Files.size(p);
            }
            return total;
        }
    }
}
