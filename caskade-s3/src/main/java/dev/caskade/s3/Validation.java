package dev.caskade.s3;

import dev.caskade.Caskade;
import dev.caskade.Digest;
import dev.caskade.Snapshot;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * Proves a destination restorable ({@code serve --validation-interval}): takes a snapshot of the live store at
 * revision R, waits until the destination holds R, restores R into a temporary directory and compares the two
 * digests. A mismatch means the backup would not give back what the store holds.
 */
public final class Validation {
    private Validation() {}

    /**
     * @param revision the revision compared
     * @param ok whether the digests are equal
     * @param live the live store's digest at that revision
     * @param restored the restored store's digest
     * @param took how long the whole check took
     */
    public record Result(long revision, boolean ok, Digest live, Digest restored, Duration took) {}

    public static Result run(Caskade db, Shipper shipper, Path scratch, Duration timeout) {
        long start = System.nanoTime();
        Digest live;
        try (Snapshot s = db.snapshot()) {
            live = s.digest(new byte[0]);
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        while (shipper.status().shippedRevision() < live.revision()) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("validation: destination "
                        + shipper.store().url() + " did not reach revision " + live.revision() + " within " + timeout);
            }
            if (!shipper.syncNow()) sleep(200);
        }
        Path dir = null;
        try {
            Files.createDirectories(scratch);
            dir = Files.createTempDirectory(scratch, "validate-");
            Path target = dir.resolve("store");
            Restore.Result r = Restore.run(
                    shipper.store(),
                    target,
                    RestoreOptions.latest().atRevision(live.revision()),
                    Restore.Progress.NONE);
            boolean ok = r.digest().equals(live);
            return new Result(live.revision(), ok, live, r.digest(), Duration.ofNanos(System.nanoTime() - start));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            if (dir != null) deleteTree(dir);
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    static void deleteTree(Path dir) {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        } catch (IOException e) {
            // a leftover scratch directory is harmless
        }
    }
}
