package dev.caskade;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.booleans;
import static org.quicktheories.generators.SourceDSL.integers;
import static org.quicktheories.generators.SourceDSL.lists;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.quicktheories.api.Pair;
import org.quicktheories.core.Gen;
import org.quicktheories.generators.Generate;

/**
 * Merge and restart are invisible: what {@code scan("")} returns (keys, values, revisions, expiries) is the
 * same before and after each, {@code verify()} stays ok, and a snapshot held across a merge keeps its view;
 * once it closes, the files it kept alive go away.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class MergeRestartPropertyTest {
    private static final long SEED = Long.getLong("caskade.merge.seed", System.nanoTime());
    private static final int EXAMPLES = Integer.getInteger("caskade.merge.examples", 40);
    private static final int KEYS = 12;
    private static final long START = 1_700_000_000_000L;

    /** One step of an example. */
    sealed interface Op permits Put, Delete, Write, Advance, Merge, Restart, PinnedMerge {}

    /** A put of {@code length} bytes; ttlMillis 0 = no TTL. */
    record Put(int key, int length, long ttlMillis) implements Op {}

    record Delete(int key) implements Op {}

    /** A batch: slot {@code < KEYS} puts key slot, otherwise deletes key slot-KEYS (duplicates dropped). */
    record Write(List<Integer> slots) implements Op {}

    record Advance(int millis) implements Op {}

    record Merge() implements Op {}

    record Restart() implements Op {}

    /** Snapshot, overwrite everything, merge, check the snapshot, close it, check the old files go. */
    record PinnedMerge(int salt) implements Op {}

    static Gen<List<Op>> ops() {
        Gen<Integer> key = integers().between(0, KEYS - 1);
        Gen<Op> put = key.zip(
                integers().between(0, 2500),
                integers().between(0, 7),
                (k, len, t) -> new Put(k, len, t == 0 ? 1_500 : t == 1 ? 60_000 : 0));
        Gen<Op> delete = key.map(Delete::new);
        Gen<Op> write = lists().of(integers().between(0, 2 * KEYS - 1))
                .ofSizeBetween(1, 5)
                .map(Write::new);
        Gen<Op> advance = integers().between(1, 3000).map(Advance::new);
        Gen<Op> merge = Generate.constant(new Merge());
        Gen<Op> restart = Generate.constant(new Restart());
        Gen<Op> pinned = integers().between(0, 1000).map(PinnedMerge::new);
        Gen<Op> op = Generate.frequency(List.of(
                Pair.of(30, put),
                Pair.of(8, delete),
                Pair.of(8, write),
                Pair.of(4, advance),
                Pair.of(6, merge),
                Pair.of(4, restart),
                Pair.of(2, pinned)));
        return lists().of(op).ofSizeBetween(5, 60);
    }

    @TempDir
    Path root;

    private final AtomicInteger examples = new AtomicInteger();

    @Test
    void mergeAndRestartNeverChangeWhatAScanReturns() {
        System.out.println("MergeRestartPropertyTest: -Dcaskade.merge.seed=" + SEED);
        long t0 = System.nanoTime();
        qt().withFixedSeed(SEED)
                .withExamples(EXAMPLES)
                .withShrinkCycles(40)
                .forAll(ops(), booleans().all())
                .checkAssert(this::example);
        System.out.printf(
                "MergeRestartPropertyTest: %d examples in %d ms%n",
                examples.get(), (System.nanoTime() - t0) / 1_000_000);
    }

    /**
     * The smallest case found: a version a snapshot needs, moved by one merge, dropped by the next. An open
     * snapshot is also a pin for history: reading a snapshot and then watching from its revision (list, then
     * watch) must work for as long as the snapshot is open.
     */
    @Test
    void snapshotKeepsItsViewAcrossTwoMerges() {
        ManualClock clock = new ManualClock(START);
        CaskadeOptions options = CaskadeOptions.defaults()
                .withDurability(Durability.NONE)
                .withSegmentBytes(4096)
                .withHistory(Duration.ZERO, 0)
                .withMerge(0.6, 512L << 20, 0, Duration.ZERO)
                .withClock(clock);
        try (Caskade db = Caskade.open(root.resolve("two-merges"), options)) {
            long r = db.put("k", "v0");
            for (int i = 0; i < 10; i++) db.put("f", "x".repeat(1000));
            try (Snapshot snap = db.snapshot()) {
                db.merge(); // moves k@r into a merged file
                assertThat(snap.get("k")).hasValue(new Entry(Keys.utf8("k"), Keys.utf8("v0"), r, 0));
                db.put("k", "v1");
                for (int i = 0; i < 10; i++) db.put("f", "y".repeat(1000));
                db.merge(); // must not drop k@r while the snapshot needs it
                assertThat(snap.get("k")).hasValue(new Entry(Keys.utf8("k"), Keys.utf8("v0"), r, 0));
                try (Stream<Entry> s = snap.scan("")) {
                    assertThat(s.map(Entry::valueString).toList()).containsExactly("x".repeat(1000), "v0");
                }
                assertThat(db.compactedRevision())
                        .as("history above an open snapshot is not compacted")
                        .isLessThanOrEqualTo(snap.revision());
                EventLog log = new EventLog();
                try (Watch w = db.watch("k", snap.revision(), log)) {
                    log.awaitRevision(db.get("k").orElseThrow().revision(), Duration.ofSeconds(10));
                    assertThat(w.isOpen()).isTrue();
                }
                assertThat(log.commits()).hasSize(1);
            }
        }
    }

    private void example(List<Op> ops, boolean keepHistory) {
        Path dir = root.resolve("ex" + examples.incrementAndGet());
        new Example(dir, keepHistory).run(ops);
        deleteTree(dir);
    }

    /** One store driven through one list of ops. */
    private static final class Example {
        private final Path dir;
        private final boolean keepHistory;
        private final ManualClock clock = new ManualClock(START);
        private final CaskadeOptions options;
        private Caskade db;

        Example(Path dir, boolean keepHistory) {
            this.dir = dir;
            this.keepHistory = keepHistory;
            CaskadeOptions o = CaskadeOptions.defaults()
                    .withDurability(Durability.NONE)
                    .withSegmentBytes(4096)
                    .withMerge(0.6, 512L << 20, 0, Duration.ZERO)
                    .withClock(clock);
            this.options = keepHistory ? o : o.withHistory(Duration.ZERO, 0);
        }

        void run(List<Op> ops) {
            db = Caskade.open(dir, options);
            try {
                int i = 0;
                for (Op op : ops) {
                    String where = "op #" + i++ + " " + op + " (keepHistory=" + keepHistory + ")";
                    switch (op) {
                        case Put p -> {
                            if (p.ttlMillis() == 0) db.put(key(p.key()), value(p.key(), p.length(), i));
                            else db.put(key(p.key()), value(p.key(), p.length(), i), Duration.ofMillis(p.ttlMillis()));
                        }
                        case Delete d -> db.delete(key(d.key()));
                        case Write w -> db.commit(batch(w, i));
                        case Advance a -> clock.advance(a.millis());
                        case Merge m -> merge(where);
                        case Restart r -> restart(where);
                        case PinnedMerge p -> pinnedMerge(p, where);
                    }
                }
                merge("final merge");
                restart("final restart");
            } finally {
                db.close();
            }
        }

        private void merge(String where) {
            List<Entry> before = scanAll();
            long revision = db.revision();
            db.merge();
            assertThat(scanAll()).as("scan after merge, " + where).containsExactlyElementsOf(before);
            assertThat(db.revision()).as("revision after merge, " + where).isGreaterThanOrEqualTo(revision);
            assertThat(db.verify().problems())
                    .as("verify after merge, " + where)
                    .isEmpty();
            if (keepHistory) assertThat(db.compactedRevision()).as(where).isZero();
        }

        private void restart(String where) {
            List<Entry> before = scanAll();
            long revision = db.revision();
            long compacted = db.compactedRevision();
            db.close();
            db = Caskade.open(dir, options);
            assertThat(db.recovery().clean()).as("clean recovery, " + where).isTrue();
            assertThat(scanAll()).as("scan after restart, " + where).containsExactlyElementsOf(before);
            assertThat(db.revision()).as("revision after restart, " + where).isGreaterThanOrEqualTo(revision);
            assertThat(db.compactedRevision())
                    .as("compacted after restart, " + where)
                    .isLessThanOrEqualTo(compacted);
            assertThat(db.verify().problems())
                    .as("verify after restart, " + where)
                    .isEmpty();
        }

        private void pinnedMerge(PinnedMerge p, String where) {
            Set<Path> old = segments();
            List<Entry> view = scanAll();
            try (Snapshot snap = db.snapshot()) {
                // first a merge that may move what the snapshot sees, then two rounds in which every key gets
                // a new value and segments seal, so all the snapshot sees is dead; later merges see the files
                // the earlier ones wrote
                for (String round : List.of("", "a", "b")) {
                    if (!round.isEmpty()) overwriteEverything(round + p.salt());
                    List<Entry> current = scanAll();
                    db.merge();
                    try (Stream<Entry> s = snap.scan("")) {
                        assertThat(s.toList())
                                .as("snapshot after merge '" + round + "', " + where)
                                .containsExactlyElementsOf(view);
                    }
                    assertThat(scanAll())
                            .as("scan after pinned merge, " + where)
                            .containsExactlyElementsOf(current);
                }
                assertThat(db.verify().problems())
                        .as("verify with a snapshot open, " + where)
                        .isEmpty();
            }
            if (keepHistory) return;
            // once more, so the segment that was active at the snapshot holds only dead entries as well
            overwriteEverything("c" + p.salt());
            List<Entry> now = scanAll();
            await("files alive at the snapshot are deleted after it closed, " + where)
                    .atMost(Duration.ofSeconds(10))
                    .pollInterval(Duration.ofMillis(50))
                    .until(() -> {
                        db.merge();
                        return old.stream().noneMatch(Files::exists);
                    });
            assertThat(scanAll()).as("scan after merge, " + where).containsExactlyElementsOf(now);
        }

        private void overwriteEverything(String tag) {
            for (int k = 0; k < KEYS; k++) db.put(key(k), Keys.utf8((tag + "-" + k + "-").repeat(50)));
            for (int i = 0; i < 5; i++) db.put("filler", ("f" + tag + i).repeat(300));
        }

        private Set<Path> segments() {
            try (Stream<Path> s = Files.list(dir)) {
                return s.filter(f -> f.getFileName().toString().endsWith(".seg"))
                        .collect(Collectors.toSet());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        private List<Entry> scanAll() {
            try (Stream<Entry> s = db.scan("")) {
                return s.toList();
            }
        }

        private static Batch batch(Write w, int salt) {
            Map<Integer, Boolean> ops = new LinkedHashMap<>();
            for (int slot : w.slots()) ops.putIfAbsent(slot % KEYS, slot < KEYS);
            Batch b = Batch.create();
            ops.forEach((k, isPut) -> {
                if (isPut) b.put(key(k), value(k, 40 + 30 * k, salt));
                else b.delete(key(k));
            });
            return b;
        }

        private static byte[] key(int k) {
            return new byte[] {'k', (byte) (k * 21), (byte) k};
        }

        private static byte[] value(int key, int length, int salt) {
            byte[] v = new byte[length];
            new SplittableRandom(31L * key + 1_000_003L * salt + length).nextBytes(v);
            return v;
        }
    }

    private static void deleteTree(Path dir) {
        if (!Files.exists(dir)) return;
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(f -> {
                try {
                    Files.delete(f);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
