package dev.caskade.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import dev.caskade.Batch;
import dev.caskade.Caskade;
import dev.caskade.Watch;
import dev.caskade.WatchEvent;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A node in a child JVM ({@link ClusterCrashChild}) is killed with SIGKILL while it applies a steady load written on
 * another node, and restarted on the same directory: every run applies, from its reopened store's revision on, each
 * next revision exactly once (none skipped, none twice), and the last one ends with the writer's content.
 */
@Timeout(240) // -Pcrash: 30 kills per test
class ClusterCrashTest {
    @TempDir
    Path tmp;

    @Test
    void aKilledNodeResumesFromItsStoreWithNoGapAndNoDuplicate() throws Exception {
        crashAndRestart(1);
    }

    @Test
    void aKilledNodeOfAShardedClusterResumesEveryStreamExactly() throws Exception {
        crashAndRestart(4);
    }

    /**
     * Node b runs in a child process, killed {@code caskade.crash.clusterKills} times and then closed cleanly, while
     * node a writes. Each run applies its reopened revision's successors one by one; at the end b's whole history,
     * counted per shard, is each stream exactly once (no entry skipped, none twice), and b holds a's content.
     */
    private void crashAndRestart(int shards) throws Exception {
        long seed = ThreadLocalRandom.current().nextLong();
        String name = "ClusterCrashTest (" + shards + (shards == 1 ? " shard" : " shards") + ")";
        System.out.println(name + ": seed=" + seed);
        SplittableRandom rnd = new SplittableRandom(seed);
        int kills = Integer.getInteger("caskade.crash.clusterKills", 3);
        try (RedisProcess redis = RedisProcess.start(tmp.resolve("redis"));
                ClusterNode a = ClusterNode.open(
                        tmp.resolve("a"),
                        ClusterOptions.parse(redis.url("crash")).withNodeId("a").withShards(shards))) {
            AtomicBoolean stop = new AtomicBoolean();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            Thread writer = Thread.ofPlatform().start(() -> {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                try {
                    for (int i = 0; !stop.get() && System.nanoTime() < deadline; i++) {
                        String g = "{g" + i % 40 + "}"; // a batch's keys share a shard
                        if (i % 4 == 0)
                            a.store()
                                    .commit(Batch.create()
                                            .put(g + ":x", "b" + i)
                                            .delete(g + ":y" + i % 3));
                        else a.store().put("k" + i % 300, "v" + i);
                        if (i % 8 == 0) Thread.sleep(1); // room for the child on 2 cores
                    }
                } catch (Throwable t) {
                    failure.set(t);
                }
            });
            Path dir = tmp.resolve("b");
            long previousPrinted = 0;
            try {
                for (int round = 0; round <= kills; round++) {
                    boolean last = round == kills;
                    if (last) {
                        stop.set(true);
                        writer.join(10_000);
                    }
                    Path outFile = tmp.resolve("child-" + round + ".out");
                    Process p = new ProcessBuilder(
                                    javaBinary(),
                                    "-Xmx128m",
                                    "-XX:+UseSerialGC",
                                    "-XX:TieredStopAtLevel=1",
                                    "-cp",
                                    classPath(),
                                    ClusterCrashChild.class.getName(),
                                    redis.url("crash"),
                                    dir.toString(),
                                    "b",
                                    Integer.toString(shards))
                            .redirectOutput(outFile.toFile())
                            .redirectError(
                                    tmp.resolve("child-" + round + ".err").toFile())
                            .start();
                    try {
                        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                        if (last) {
                            // every revision of b is one stream entry applied: b ends at the sum of a's positions
                            long total = LongStream.of(a.positions()).sum();
                            while (System.nanoTime() < until && lastCommit(outFile) < total) Thread.sleep(20);
                            p.getOutputStream().close();
                            assertThat(p.waitFor(20, TimeUnit.SECONDS)).isTrue();
                            assertThat(p.exitValue()).as(err(round)).isZero();
                        } else {
                            while (System.nanoTime() < until && lastCommit(outFile) == 0) Thread.sleep(10);
                            Thread.sleep(100 + rnd.nextInt(700));
                            p.destroyForcibly();
                            assertThat(p.waitFor(20, TimeUnit.SECONDS)).isTrue();
                        }
                    } finally {
                        p.destroyForcibly();
                    }
                    List<String> lines = lines(outFile);
                    assertThat(lines).as("round %d: %s", round, err(round)).isNotEmpty();
                    long open = revision(lines.getFirst());
                    // each commit is printed right after it is applied: at most one applied commit went unprinted
                    // (a lost unwritten tail would only make `open` lower: the stream brings it again)
                    assertThat(open)
                            .as("round %d reopens at most one past what the last run printed", round)
                            .isLessThanOrEqualTo(previousPrinted + 1);
                    long cursor = open;
                    for (String l : lines.subList(1, lines.size())) {
                        if (l.startsWith("CLOSED ")) {
                            assertThat(revision(l)).isEqualTo(cursor);
                            continue;
                        }
                        assertThat(revision(l))
                                .as("round %d after %d, seed %d", round, cursor, seed)
                                .isEqualTo(cursor + 1);
                        cursor++;
                    }
                    assertThat(cursor).as("round %d applied something", round).isGreaterThan(open);
                    previousPrinted = cursor;
                    System.out.println(name + ": round " + round + ": opened at " + open + ", applied to " + cursor
                            + (last ? " (clean close)" : " (killed)"));
                }
            } finally {
                stop.set(true);
                writer.join(10_000);
            }
            assertThat(failure.get()).isNull();
            long[] counted = new long[shards];
            try (Caskade b = Caskade.openReadOnly(dir.resolve("store"))) {
                CountDownLatch done = new CountDownLatch(1);
                long end = b.revision();
                Watch w = b.watch(new byte[0], 0, e -> {
                    if (e instanceof WatchEvent.Commit c) {
                        counted[a.shardOf(c.changes().getFirst().key())]++;
                        if (c.revision() == end) done.countDown();
                    }
                });
                try {
                    assertThat(done.await(30, TimeUnit.SECONDS)).isTrue();
                } finally {
                    w.close();
                }
                assertThat(counted)
                        .as("commits per shard in b's history, seed %d", seed)
                        .containsExactly(a.positions());
                assertThat(b.digest(new byte[0]).sha256())
                        .isEqualTo(a.store().digest(new byte[0]).sha256());
            }
        }
    }

