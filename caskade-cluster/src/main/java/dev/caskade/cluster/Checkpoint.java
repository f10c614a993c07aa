package dev.caskade.cluster;

import dev.caskade.Caskade;
import dev.caskade.CompactedException;
import dev.caskade.Watch;
import dev.caskade.WatchEvent;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.ToIntFunction;

/**
 * Where a node of a sharded cluster stands in each shard's stream, at one of its own revisions: {@code DIR/positions},
 * a few lines of text ({@code shards N}, {@code revision L}, {@code positions r0 r1 ...}), replaced atomically (a
 * temporary file, fsync, rename) about once a second.
 *
 * <p>The positions are exact without being written with every commit: a shard's revisions are dense (1, 2, 3 ...) and
 * every commit of a node's store came from one shard, so the positions at the store's revision are the checkpoint's
 * plus, per shard, the number of the store's commits after the checkpoint that came from it. The store's history after
 * the checkpoint is held by a pin ({@code DIR/store/pins/cluster-positions}).
 *
 * @param revision the node's own revision the positions belong to
 * @param positions per shard, the last stream revision applied at {@code revision}
 */
record Checkpoint(long revision, long[] positions) {
    static final String FILE = "positions";
    static final String PIN = "cluster-positions";

    Checkpoint {
        positions = positions.clone();
    }

    static Checkpoint empty(int shards) {
        return new Checkpoint(0, new long[shards]);
    }

    /** The checkpoint in {@code dir}, or null when there is none. */
    static Checkpoint read(Path dir) {
        Path f = dir.resolve(FILE);
        if (!Files.exists(f)) return null;
        try {
            List<String> lines = Files.readAllLines(f, StandardCharsets.UTF_8);
            int shards = -1;
            long revision = -1;
            long[] positions = null;
            for (String line : lines) {
                String[] w = line.trim().split("\\s+");
                switch (w[0]) {
                    case "shards" -> shards = Integer.parseInt(w[1]);
                    case "revision" -> revision = Long.parseLong(w[1]);
                    case "positions" -> {
                        positions = new long[w.length - 1];
                        for (int i = 1; i < w.length; i++) positions[i - 1] = Long.parseLong(w[i]);
                    }
                    default -> {} // a later version's line
                }
            }
            if (shards < 2 || revision < 0 || positions == null || positions.length != shards)
                throw new IllegalStateException("damaged shard positions in " + f + ": " + lines);
            return new Checkpoint(revision, positions);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + f + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            if (e instanceof IllegalStateException) throw e;
            throw new IllegalStateException("damaged shard positions in " + f + ": " + e, e);
        }
    }

    void write(Path dir) {
        Path f = dir.resolve(FILE);
        Path tmp = dir.resolve(FILE + ".tmp");
        StringBuilder b = new StringBuilder()
                .append("shards ")
                .append(positions.length)
                .append("\nrevision ")
                .append(revision)
                .append("\npositions");
        for (long p : positions) b.append(' ').append(p);
        b.append('\n');
        try (FileChannel ch = FileChannel.open(
                tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
            ch.write(StandardCharsets.UTF_8.encode(b.toString()));
            ch.force(true);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + tmp + ": " + e.getMessage(), e);
        }
        try {
            Files.move(tmp, f, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
                d.force(true);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot replace " + f + ": " + e.getMessage(), e);
        }
    }

    /**
     * The positions at {@code db}'s revision: this checkpoint's, plus each commit after it counted for its shard.
     *
     * @throws IllegalStateException when the store is behind the checkpoint or no longer holds the history after it
     */
    Checkpoint advance(Caskade db, ToIntFunction<byte[]> shardOf) {
        long target = db.revision();
        if (target < revision)
            throw new IllegalStateException("the store " + db.directory() + " is at revision " + target
                    + ", behind its shard positions at " + revision
                    + " (commits lost: durability none and a power failure?)");
        if (target == revision) return this;
        long[] p = positions.clone();
        long from = revision;
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(5);
        while (from < target) {
            CountDownLatch done = new CountDownLatch(1);
            AtomicReference<WatchEvent.End> ended = new AtomicReference<>();
            long[] seen = {from};
            Watch w;
            try {
                w = db.watch(new byte[0], from, e -> {
                    switch (e) {
                        case WatchEvent.Commit c -> {
                            if (c.revision() > target) return;
                            p[shardOf.applyAsInt(c.changes().getFirst().key())]++;
                            seen[0] = c.revision();
                            if (c.revision() == target) done.countDown();
                        }
                        case WatchEvent.End end -> {
                            ended.set(end);
                            done.countDown();
                        }
                    }
                });
            } catch (CompactedException e) {
                throw new IllegalStateException(
                        "the store " + db.directory() + " no longer holds its history after the shard positions at "
                                + from + ": " + e.getMessage(),
                        e);
            }
            try {
                if (!done.await(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS))
                    throw new IllegalStateException(
                            "replaying the store's history after revision " + revision + " timed out at " + seen[0]);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while replaying the store's history", e);
            } finally {
                w.close();
            }
            WatchEvent.End end = ended.get();
            if (seen[0] < target && (end == null || end.reason() != WatchEvent.Reason.OVERFLOW))
                throw new IllegalStateException(
                        "replaying the store's history stopped at revision " + seen[0] + " of " + target + ": " + end);
            from = seen[0]; // after an overflow: go on from the last commit counted
        }
        return new Checkpoint(target, p);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Checkpoint c && c.revision == revision && Arrays.equals(c.positions, positions);
    }

    @Override
    public int hashCode() {
        return Long.hashCode(revision) * 31 + Arrays.hashCode(positions);
    }

    @Override
    public String toString() {
        return "Checkpoint[revision=" + revision + ", positions=" + Arrays.toString(positions) + "]";
    }
}
