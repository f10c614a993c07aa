package dev.caskade.client;

import static org.assertj.core.api.Assertions.assertThat;

import dev.caskade.Digest;
import dev.caskade.WatchEvent;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.NavigableSet;
import java.util.Optional;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentSkipListSet;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A {@link LocalReplica} in a child JVM ({@link ReplicaCrashChild}) follows a server in this JVM under a steady load
 * of puts, deletes and transactions, inside and outside its prefix, and is killed with SIGKILL at random moments
 * (during the bootstrap too) and restarted on the same directory. Every run must continue exactly where its reopened
 * store says it is: the commits it applies are the server's commits under the prefix after that revision, in order,
 * none repeated and none skipped. At the end, writes stop, a last child catches up and closes cleanly, and a replica
 * opened in this JVM on the same directory has the server's content (digest: keys and SHA-256).
 *
 * <p>{@code -Dcaskade.crash.replicaKills=N} sets the number of kills (3 by default); {@code -Dcaskade.crash.seed=S}
 * replays the random choices (the timing still varies).
 */
@Timeout(90)
class ReplicaCrashTest {
    static final String PREFIX = "r/";
    static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir
    Path tmp;

    /** One run of the child: what it printed, and how it ended. */
    record Run(int number, List<String> lines, boolean killed) {}

    @Test
    void appliedRevisionsContinueFromTheReopenedStoreAcrossKills() throws Exception {
        int kills = Integer.getInteger("caskade.crash.replicaKills", 3);
        long seed =
                Long.getLong("caskade.crash.seed", ThreadLocalRandom.current().nextLong());
        System.out.println("ReplicaCrashTest: seed=" + seed + " kills=" + kills + " (replay with -Dcaskade.crash.seed="
                + seed + ")");
        long start = System.nanoTime();
        Path replicaDir = tmp.resolve("replica");
        // every revision whose commit touched the prefix: exactly what the replica must apply
        NavigableSet<Long> touching = new ConcurrentSkipListSet<>();
        List<Run> runs = new ArrayList<>();
        try (LocalServer server = new LocalServer(tmp.resolve("server"));
                CaskadeClient client = server.client()) {
            SplittableRandom rnd = new SplittableRandom(seed);
            Load load = new Load(client, touching, rnd.split());
            // straight into the server's store (quicker than HTTP): a snapshot of many chunks, so that kills can land
            // in the bootstrap
            for (int i = 0; i < 400; i++) touching.add(server.db.put(PREFIX + "k" + i, "first-" + i));
            for (int i = 0; i < 50; i++) server.db.put("x/k" + i, "first-" + i);
            Thread writer = Thread.ofPlatform().name("replica-crash-load").start(load);
            try {
                for (int round = 1; round <= kills; round++) {
                    try (ChildJvm child = ChildJvm.start(
                            ReplicaCrashChild.class,
                            replicaDir,
                            server.uri().toString(),
                            replicaDir.toString(),
                            PREFIX)) {
                        assertThat(child.awaitLine(l -> l.startsWith("OPEN "), WAIT))
                                .as("round %d: the child starts; stderr:\n%s", round, child.stderr())
                                .isPresent();
                        // odd rounds: any moment from the start (the bootstrap too); even rounds: once it follows
                        if (round % 2 == 0) child.awaitLine(ReplicaCrashTest::applied, WAIT);
                        Thread.sleep(rnd.nextInt(round % 2 == 0 ? 1000 : 2500));
                        int exit = child.kill();
                        assertThat(exit)
                                .as("round %d: exit status (SIGKILL = 137); stderr:\n%s", round, child.stderr())
                                .isEqualTo(ChildJvm.SIGKILL_EXIT);
                        runs.add(new Run(round, child.lines(), true));
                        System.out.println("ReplicaCrashTest: round " + round + ": " + summary(runs.getLast()));
                    }
                }
                // the last run: it catches up with the writes stopped, then closes cleanly when its stdin ends
                try (ChildJvm child = ChildJvm.start(
                        ReplicaCrashChild.class, replicaDir, server.uri().toString(), replicaDir.toString(), PREFIX)) {
                    assertThat(child.awaitLine(ReplicaCrashTest::applied, WAIT))
                            .as("the last run follows; stderr:\n%s", child.stderr())
                            .isPresent();
                    Thread.sleep(300);
                    load.stop();
                    writer.join(10_000);
                    assertThat(writer.isAlive()).as("the load stopped").isFalse();
                    assertThat(load.failure.get()).as("the load's writes").isNull();
                    long last = touching.isEmpty() ? 0 : touching.last();
                    Optional<String> caughtUp = child.awaitLine(l -> applied(l) && revision(l) >= last, WAIT);
                    assertThat(caughtUp)
                            .as("the last run applies revision %d; seed %d; stderr:\n%s", last, seed, child.stderr())
                            .isPresent();
                    child.closeInput();
                    assertThat(child.awaitExit(WAIT))
                            .as("the last run closes cleanly; stderr:\n%s", child.stderr())
                            .contains(0);
                    runs.add(new Run(kills + 1, child.lines(), false));
                    System.out.println("ReplicaCrashTest: last run: " + summary(runs.getLast()));
                }
            } finally {
                load.stop();
                writer.join(10_000);
            }

            try {
                checkRuns(runs, touching);
                checkFinalContent(client, replicaDir, runs.getLast(), touching);
            } catch (AssertionError e) {
                throw new AssertionError("ReplicaCrashTest failed: seed=" + seed + ": " + e.getMessage(), e);
            }
            System.out.println("ReplicaCrashTest: " + load.writes.get() + " writes, " + touching.size()
                    + " commits under " + PREFIX + ", server at revision " + client.revision() + "; "
                    + (System.nanoTime() - start) / 1_000_000 + " ms");
        }
    }

