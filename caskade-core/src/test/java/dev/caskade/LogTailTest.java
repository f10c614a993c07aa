package dev.caskade;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.fail;

import dev.caskade.CrashWriter.Op;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.LongStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link LogTail}: reading the committed log of a store that another writer (in this JVM, or a child JVM killed
 * with SIGKILL) is writing, from its files alone. The oracle is the engine's own change feed: a watch from revision
 * 0 delivers every commit with its revision, timestamp and changes.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class LogTailTest {
    private static final Duration WAIT = Duration.ofSeconds(30);
    /** Operations of the concurrent writer; {@code -Dcaskade.tail.ops=20000} makes the races of a roll likelier. */
    private static final int OPS = Integer.getInteger("caskade.tail.ops", 2_000);

    private static CaskadeOptions small() {
        return CaskadeOptions.defaults()
                .withDurability(Durability.NONE)
                .withSegmentBytes(4096)
                .withMerge(0.6, 512L << 20, 0, Duration.ZERO)
                .withWatchBuffer(1_000_000);
    }

    /** Reads until nothing new comes twice in a row; returns the last revision. Bounded. */
    private static long drain(LogTail tail, long after, long maxBytes, List<WatchEvent.Commit> out) {
        long last = after;
        for (int i = 0, idle = 0; i < 100_000 && idle < 2; i++) {
            long next = tail.read(last, Long.MAX_VALUE, maxBytes, out::add);
            idle = next == last ? idle + 1 : 0;
            last = next;
        }
        return last;
    }

    private static List<WatchEvent.Commit> history(Caskade db) {
        EventLog log = new EventLog();
        Watch w = db.watch("", 0, log);
        log.awaitRevision(db.revision(), WAIT);
        w.close();
        return log.commits();
    }

    // ---- a writer in this JVM

    @Test
    void concurrentWriterEveryCommitOnceInOrderAcrossRollsBatchesAndExpiries(@TempDir Path dir) throws Exception {
        long seed = Long.getLong("caskade.tail.seed", System.nanoTime());
        String why = "seed " + seed + " (replay with -Dcaskade.tail.seed=" + seed + ")";
        SplittableRandom rnd = new SplittableRandom(seed);
        ManualClock clock = new ManualClock(1_700_000_000_000L);
        CaskadeOptions options =
                small().withDurability(Durability.SYNC).withClock(clock).withReapInterval(Duration.ZERO);
        long t0 = System.nanoTime();
        try (Caskade db = Caskade.open(dir, options);
                LogTail tail = LogTail.open(dir)) {
            EventLog oracle = new EventLog();
            db.watch("", 0, oracle);
            AtomicBoolean writing = new AtomicBoolean(true);
            List<Throwable> failures = new ArrayList<>();
            long writerSeed = rnd.nextLong();
            Thread writer = Thread.ofPlatform().name("writer").start(() -> {
                try {
                    write(db, clock, new SplittableRandom(writerSeed), OPS);
                } catch (Throwable e) {
                    synchronized (failures) {
                        failures.add(e);
                    }
                } finally {
                    writing.set(false);
                }
            });

            List<WatchEvent.Commit> got = new ArrayList<>();
            long last = 0;
            int reads = 0;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
            while (writing.get() && System.nanoTime() < deadline) {
                long maxBytes = rnd.nextInt(4) == 0 ? 1 : 1 + rnd.nextInt(16 << 10);
                long upTo = rnd.nextInt(5) == 0 ? last + 1 + rnd.nextInt(5) : Long.MAX_VALUE;
                int before = got.size();
                long next = tail.read(last, upTo, maxBytes, got::add);
                reads++;
                assertThat(next).as(why).isBetween(last, upTo);
                if (next > last) assertThat(got.getLast().revision()).as(why).isEqualTo(next);
                if (next == last) {
                    assertThat(got).as(why).hasSize(before);
                    Thread.sleep(1);
                }
                last = next;
            }
            writer.join(TimeUnit.SECONDS.toMillis(60));
            assertThat(writer.isAlive()).as("writer finished").isFalse();
            synchronized (failures) {
                if (!failures.isEmpty()) throw new AssertionError("writer failed, " + why, failures.getFirst());
            }
            last = drain(tail, last, 1 << 20, got);
            long revision = db.revision();
            oracle.awaitRevision(revision, WAIT);

            assertThat(last).as(why).isEqualTo(revision);
            assertThat(got.stream().mapToLong(WatchEvent.Commit::revision))
                    .as("every revision once, in order, " + why)
                    .containsExactlyElementsOf(
                            LongStream.rangeClosed(1, revision).boxed().toList());
            assertThat(got)
                    .as("the commits as the engine's change feed has them, " + why)
                    .containsExactlyElementsOf(oracle.commits());
            assertThat(got.stream().flatMap(c -> c.changes().stream()).map(Change::type))
                    .as("puts, deletes and expiries")
                    .contains(ChangeType.PUT, ChangeType.DELETE, ChangeType.EXPIRE);
            assertThat(got).as("multi-entry commits").anyMatch(c -> c.changes().size() > 3);
            int segments = db.stats().segments();
            assertThat(segments).as("segments rolled").isGreaterThan(10);
            try (LogTail t = LogTail.open(dir)) {
                assertThat(t.revision()).isEqualTo(revision);
                assertThat(t.oldest()).isZero();
            }
            System.out.printf(
                    "LogTailTest concurrent: %d commits in %d segments, %d reads, %d ms (%s)%n",
                    revision, segments, reads, (System.nanoTime() - t0) / 1_000_000, why);
        }
    }

    /** Puts, deletes, batches (waiting and not), TTL puts and reaper passes, with the clock moving. */
    private static void write(Caskade db, ManualClock clock, SplittableRandom rnd, int ops) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        long lastNoWait = 0;
        for (int i = 0; i < ops && System.nanoTime() < deadline; i++) {
            String key = "k/" + rnd.nextInt(60);
            String value = i + "-" + "v".repeat(rnd.nextInt(300));
            switch (rnd.nextInt(10)) {
                case 0, 1, 2 -> db.put(key, value);
                case 3 -> db.delete(key);
                case 4 -> db.put(key, value, Duration.ofMillis(1 + rnd.nextInt(50)));
                case 5, 6 -> {
                    Batch b = Batch.create();
                    int n = 1 + rnd.nextInt(8);
                    for (int j = 0; j < n; j++) {
                        String k = "b/" + rnd.nextInt(40);
                        if (rnd.nextInt(4) == 0) b.delete(k);
                        else if (rnd.nextInt(4) == 0) b.put(k, value, Duration.ofMillis(1 + rnd.nextInt(50)));
                        else b.put(k, value + j);
                    }
                    if (rnd.nextBoolean()) db.commit(b);
                    else lastNoWait = db.commitNoWait(b);
                }
                case 7 -> db.put("big/" + rnd.nextInt(5), "B".repeat(2_000 + rnd.nextInt(3_000)));
                default -> {
                    clock.advance(rnd.nextInt(30));
                    db.reapExpired();
                }
            }
            if (lastNoWait > 0 && rnd.nextInt(20) == 0) {
                db.whenDurable(lastNoWait).join();
            }
        }
        clock.advance(100);
        db.reapExpired();
        db.whenDurable(db.revision()).join(); // commitNoWait commits reach the watch once fsynced
    }

    @Test
    void readsIncrementallyByMaxBytesAndUpTo(@TempDir Path dir) {
        try (Caskade db = Caskade.open(dir, small());
                LogTail tail = LogTail.open(dir)) {
            assertThat(tail.revision()).isZero();
            assertThat(tail.read(0, Long.MAX_VALUE, 1 << 20, c -> fail("nothing written yet: " + c)))
                    .isZero();
            for (int i = 1; i <= 50; i++) db.put(String.format("key/%04d", i), "v".repeat(100)); // 147-byte entries
            Batch big = Batch.create();
            for (int i = 0; i < 40; i++) big.put("batch/" + i, "w".repeat(100));
            long batchRevision = db.commit(big); // larger than a segment: one commit all the same
            List<WatchEvent.Commit> all = history(db);
            int entry = EntryCodec.size(8, 100);

            List<WatchEvent.Commit> got = new ArrayList<>();
            assertThat(tail.read(0, Long.MAX_VALUE, 1, got::add)).isEqualTo(1);
            assertThat(got).containsExactlyElementsOf(all.subList(0, 1));
            got.clear();
            assertThat(tail.read(1, Long.MAX_VALUE, 3L * entry, got::add)).isEqualTo(4);
            assertThat(got).containsExactlyElementsOf(all.subList(1, 4));
            got.clear();
            assertThat(tail.read(4, Long.MAX_VALUE, 3L * entry + 1, got::add))
                    .as("stops once at least maxBytes were delivered")
                    .isEqualTo(8);
            got.clear();
            assertThat(tail.read(10, 12, Long.MAX_VALUE, got::add)).isEqualTo(12);
            assertThat(got).containsExactlyElementsOf(all.subList(10, 12));
            got.clear();
            assertThat(tail.read(3, 5, Long.MAX_VALUE, got::add))
                    .as("any after, also behind the last read")
                    .isEqualTo(5);
            assertThat(got).containsExactlyElementsOf(all.subList(3, 5));
            got.clear();
            assertThat(tail.read(49, Long.MAX_VALUE, 1, got::add))
                    .as("the last put")
                    .isEqualTo(50);
            assertThat(tail.read(50, Long.MAX_VALUE, 1, got::add))
                    .as("a commit bigger than maxBytes and than a segment comes whole")
                    .isEqualTo(batchRevision);
            assertThat(got.getLast().changes()).hasSize(40);
            assertThat(got).containsExactlyElementsOf(all.subList(49, 51));
            assertThat(tail.read(batchRevision, Long.MAX_VALUE, 1, got::add)).isEqualTo(batchRevision);
            assertThat(tail.read(7, 7, 1, got::add)).as("an empty range").isEqualTo(7);
            assertThat(got).hasSize(2);
            assertThat(tail.revision()).isEqualTo(batchRevision);
            assertThatThrownBy(() -> tail.read(5, 4, 1, c -> {})).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> tail.read(-1, 4, 1, c -> {})).isInstanceOf(IllegalArgumentException.class);
        }
    }

    // ---- history that merge removed

    @Test
    void openSegmentsOutliveTheMergeThatDeletesThem(@TempDir Path dir) {
        CaskadeOptions options = small().withHistory(Duration.ZERO, 0);
        try (Caskade db = Caskade.open(dir, options)) {
            for (int i = 0; i < 400; i++) db.put("k/" + (i % 10), i + "-" + "v".repeat(150));
            List<WatchEvent.Commit> all = history(db);
            try (LogTail early = LogTail.open(dir)) { // opens every segment there is
                List<WatchEvent.Commit> got = new ArrayList<>();
                long last = early.read(0, Long.MAX_VALUE, 1_000, got::add);
                assertThat(db.merge()).as("merge of mostly dead segments").isTrue();
                long compacted = db.compactedRevision();
                assertThat(compacted).isGreaterThan(last);
                assertThat(Files.exists(dir.resolve(Segment.fileName(1))))
                        .as("first segment deleted")
                        .isFalse();

                last = drain(early, last, 4_000, got);
                assertThat(last).isEqualTo(400);
                assertThat(got).as("history through the deleted files").containsExactlyElementsOf(all);

                try (LogTail late = LogTail.open(dir)) {
                    long oldest = late.oldest();
                    assertThat(oldest).isEqualTo(compacted);
                    assertThatThrownBy(() -> late.read(0, Long.MAX_VALUE, 1 << 20, c -> {}))
                            .isInstanceOfSatisfying(CompactedException.class, e -> {
                                assertThat(e.requested()).isZero();
                                assertThat(e.oldest()).isEqualTo(oldest);
                            });
                    List<WatchEvent.Commit> rest = new ArrayList<>();
                    assertThat(drain(late, oldest, 1 << 20, rest)).isEqualTo(400);
                    assertThat(rest)
                            .as("merged segments are not history")
                            .containsExactlyElementsOf(all.subList((int) oldest, all.size()));
                }
            }
        }
    }

    @Test
    void historyMergedAwayBeforeItWasOpenedIsCompacted(@TempDir Path dir) {
        CaskadeOptions options = small().withHistory(Duration.ZERO, 0);
        try (Caskade db = Caskade.open(dir, options)) {
            for (int i = 0; i < 100; i++) db.put("k/" + (i % 10), i + "-" + "v".repeat(150));
            try (LogTail tail = LogTail.open(dir)) {
                // it has opened the segments of the first 100 commits, not those written next
                for (int i = 100; i < 500; i++) db.put("k/" + (i % 10), i + "-" + "v".repeat(150));
                List<WatchEvent.Commit> all = history(db);
                assertThat(db.merge()).isTrue();
                List<WatchEvent.Commit> got = new ArrayList<>();
                long last = tail.read(0, Long.MAX_VALUE, Long.MAX_VALUE, got::add);
                // the open files: the five sealed segments and the one that was being written, sealed since
                assertThat(last).as("what the open files hold").isBetween(100L, 200L);
                assertThat(got).containsExactlyElementsOf(all.subList(0, (int) last));
                long oldest = tail.oldest();
                assertThat(oldest).isGreaterThan(last);
                assertThatThrownBy(() -> tail.read(last, Long.MAX_VALUE, 1 << 20, c -> {}))
                        .isInstanceOfSatisfying(CompactedException.class, e -> {
                            assertThat(e.requested()).isEqualTo(last);
                            assertThat(e.oldest()).isEqualTo(oldest);
                        });
                got.clear();
                assertThat(drain(tail, oldest, 1 << 20, got)).isEqualTo(500);
                assertThat(got).containsExactlyElementsOf(all.subList((int) oldest, 500));
            }
        }
    }

    // ---- damage and unfinished tails

    @Test
    void damageInASealedSegmentIsCorruptionNamingFileAndOffset(@TempDir Path dir) throws IOException {
        try (Caskade db = Caskade.open(dir, small())) {
            for (int i = 0; i < 100; i++) db.put("k/" + i, "v".repeat(150));
        }
        Path second = dir.resolve(Segment.fileName(2));
        assertThat(second).exists();
        flip(second, Segment.HEADER + EntryCodec.HEADER + 10);
        try (LogTail tail = LogTail.open(dir)) {
            List<WatchEvent.Commit> got = new ArrayList<>();
            assertThatThrownBy(() -> drain(tail, 0, 1 << 20, got))
                    .isInstanceOfSatisfying(CorruptionException.class, e -> {
                        assertThat(e.file()).isEqualTo(second);
                        assertThat(e.offset()).isEqualTo(Segment.HEADER);
                    });
            assertThat(got).as("the first segment, whole").isNotEmpty().allMatch(c -> c.revision() < 100);
            long base = got.getLast().revision();
            assertThatThrownBy(() -> tail.read(base, Long.MAX_VALUE, 1, c -> {}))
                    .isInstanceOf(CorruptionException.class)
                    .hasMessageContaining(second.getFileName().toString());
        }
    }

    @Test
    void anUnfinishedTailOfTheNewestSegmentIsNotWrittenYet(@TempDir Path dir) throws IOException {
        List<WatchEvent.Commit> all;
        try (Caskade db = Caskade.open(dir, small().withSegmentBytes(1 << 20))) {
            for (int i = 0; i < 20; i++) db.put("k/" + i, "v".repeat(50));
            db.commit(Batch.create().put("a", "1").put("b", "2").put("c", "3"));
            all = history(db);
        }
        Path seg = dir.resolve(Segment.fileName(1));
        byte[] whole = Files.readAllBytes(seg);
        int batch = 3 * EntryCodec.size(1, 1);
        try (LogTail tail = LogTail.open(dir)) {
            List<WatchEvent.Commit> got = new ArrayList<>();
            // the batch's last entry half written, then its middle one damaged, then the rest zero-filled as the
            // writer's pre-extended file is: none of it is a commit yet
            Files.write(seg, Arrays.copyOf(whole, whole.length - 10));
            assertThat(drain(tail, 0, 1 << 20, got)).isEqualTo(20);
            assertThat(tail.revision()).isEqualTo(20);
            byte[] damaged = whole.clone();
            damaged[whole.length - batch / 2] ^= 1;
            Files.write(seg, damaged);
            assertThat(drain(tail, 20, 1 << 20, got)).isEqualTo(20);
            byte[] zeros = Arrays.copyOf(whole, whole.length + 4096);
            Arrays.fill(zeros, whole.length - batch, whole.length, (byte) 0);
            Files.write(seg, zeros);
            assertThat(drain(tail, 20, 1 << 20, got)).isEqualTo(20);
            // the writer finishes it
            Files.write(seg, Arrays.copyOf(whole, whole.length + 4096));
            assertThat(tail.revision()).isEqualTo(21);
            assertThat(drain(tail, 20, 1 << 20, got)).isEqualTo(21);
            assertThat(got).containsExactlyElementsOf(all);
        }
    }

    // ---- what is not a store, or no longer the same one

    @Test
    void refusesWhatIsNotAStore(@TempDir Path tmp) throws IOException {
        assertThatThrownBy(() -> LogTail.open(tmp.resolve("missing")))
                .isInstanceOf(CaskadeException.class)
                .hasMessageContaining("not a store directory");
        Path other = Files.createDirectories(tmp.resolve("other"));
        Files.writeString(other.resolve("notes.txt"), "hello");
        assertThatThrownBy(() -> LogTail.open(other))
                .isInstanceOf(CaskadeException.class)
                .hasMessageContaining("not a store directory");
        Path starting = Files.createDirectories(tmp.resolve("starting"));
        Files.writeString(starting.resolve("LOCK"), "123\n"); // a writer that has only just taken the lock
        try (LogTail tail = LogTail.open(starting)) {
            assertThat(tail.revision()).isZero();
            assertThat(tail.oldest()).isZero();
            assertThat(tail.read(0, Long.MAX_VALUE, 1, c -> fail("empty store: " + c)))
                    .isZero();
            assertThatThrownBy(() -> tail.read(5, Long.MAX_VALUE, 1, c -> {})).isInstanceOf(CompactedException.class);
        }
        assertThat(starting.resolve("LOCK")).hasContent("123");
    }

    @Test
    void aDirectoryRefilledWithAnotherStoreIsCompacted(@TempDir Path dir) throws IOException {
        try (Caskade a = Caskade.open(dir, small())) {
            for (int i = 0; i < 60; i++) a.put("a/" + i, "v".repeat(150));
        }
        try (LogTail tail = LogTail.open(dir)) {
            List<WatchEvent.Commit> got = new ArrayList<>();
            assertThat(drain(tail, 0, 1 << 20, got)).isEqualTo(60);
            // the same directory, emptied and given a new store with more commits than the old one had
            deleteContents(dir);
            List<WatchEvent.Commit> all;
            try (Caskade b = Caskade.open(dir, small())) {
                for (int i = 0; i < 80; i++) b.put("b/" + i, "w".repeat(150));
                all = history(b);
            }
            assertThatThrownBy(() -> tail.read(60, Long.MAX_VALUE, 1 << 20, c -> fail("from another store: " + c)))
                    .isInstanceOf(CompactedException.class);
            got.clear();
            assertThat(drain(tail, 0, 1 << 20, got)).isEqualTo(80);
            assertThat(got).containsExactlyElementsOf(all);

            // and a smaller one: after is beyond everything in it
            deleteContents(dir);
            try (Caskade c = Caskade.open(dir, small().withSegmentBytes(1 << 20))) {
                for (int i = 0; i < 5; i++) c.put("c/" + i, "x");
            }
            try (LogTail fresh = LogTail.open(dir)) {
                assertThatThrownBy(() -> fresh.read(60, Long.MAX_VALUE, 1, c -> {}))
                        .isInstanceOf(CompactedException.class);
            }
            assertThatThrownBy(() -> tail.read(80, Long.MAX_VALUE, 1, c -> {})).isInstanceOf(CompactedException.class);
            assertThat(drain(tail, 0, 1, new ArrayList<>())).isEqualTo(5);
        }
    }

    // ---- a writer in another process, killed with SIGKILL

    @Test
    void aWriterKilledWithSigkillLeavesOnlyCompleteCommitsAndEveryAcknowledgedOne(@TempDir Path tmp) throws Exception {
        long seed = Long.getLong("caskade.tail.seed", System.nanoTime());
        String why = "seed " + seed + " (replay with -Dcaskade.tail.seed=" + seed + ")";
        SplittableRandom rnd = new SplittableRandom(seed);
        Path dir = tmp.resolve("store");
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("LOCK"), ""); // so the tail may open before the first child has
        List<WatchEvent.Commit> got = new ArrayList<>();
        Map<Long, Op> acked = new HashMap<>();
        long last = 0;
        int rounds = 3;
        long t0 = System.nanoTime();
        try (LogTail tail = LogTail.open(dir)) {
            for (int round = 1; round <= rounds; round++) {
                String where = "round " + round + ", " + why;
                try (ChildJvm child = ChildJvm.start(
                        CrashWriter.class,
                        List.of(
                                dir.toString(),
                                Long.toString(rnd.nextLong()),
                                Integer.toString(round),
                                "3",
                                "20000",
                                "1000000",
                                "false"))) {
                    // tail while it writes: from its first acknowledgement for a random while, then kill it
                    long killAt = 0;
                    long before = last;
                    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                    while (System.nanoTime() < deadline) {
                        last = tail.read(last, Long.MAX_VALUE, 1 + rnd.nextInt(64 << 10), got::add);
                        if (killAt == 0 && child.lines().stream().anyMatch(l -> l.startsWith("ACK "))) {
                            killAt = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(200 + rnd.nextInt(400));
                        }
                        if (killAt != 0 && System.nanoTime() > killAt) break;
                        if (!child.isAlive()) fail(where + ": writer exited early\n" + child.stderr());
                        Thread.sleep(rnd.nextInt(3));
                    }
                    assertThat(killAt)
                            .as("%s: the writer acknowledged a commit", where)
                            .isPositive();
                    assertThat(last)
                            .as("%s: commits read while the writer ran", where)
                            .isGreaterThan(before);
                    int exit = child.kill();
                    assertThat(exit).as(where).isEqualTo(ChildJvm.SIGKILL_EXIT);
                    for (String line : child.lines()) {
                        if (line.startsWith("ERR")) fail(where + ": writer failed: " + line + "\n" + child.stderr());
                        if (!line.startsWith("ACK ")) continue;
                        List<String> t = Arrays.asList(line.split(" "));
                        long revision = Long.parseLong(t.get(1));
                        if (revision > 0) acked.put(revision, Op.parse(t.subList(4, t.size())));
                    }
                }
                // the files as the killed writer left them: every complete commit, nothing torn
                last = drain(tail, last, 1 << 20, got);
                long highestAck =
                        acked.keySet().stream().mapToLong(Long::longValue).max().orElse(0);
                assertThat(last)
                        .as("%s: every acknowledged commit is delivered", where)
                        .isGreaterThanOrEqualTo(highestAck);
                assertThat(tail.revision()).as(where).isEqualTo(last);
            }
            // the next writer's recovery cuts only what the tail never delivered: history equals the delivered commits
            try (Caskade db = Caskade.open(dir, CrashWriter.options(false).withWatchBuffer(1_000_000))) {
                assertThat(db.revision()).as(why).isEqualTo(last);
                assertThat(got).as("delivered = recovered history, " + why).containsExactlyElementsOf(history(db));
            }
        }
        assertThat(got.stream().mapToLong(WatchEvent.Commit::revision))
                .as(why)
                .containsExactlyElementsOf(
                        LongStream.rangeClosed(1, last).boxed().toList());
        Map<Long, WatchEvent.Commit> byRevision = new HashMap<>();
        for (WatchEvent.Commit c : got) byRevision.put(c.revision(), c);
        for (Map.Entry<Long, Op> e : acked.entrySet()) {
            WatchEvent.Commit c = byRevision.get(e.getKey());
            assertThat(c).as("acknowledged revision %d (%s)", e.getKey(), why).isNotNull();
            Map<String, String> changes = new HashMap<>();
            for (Change ch : c.changes()) {
                changes.put(ch.keyString(), ch.type() == ChangeType.PUT ? ch.valueString() : null);
            }
            Map<String, String> effects = e.getValue().effects();
            // every put of the op is there; deletes of absent keys are not written, so a batch may carry fewer
            effects.forEach((k, v) -> {
                if (v != null)
                    assertThat(changes).as("%s at %d", e.getValue(), e.getKey()).containsEntry(k, v);
            });
            assertThat(effects)
                    .as("%s at %d: no change it did not make", e.getValue(), e.getKey())
                    .containsAllEntriesOf(changes);
        }
        System.out.printf(
                "LogTailTest SIGKILL: %d rounds, %d commits delivered, %d acknowledged, %d ms (%s)%n",
                rounds, last, acked.size(), (System.nanoTime() - t0) / 1_000_000, why);
    }

    // ---- helpers

    private static void flip(Path file, long offset) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(1);
            ch.read(b, offset);
            b.put(0, (byte) (b.get(0) ^ 0x5a)).rewind();
            ch.write(b, offset);
        }
    }

    private static void deleteContents(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
        }
    }
}
