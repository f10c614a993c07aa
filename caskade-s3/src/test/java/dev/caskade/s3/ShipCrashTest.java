package dev.caskade.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import dev.caskade.Caskade;
import dev.caskade.Change;
import dev.caskade.Digest;
import dev.caskade.LogTail;
import dev.caskade.VerifyReport;
import dev.caskade.WatchEvent;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SortedSet;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kills a process that commits (durability SYNC) and ships live to S3 with SIGKILL, most often in the middle of an
 * upload (see {@link ShipCrashWriter}: its uploads go through a slow link), again and again on the same data
 * directory, and checks the destination after every kill:
 *
 * <ol>
 *   <li>the latest restore is a prefix of the acknowledged history: its digest equals the digest of the source's
 *       own log replayed up to the restored revision (the data directory is reopened, which recovers it, then its
 *       whole log is read back with {@link LogTail} into a key map; that map's digest at the current revision is
 *       checked against {@link Caskade#digest} so the replay itself is checked too), and the destination is never
 *       ahead of the store;
 *   <li>no commit acknowledged at least {@link #LOSS_WINDOW} (sync interval + breaker open wait + a margin) before
 *       the kill is missing from it;
 *   <li>a restarted writer resumes the same generation (a new one must say why in its lineage), and the destination
 *       verifies clean after every kill;
 *   <li>restores at random revisions of that generation equal the replayed digests at those revisions.
 * </ol>
 *
 * Then one more kill lands while a new generation's first snapshot uploads, and a clean run after it catches up:
 * the destination verifies clean, the latest restore equals the store, the older generation stays restorable.
 *
 * <p>{@code -Dcaskade.crash.shipKills=N} sets the number of kills (3 by default, 20 with {@code -Pcrash});
 * {@code -Dcaskade.crash.seed=S} replays the random choices.
 */
class ShipCrashTest {
    static final String BUCKET = "caskade-crash";
    static final String PREFIX = "crash";
    static final Duration LOSS_WINDOW =
            ShipCrashWriter.SYNC_INTERVAL.plus(ShipCrashWriter.OPEN_WAIT).plus(Duration.ofMillis(800));

    @TempDir
    Path tmp;

    /** A commit the child acknowledged, and when (its wall clock, epoch ms). */
    record Ack(long revision, long at) {}

    private ObjectStore dest;
    private String generation;
    private int newGenerations;
    private long restoredTotal;
    private int midUpload;

    @Test
    void acknowledgedCommitsOlderThanTheLossWindowSurviveSigkill() throws Exception {
        int kills = Integer.getInteger("caskade.crash.shipKills", 3);
        long seed =
                Long.getLong("caskade.crash.seed", ThreadLocalRandom.current().nextLong());
        Duration budget = Duration.ofSeconds(60 + 15L * kills);
        System.out.println(
                "ShipCrashTest: seed=" + seed + " kills=" + kills + " (replay with -Dcaskade.crash.seed=" + seed + ")");
        Path dir = tmp.resolve("store");
        long start = System.nanoTime();
        try (S3ProxyFixture s3 = S3ProxyFixture.start(tmp.resolve("s3"))) {
            s3.createBucket(BUCKET);
            dest = new GuardedStore(S3Store.open(BUCKET, PREFIX, s3.options()), BreakerOptions.defaults());
            int round = 1;
            for (; round <= kills; round++) {
                if (System.nanoTime() - start > budget.toNanos()) {
                    System.out.println("ShipCrashTest: WARNING time budget " + budget + " spent after " + (round - 1)
                            + " of " + kills + " kills");
                    break;
                }
                try {
                    killAndCheck(s3, dir, seed, round);
                } catch (AssertionError | Exception e) {
                    throw new AssertionError(
                            "ShipCrashTest failed: seed=" + seed + " round=" + round + ": " + e.getMessage(), e);
                }
            }
            assertThat(round - 1).as("kills done within the time budget").isGreaterThanOrEqualTo(Math.min(kills, 3));
            try {
                finishAndCheck(s3, dir, seed);
            } catch (AssertionError | Exception e) {
                throw new AssertionError(
                        "ShipCrashTest failed: seed=" + seed + " after the last kill: " + e.getMessage(), e);
            }
            System.out.println("ShipCrashTest: " + round + " kills (" + midUpload + " in the middle of an upload), "
                    + restoredTotal + " revisions restored, "
                    + newGenerations + " new generations after a restart; "
                    + (System.nanoTime() - start) / 1_000_000 + " ms");
        } finally {
            if (dest != null) dest.close();
        }
    }

    /** One round: start the writer, kill it mid-flight, check the destination against the data directory. */
    private void killAndCheck(S3ProxyFixture s3, Path dir, long seed, int round) throws Exception {
        SplittableRandom rnd = new SplittableRandom(seed ^ (0x9E3779B97F4A7C15L * round));
        long runMillis = 1800 + rnd.nextInt(1700);
        // odd rounds: the kill follows the start of a log upload at once; even rounds: any moment
        boolean atUpload = round % 2 == 1;
        List<String> lines;
        long killAt;
        try (Child child = Child.start(
                ShipCrashWriter.class,
                List.of(
                        dir.toString(),
                        s3.endpoint().toString(),
                        BUCKET,
                        PREFIX,
                        Long.toString(rnd.nextLong()),
                        "60000",
                        "write"))) {
            String ready = awaitReady(child, "round " + round, true);
            Thread.sleep(runMillis);
            if (atUpload) {
                child.awaitLine(
                        child.lines().size(), l -> l.startsWith("PUT ") && l.contains("/log/"), Duration.ofSeconds(3));
            }
            killAt = System.currentTimeMillis();
            int exit = child.kill();
            lines = child.lines();
            assertThat(exit)
                    .as("writer exit status (SIGKILL = 137); stderr:\n%s", child.stderr())
                    .isEqualTo(Child.SIGKILL_EXIT);
            System.out.println("ShipCrashTest: round " + round + ": " + ready + ", killed after " + runMillis + " ms"
                    + (atUpload ? " and the next upload's start" : ""));
        }
        String inFlight = uploadInFlight(lines);
        if (inFlight != null) {
            midUpload++;
            System.out.println("ShipCrashTest: round " + round + ": killed in the middle of uploading " + inFlight);
        }
        List<Ack> acks = acks(lines);
        assertThat(acks).as("the writer acknowledged commits").isNotEmpty();
        long maxAck = acks.getLast().revision();

        // reopening recovers the directory (a torn tail is cut off); every acknowledged commit is there (SYNC)
        Digest local;
        try (Caskade db = Caskade.open(dir, ShipCrashWriter.storeOptions())) {
            VerifyReport v = db.verify();
            assertThat(v.problems()).as("local verify").isEmpty();
            assertThat(db.revision()).as("local revision vs acknowledged").isGreaterThanOrEqualTo(maxAck);
            local = db.digest(new byte[0]);
        }

        Restore.Result r =
                Restore.run(dest, tmp.resolve("restore-" + round), RestoreOptions.latest(), Restore.Progress.NONE);
        long restored = r.digest().revision();
        assertThat(restored)
                .as("the destination is never ahead of the durable store")
                .isLessThanOrEqualTo(local.revision());
        Map<Long, Digest> replayed = History.digestsAt(dir, new TreeSet<>(List.of(restored, local.revision())));
        assertThat(replayed.get(local.revision()))
                .as("the replayed log at the store's revision (checks the replay)")
                .isEqualTo(local);
        assertThat(r.digest())
                .as("the latest restore is the source as of revision %d", restored)
                .isEqualTo(replayed.get(restored));

        assertThat(Verifier.run(dest, (a, b, c, e) -> {}).problems())
                .as("verify the destination after the kill")
                .isEmpty();

        long mustHave = 0;
        for (Ack a : acks) if (a.at() <= killAt - LOSS_WINDOW.toMillis()) mustHave = Math.max(mustHave, a.revision());
        long lostAcks = acks.stream().filter(a -> a.revision() > restored).count();
        long oldestLostAge = acks.stream()
                .filter(a -> a.revision() > restored)
                .mapToLong(a -> killAt - a.at())
                .max()
                .orElse(0);
        System.out.println("ShipCrashTest: round " + round + ": " + acks.size() + " acks up to revision " + maxAck
                + ", store at " + local.revision() + ", restored " + restored + " (" + lostAcks
                + " acknowledged commits not shipped, the oldest acknowledged " + oldestLostAge
                + " ms before the kill); must have " + mustHave);
        assertThat(restored)
                .as(
                        "every commit acknowledged %d ms or more before the kill is restorable (%d acknowledged"
                                + " commits missing, the oldest %d ms before the kill)",
                        LOSS_WINDOW.toMillis(), lostAcks, oldestLostAge)
                .isGreaterThanOrEqualTo(mustHave);
    }

    /**
     * After the last kill: restores at random revisions of the generation every round shipped to; then a kill while
     * a new generation's first snapshot uploads (the local record of the generation is removed, as when a store is
     * replaced); then a clean run that catches up and closes, after which the whole destination verifies and the
     * latest restore equals the store.
     */
    private void finishAndCheck(S3ProxyFixture s3, Path dir, long seed) throws Exception {
        String shipped = generation;
        Generation g = generation(shipped);
        SplittableRandom rnd = new SplittableRandom(seed);
        SortedSet<Long> picks = new TreeSet<>(List.of(g.firstRevision(), g.lastRevision()));
        for (int i = 0; i < 8; i++) picks.add(rnd.nextLong(g.firstRevision(), g.lastRevision() + 1));
        Map<Long, Digest> replayed = History.digestsAt(dir, picks);
        for (long rev : picks) {
            Restore.Result r = Restore.run(
                    dest,
                    tmp.resolve("restore-at-" + rev),
                    RestoreOptions.latest().fromGeneration(shipped).atRevision(rev),
                    Restore.Progress.NONE);
            assertThat(r.digest()).as("restore at revision %d", rev).isEqualTo(replayed.get(rev));
        }
        restoredTotal += picks.size();
        System.out.println("ShipCrashTest: generation " + shipped + " [" + g.firstRevision() + ", "
                + g.lastRevision() + "], " + g.logs().size() + " log objects, " + g.bytes()
                + " bytes; restored revisions " + picks);

        // a kill during the first snapshot upload of a new generation
        try (Stream<Path> files = Files.list(dir.resolve("replication"))) {
            for (Path f : files.toList()) Files.delete(f);
        }
        try (Child child = Child.start(ShipCrashWriter.class, args(s3, dir, "catchup"))) {
            Optional<String> put = child.awaitLine(
                    l -> l.startsWith("PUT ") && l.contains("/snapshots/") || l.startsWith("ERR"),
                    Duration.ofSeconds(60));
            assertThat(put)
                    .as("the new generation's snapshot upload; stderr:\n%s", child.stderr())
                    .hasValueSatisfying(l -> assertThat(l).startsWith("PUT "));
            assertThat(child.kill()).isEqualTo(Child.SIGKILL_EXIT);
            String inFlight = uploadInFlight(child.lines());
            if (inFlight != null) midUpload++;
            System.out.println("ShipCrashTest: killed as a new generation began: "
                    + (inFlight != null ? "in the middle of uploading " + inFlight : "after " + put.get()));
        }
        Restore.Result r =
                Restore.run(dest, tmp.resolve("restore-genstart"), RestoreOptions.latest(), Restore.Progress.NONE);
        assertThat(r.digest())
                .as("the latest restore after a kill at a generation's start")
                .isEqualTo(
                        History.digestsAt(dir, new TreeSet<>(List.of(r.digest().revision())))
                                .get(r.digest().revision()));
        System.out.println("ShipCrashTest: after it, generations " + describe(Generation.list(dest)));
        assertThat(Verifier.run(dest, (a, b, c, e) -> {}).problems())
                .as("verify after a kill at a generation's start")
                .isEmpty();

        // the clean run: a new generation (the local record is still gone), caught up, closed
        List<String> lines;
        try (Child child = Child.start(ShipCrashWriter.class, args(s3, dir, "catchup"))) {
            awaitReady(child, "the final run", false);
            Optional<Integer> exit = child.awaitExit(Duration.ofSeconds(40));
            lines = child.lines();
            assertThat(exit)
                    .as("the final run's exit; stderr:\n%s", child.stderr())
                    .contains(0);
        }
        assertThat(generation).as("the final run's generation").isNotEqualTo(shipped);
        assertThat(generation(generation).lineage().reason()).isEqualTo("new");
        String done =
                lines.stream().filter(l -> l.startsWith("DONE ")).findFirst().orElseThrow();
        String[] d = done.split(" ");
        assertThat(d[1]).as("the final run's generation").isEqualTo(generation);
        assertThat(Long.parseLong(d[2])).as("caught up: %s", done).isEqualTo(Long.parseLong(d[3]));

        List<Generation> all = Generation.list(dest);
        Verifier.Report report = Verifier.run(dest, (a, b, c, e) -> {});
        System.out.println("ShipCrashTest: at the end, generations " + describe(all) + "; verified " + report.objects()
                + " objects");
        assertThat(report.problems()).as("verify the destination").isEmpty();
        Digest local;
        try (Caskade db = Caskade.open(dir, ShipCrashWriter.storeOptions())) {
            local = db.digest(new byte[0]);
        }
        Restore.Result latest =
                Restore.run(dest, tmp.resolve("restore-final"), RestoreOptions.latest(), Restore.Progress.NONE);
        assertThat(latest.digest()).as("latest restore after the final run").isEqualTo(local);
        // the older generation stays restorable up to where it ended
        Restore.Result old = Restore.run(
                dest,
                tmp.resolve("restore-old"),
                RestoreOptions.latest().fromGeneration(shipped),
                Restore.Progress.NONE);
        assertThat(old.digest()).isEqualTo(replayed.get(g.lastRevision()));
    }

    private Generation generation(String id) {
        return Generation.list(dest).stream()
                .filter(x -> x.id().equals(id))
                .findFirst()
                .orElseThrow(() -> new AssertionError("no generation " + id + " at " + dest.url()));
    }

    private static String describe(List<Generation> gens) {
        return gens.stream()
                .map(x -> x.id() + " (" + x.snapshots().size() + " snapshots, "
                        + x.logs().size() + " logs, reason "
                        + (x.lineage() == null ? null : x.lineage().reason()) + ")")
                .toList()
                .toString();
    }

    private static List<String> args(S3ProxyFixture s3, Path dir, String mode) {
        return List.of(dir.toString(), s3.endpoint().toString(), BUCKET, PREFIX, "0", "30000", mode);
    }

    /**
     * Waits for READY and checks the generation against the previous run's: the same one if {@code resume} (nothing
     * broke continuity: a kill is no reason for a new generation), else a new one whose lineage says why.
     */
    private String awaitReady(Child child, String where, boolean resume) throws InterruptedException {
        Optional<String> ready =
                child.awaitLine(l -> l.startsWith("READY ") || l.startsWith("ERR"), Duration.ofSeconds(60));
        if (ready.isEmpty() || !ready.get().startsWith("READY ")) {
            fail(where + ": the writer did not start shipping: " + ready.orElse("(nothing)") + "\nstderr:\n"
                    + child.stderr());
        }
        String gen = ready.get().split(" ")[1];
        if (generation != null && !gen.equals(generation)) {
            Lineage lineage = Generation.list(dest).stream()
                    .filter(g -> g.id().equals(gen))
                    .findFirst()
                    .map(Generation::lineage)
                    .orElse(null);
            assertThat(lineage)
                    .as("%s: new generation %s has a lineage record", where, gen)
                    .isNotNull();
            assertThat(lineage.reason())
                    .as("%s: why generation %s began", where, gen)
                    .isNotBlank();
            System.out.println("ShipCrashTest: " + where + ": new generation " + gen + " after " + generation
                    + " because: " + lineage.reason());
            assertThat(resume)
                    .as(
                            "%s: the writer began generation %s (%s) instead of resuming %s",
                            where, gen, lineage, generation)
                    .isFalse();
            newGenerations++;
        } else if (generation != null) {
            assertThat(resume)
                    .as("%s: the writer resumed %s, a new generation was due", where, gen)
                    .isTrue();
        }
        generation = gen;
        return ready.get();
    }

    /** The object whose upload had begun and not ended when the child died, or null. */
    private static String uploadInFlight(List<String> lines) {
        String open = null;
        for (String l : lines) {
            if (l.startsWith("PUT ")) open = l.substring(4);
            if (l.startsWith("PUT-DONE ")) open = null;
        }
        return open;
    }

    private static List<Ack> acks(List<String> lines) {
        List<Ack> acks = new ArrayList<>();
        for (String l : lines) {
            if (l.startsWith("ERR")) fail("the writer failed: " + l);
            if (!l.startsWith("ACK ")) continue;
            String[] t = l.split(" ");
            Ack a = new Ack(Long.parseLong(t[1]), Long.parseLong(t[2]));
            if (!acks.isEmpty()) {
                assertThat(a.revision())
                        .as("acknowledged revisions rise")
                        .isGreaterThan(acks.getLast().revision());
            }
            acks.add(a);
        }
        return acks;
    }

    /** The source's history, replayed from its own data directory. */
    static final class History {
        private History() {}

        /**
         * The {@link Digest} (as {@link dev.caskade.Snapshot#digest} defines it) of the store at each of the given
         * revisions, by replaying every commit in the directory's log from revision 1 into a key map.
         */
        static Map<Long, Digest> digestsAt(Path dir, SortedSet<Long> revisions) {
            TreeMap<byte[], byte[]> state = new TreeMap<>(Arrays::compareUnsigned);
            Map<Long, Digest> out = new HashMap<>();
            if (revisions.contains(0L)) out.put(0L, digest(0, state));
            try (LogTail tail = LogTail.open(dir)) {
                assertThat(tail.oldest()).as("the whole history is in %s", dir).isZero();
                long end = Math.min(tail.revision(), revisions.last());
                long after = 0;
                long[] prev = {0};
                for (int guard = 0; after < end && guard < 100_000; guard++) {
                    long got = tail.read(after, end, 8 << 20, (WatchEvent.Commit c) -> {
                        assertThat(c.revision()).as("revisions are consecutive").isEqualTo(prev[0] + 1);
                        prev[0] = c.revision();
                        for (Change ch : c.changes()) {
                            switch (ch.type()) {
                                case PUT -> state.put(ch.key(), ch.value());
                                case DELETE, EXPIRE -> state.remove(ch.key());
                            }
                        }
                        if (revisions.contains(c.revision())) out.put(c.revision(), digest(c.revision(), state));
                    });
                    if (got <= after) break;
                    after = got;
                }
            }
            assertThat(out.keySet()).as("replayed revisions").containsAll(revisions);
            return out;
        }

        static Digest digest(long revision, TreeMap<byte[], byte[]> state) {
            MessageDigest sha;
            try {
                sha = MessageDigest.getInstance("SHA-256");
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException(e);
            }
            ByteBuffer len = ByteBuffer.allocate(4);
            for (var e : state.entrySet()) {
                sha.update(len.clear().putInt(e.getKey().length).array());
                sha.update(e.getKey());
                sha.update(len.clear().putInt(e.getValue().length).array());
                sha.update(e.getValue());
            }
            return new Digest(revision, state.size(), HexFormat.of().formatHex(sha.digest()));
        }
    }

    /**
     * A second JVM running a test class's {@code main} with the test class path; closing it kills it. Its stdout
     * goes to a file, not a pipe, so every line whose write(2) completed before a SIGKILL is still there to read (a
     * pipe may lose what was in it when the JDK reaps the killed process).
     */
    static final class Child implements AutoCloseable {
        /** Exit status of a process killed by SIGKILL (128 + 9). */
        static final int SIGKILL_EXIT = 137;

        private final Process process;
        private final Path workDir;
        private final Path out;
        private final Path err;

        private Child(Process process, Path workDir, Path out, Path err) {
            this.process = process;
            this.workDir = workDir;
            this.out = out;
            this.err = err;
        }

        static Child start(Class<?> main, List<String> args) throws IOException {
            List<String> command = new ArrayList<>(List.of(
                    ProcessHandle.current()
                            .info()
                            .command()
                            .orElse(Path.of(System.getProperty("java.home"), "bin", "java")
                                    .toString()),
                    "-Xmx256m",
                    "-XX:+UseSerialGC",
                    "-XX:TieredStopAtLevel=1",
                    "-XX:-UsePerfData",
                    "--enable-native-access=ALL-UNNAMED",
                    "-cp",
                    classPath(),
                    main.getName()));
            command.addAll(args);
            Path workDir = Files.createTempDirectory("caskade-ship-child-");
            Path out = workDir.resolve("stdout");
            Path err = workDir.resolve("stderr");
            // stdin stays a pipe the parent never writes: the child sees EOF when the parent dies, and exits
            Process p = new ProcessBuilder(command)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(out.toFile()))
                    .redirectError(ProcessBuilder.Redirect.appendTo(err.toFile()))
                    .start();
            return new Child(p, workDir, out, err);
        }

        /** Surefire may run from a manifest-only jar; the real test class path is in surefire.test.class.path. */
        private static String classPath() {
            String cp = System.getProperty("surefire.test.class.path");
            return cp == null || cp.isBlank() ? System.getProperty("java.class.path") : cp;
        }

        /** The first complete line matching, seen so far or within the timeout; empty if it exits first. */
        Optional<String> awaitLine(Predicate<String> match, Duration timeout) throws InterruptedException {
            return awaitLine(0, match, timeout);
        }

        /** Like {@link #awaitLine(Predicate, Duration)}, among the lines from index {@code from} on. */
        Optional<String> awaitLine(int from, Predicate<String> match, Duration timeout) throws InterruptedException {
            long deadline = System.nanoTime() + timeout.toNanos();
            while (true) {
                boolean exited = !process.isAlive();
                List<String> lines = lines();
                for (int i = from; i < lines.size(); i++)
                    if (match.test(lines.get(i))) return Optional.of(lines.get(i));
                if (exited || System.nanoTime() > deadline) return Optional.empty();
                Thread.sleep(1);
            }
        }

        /** SIGKILLs it and waits; its exit status. */
        int kill() throws InterruptedException {
            process.destroyForcibly();
            if (!process.waitFor(30, TimeUnit.SECONDS)) throw new AssertionError("child survived SIGKILL");
            return process.exitValue();
        }

        Optional<Integer> awaitExit(Duration timeout) throws InterruptedException {
            return process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)
                    ? Optional.of(process.exitValue())
                    : Optional.empty();
        }

        /** Every complete stdout line so far (a last line without its newline is left out). */
        List<String> lines() {
            try {
                String s = Files.readString(out, StandardCharsets.UTF_8);
                int end = s.lastIndexOf('\n');
                return end < 0 ? List.of() : List.of(s.substring(0, end).split("\n"));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        String stderr() {
            try {
                String s = Files.readString(err, StandardCharsets.UTF_8);
                return s.length() <= 8000 ? s : "...\n" + s.substring(s.length() - 8000);
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
            try (Stream<Path> s = Files.walk(workDir)) {
                for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
            } catch (IOException e) {
                // leftovers in the temp directory are harmless
            }
        }
    }
}