    /**
     * Each run starts from its reopened store's revision ({@code OPEN}); from there, each commit it applies is the
     * next one under the prefix (no gap, no repeat of what the store already held), and a snapshot ({@code RESET})
     * comes only as the first thing of a run that found no store.
     */
    private static void checkRuns(List<Run> runs, NavigableSet<Long> touching) {
        long previousLast = -1;
        for (Run run : runs) {
            String where = "run " + run.number() + " " + (run.killed() ? "(killed)" : "(last)");
            List<String> lines = run.lines();
            assertThat(lines).as("%s printed OPEN", where).isNotEmpty();
            assertThat(lines.getFirst()).as(where).startsWith("OPEN ");
            long open = revision(lines.getFirst());
            if (previousLast > 0) {
                // what the previous run printed was written first: the store holds it, or at most one more (applied,
                // then killed before it was printed); a run that never had a store may have been killed between
                // loading its snapshot and printing RESET, so only the lower bound holds then
                Long next = touching.higher(previousLast);
                assertThat(open)
                        .as("%s: the reopened store vs the previous run's last applied %d", where, previousLast)
                        .isGreaterThanOrEqualTo(previousLast)
                        .isLessThanOrEqualTo(next == null ? previousLast : next);
            }
            long cursor = open;
            long applied = cursor;
            for (int i = 1; i < lines.size(); i++) {
                String l = lines.get(i);
                if (l.startsWith("RESET ")) {
                    assertThat(open)
                            .as("%s: a snapshot only when no store was there: %s", where, l)
                            .isZero();
                    assertThat(i)
                            .as("%s: the snapshot comes first: %s", where, l)
                            .isEqualTo(1);
                    cursor = revision(l);
                } else if (l.startsWith("COMMIT ")) {
                    long rev = revision(l);
                    Long expected = touching.higher(cursor);
                    assertThat(rev)
                            .as(
                                    "%s: after revision %d (store opened at %d) the next commit under %s is %s",
                                    where, cursor, open, PREFIX, expected)
                            .isEqualTo(expected);
                    cursor = rev;
                } else if (l.startsWith("CLOSED ")) {
                    assertThat(revision(l))
                            .as("%s: a clean close keeps everything applied", where)
                            .isEqualTo(cursor);
                    assertThat(i).as("%s: CLOSED is the last line", where).isEqualTo(lines.size() - 1);
                } else {
                    throw new AssertionError(where + ": unexpected line: " + l);
                }
                applied = cursor;
            }
            previousLast = applied;
        }
    }