    private String err(int round) {
        try {
            return Files.readString(tmp.resolve("child-" + round + ".err"));
        } catch (IOException e) {
            return "(no stderr)";
        }
    }

    /** Complete lines only: a line cut by the kill is left out. */
    private static List<String> lines(Path f) throws IOException {
        String s = Files.readString(f, StandardCharsets.UTF_8);
        List<String> out = new ArrayList<>();
        int from = 0;
        for (int i = s.indexOf('\n'); i >= 0; i = s.indexOf('\n', from)) {
            out.add(s.substring(from, i));
            from = i + 1;
        }
        return out;
    }

    private static long lastCommit(Path f) throws IOException {
        List<String> ls = Files.exists(f) ? lines(f) : List.of();
        for (int i = ls.size() - 1; i >= 0; i--) if (ls.get(i).startsWith("COMMIT ")) return revision(ls.get(i));
        return 0;
    }

    private static long revision(String line) {
        return Long.parseLong(line.substring(line.indexOf(' ') + 1).trim());
    }

    private static String javaBinary() {
        return ProcessHandle.current()
                .info()
                .command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    }

    private static String classPath() {
        String cp = System.getProperty("surefire.test.class.path");
        return cp == null || cp.isBlank() ? System.getProperty("java.class.path") : cp;
    }
}