    /** A replica opened here on the same directory starts where the last run closed and has the server's content. */
    private static void checkFinalContent(CaskadeClient client, Path replicaDir, Run last, NavigableSet<Long> touching)
            throws Exception {
        long closedAt = revision(last.lines().getLast());
        List<Long> applied = new ArrayList<>();
        try (LocalReplica replica = LocalReplica.open(client, PREFIX, replicaDir, new LocalReplica.Listener() {
            @Override
            public void commit(WatchEvent.Commit c) {
                applied.add(c.revision());
            }

            @Override
            public void reset(long revision) {
                applied.add(-revision);
            }
        })) {
            assertThat(replica.awaitRevision(touching.last(), WAIT))
                    .as("the reopened replica's revision")
                    .isTrue();
            assertThat(replica.revision()).isEqualTo(closedAt);
            Digest server = client.digest(PREFIX);
            Digest local = replica.digest();
            assertThat(local.keys())
                    .as("keys: server %s, replica %s", server, local)
                    .isEqualTo(server.keys());
            assertThat(local.sha256())
                    .as("sha256: server %s, replica %s", server, local)
                    .isEqualTo(server.sha256());
            assertThat(local.keys()).as("the prefix is not empty").isPositive();
        }
        assertThat(applied)
                .as("nothing to apply after a clean close and no writes")
                .isEmpty();
    }

    private static String summary(Run run) {
        List<String> lines = run.lines();
        long commits = lines.stream().filter(l -> l.startsWith("COMMIT ")).count();
        String reset = lines.stream()
                .filter(l -> l.startsWith("RESET "))
                .findFirst()
                .map(l -> ", snapshot at " + revision(l))
                .orElse("");
        String lastLine = lines.isEmpty() ? "(nothing)" : lines.getLast();
        return (lines.isEmpty() ? "(no output)" : lines.getFirst()) + reset + ", " + commits
                + " commits applied, last line " + lastLine;
    }

    private static boolean applied(String line) {
        return line.startsWith("COMMIT ") || line.startsWith("RESET ");
    }

    private static long revision(String line) {
        return Long.parseLong(line.substring(line.indexOf(' ') + 1).trim());
    }

    /**
     * The writer: puts and deletes under the prefix, transactions of several keys (always with a put under the
     * prefix), and writes outside it that the replica must not see; it records the revisions that touched the prefix.
     */
    static final class Load implements Runnable {
        private final CaskadeClient client;
        private final NavigableSet<Long> touching;
        private final SplittableRandom rnd;
        private final AtomicBoolean stop = new AtomicBoolean();
        final AtomicLong writes = new AtomicLong();
        final AtomicReference<Throwable> failure = new AtomicReference<>();

        Load(CaskadeClient client, NavigableSet<Long> touching, SplittableRandom rnd) {
            this.client = client;
            this.touching = touching;
            this.rnd = rnd;
        }

        void stop() {
            stop.set(true);
        }

        @Override
        public void run() {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            try {
                while (!stop.get() && System.nanoTime() < deadline) {
                    step();
                    if (rnd.nextInt(4) == 0) Thread.sleep(1); // leave the 2 cores some room for the child
                }
            } catch (Throwable t) {
                failure.set(t);
            }
        }

        void step() {
            int op = rnd.nextInt(100);
            String k = PREFIX + "k" + rnd.nextInt(400);
            if (op < 55) {
                touching.add(client.put(k, value()));
            } else if (op < 70) {
                long rev = client.delete(k);
                if (rev > 0) touching.add(rev); // 0: the key was absent, nothing committed
            } else if (op < 85) {
                List<Txn.Op> ops = new ArrayList<>();
                ops.add(Txn.put(k, value()));
                Set<String> keys = new HashSet<>(List.of(k));
                for (int i = rnd.nextInt(4); i > 0; i--) {
                    String other = (rnd.nextBoolean() ? PREFIX + "k" : "x/k") + rnd.nextInt(400);
                    if (!keys.add(other)) continue; // one op per key
                    ops.add(rnd.nextInt(3) == 0 ? Txn.delete(other) : Txn.put(other, value()));
                }
                TxnResult r = client.txn(Txn.create().success(ops.toArray(Txn.Op[]::new)));
                assertThat(r.succeeded()).isTrue();
                touching.add(r.revision());
            } else {
                client.put("x/k" + rnd.nextInt(100), value()); // outside the prefix
            }
            writes.incrementAndGet();
        }

        private String value() {
            return "v" + rnd.nextLong() + "-".repeat(rnd.nextInt(64));
        }
    }
}
