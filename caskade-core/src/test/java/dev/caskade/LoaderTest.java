package dev.caskade;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.integers;
import static org.quicktheories.generators.SourceDSL.lists;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.quicktheories.api.Pair;
import org.quicktheories.core.Gen;
import org.quicktheories.generators.Generate;

/**
 * The bulk loader against a model: a random snapshot and random commits after it, loaded and opened, give the same
 * keys, values, per-key revisions, expiries, revision and compaction point as the model, verify clean, replay
 * exactly the loaded commits to a watch from the snapshot, and take new writes at the next revision. Reproduce a
 * failure with the printed {@code -Dcaskade.loader.seed}.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class LoaderTest {
    private static final long SEED = Long.getLong("caskade.loader.seed", System.nanoTime());
    private static final int EXAMPLES = Integer.getInteger("caskade.loader.examples", 40);
    private static final long NOW = 1_700_000_000_000L;
    private static final byte[][] KEYS = keys();

    @TempDir
    Path root;

    private final AtomicInteger examples = new AtomicInteger();

    /** A live key of the snapshot: value length, revision (a fraction of the snapshot's), expiry kind. */
    record SnapKey(int key, int length, int revisionPercent, int ttl) {}

    /** One change: kind 0 PUT, 1 DELETE, 2 EXPIRE. */
    record ChangeSpec(int key, int kind, int length, int ttl) {}

    /** A commit: its changes (duplicate keys dropped), the revision gap before it, the time since the last one. */
    record CommitSpec(List<ChangeSpec> changes, int gap, int millis) {}

    record Plan(int snapshotRevision, List<SnapKey> keys, List<CommitSpec> commits) {}

    static Gen<Integer> lengths() {
        // mostly small; sometimes more than a 4 KiB segment, so one commit fills a segment by itself
        return Generate.frequency(List.of(
                Pair.of(12, integers().between(0, 300)),
                Pair.of(4, integers().between(301, 2500)),
                Pair.of(1, integers().between(4000, 9000))));
    }

    static Gen<Plan> plans() {
        Gen<Integer> key = integers().between(0, KEYS.length - 1);
        Gen<Integer> ttl = integers().between(0, 5); // 0..3 none, 4 past, 5 future
        Gen<SnapKey> snapKey = key.zip(lengths(), integers().between(1, 100), ttl, SnapKey::new);
        Gen<ChangeSpec> change = key.zip(
                integers().between(0, 5),
                lengths(),
                ttl,
                (k, kind, len, t) -> new ChangeSpec(k, kind <= 3 ? 0 : kind - 3, len, t));
        Gen<CommitSpec> commit = lists().of(change)
                .ofSizeBetween(1, 4)
                .zip(
                        integers().between(1, 3),
                        integers().between(0, 2000),
                        (c, gap, ms) -> new CommitSpec(c, gap == 3 ? 2 : 1, ms));
        return integers()
                .between(0, 400)
                .zip(
                        lists().of(snapKey).ofSizeBetween(0, 40),
                        lists().of(commit).ofSizeBetween(0, 40),
                        (s, k, c) -> new Plan(s, s == 0 ? List.of() : k, c));
    }

    @Test
    void loadedStoreMatchesTheModel() {
        System.out.println("LoaderTest: -Dcaskade.loader.seed=" + SEED);
        long t0 = System.nanoTime();
        qt().withFixedSeed(SEED)
                .withExamples(EXAMPLES)
                .withShrinkCycles(30)
                .forAll(plans())
                .checkAssert(this::example);
        System.out.printf("LoaderTest: %d examples in %d ms%n", examples.get(), (System.nanoTime() - t0) / 1_000_000);
    }

    /** What one key holds in the model. */
    record Version(byte[] value, long revision, long expiresAt) {}

    private void example(Plan plan) {
        Path dir = root.resolve("ex" + examples.incrementAndGet());
        ManualClock clock = new ManualClock(NOW);
        CaskadeOptions options = options(clock);
        long snap = plan.snapshotRevision();
        long snapTime = NOW - 10_000_000;
        TreeMap<byte[], Version> model = new TreeMap<>(Arrays::compareUnsigned);
        List<WatchEvent.Commit> commits = new ArrayList<>();
        try (Loader loader = Loader.create(dir, options, snap, snap == 0 ? 0 : snapTime)) {
            for (SnapKey k : plan.keys()) {
                byte[] key = KEYS[k.key()];
                if (model.containsKey(key)) continue; // the snapshot has each key once
                Version v = new Version(
                        value(k.key(), k.length(), k.revisionPercent()),
                        Math.max(1, snap * k.revisionPercent() / 100),
                        expiry(k.ttl()));
                model.put(key, v);
                loader.add(key, v.value(), v.revision(), v.expiresAt());
            }
            long rev = snap;
            long time = snapTime;
            for (CommitSpec c : plan.commits()) {
                rev += c.gap();
                time += c.millis();
                Map<String, Change> changes = new LinkedHashMap<>();
                for (ChangeSpec s : c.changes()) {
                    byte[] key = KEYS[s.key()];
                    Change change = switch (s.kind()) {
                        case 0 -> new Change(ChangeType.PUT, key, value(s.key(), s.length(), rev), expiry(s.ttl()));
                        case 1 -> new Change(ChangeType.DELETE, key, new byte[0], 0);
                        default -> new Change(ChangeType.EXPIRE, key, new byte[0], 0);
                    };
                    changes.putIfAbsent(Keys.show(key), change);
                }
                List<Change> list = List.copyOf(changes.values());
                loader.commit(rev, time, list);
                commits.add(new WatchEvent.Commit(rev, time, list));
                for (Change ch : list) {
                    if (ch.type() == ChangeType.PUT) model.put(ch.key(), new Version(ch.value(), rev, ch.expiresAt()));
                    else model.remove(ch.key());
                }
            }
            assertThat(loader.finish()).isEqualTo(rev);
            assertThat(Files.exists(dir.resolve(Loader.MARKER))).isFalse();
        }
        checkSegments(dir, snap);
        long revision = commits.isEmpty() ? snap : commits.getLast().revision();
        try (Caskade db = Caskade.open(dir, options)) {
            assertThat(db.recovery().clean()).isTrue();
            assertThat(db.revision()).isEqualTo(revision);
            assertThat(db.compactedRevision()).isEqualTo(snap);
            List<Entry> want = new ArrayList<>();
            model.forEach((k, v) -> {
                if (v.expiresAt() == 0 || v.expiresAt() > NOW) {
                    want.add(new Entry(k, v.value(), v.revision(), v.expiresAt()));
                }
            });
            try (Stream<Entry> s = db.scan("")) {
                assertThat(s.map(Keys::show).toList())
                        .as("scan")
                        .containsExactlyElementsOf(want.stream().map(Keys::show).toList());
            }
            try (Stream<Entry> s = db.scan("")) {
                assertThat(s.toList()).as("scan, values included").containsExactlyElementsOf(want);
            }
            for (byte[] k : KEYS) {
                Version v = model.get(k);
                boolean live = v != null && (v.expiresAt() == 0 || v.expiresAt() > NOW);
                assertThat(db.get(k))
                        .as("get %s", Keys.show(k))
                        .isEqualTo(
                                live
                                        ? java.util.Optional.of(new Entry(k, v.value(), v.revision(), v.expiresAt()))
                                        : java.util.Optional.empty());
            }
            assertThat(db.verify().problems()).as("verify").isEmpty();
            EventLog log = new EventLog();
            try (Watch w = db.watch("", snap, log)) {
                if (!commits.isEmpty()) log.awaitRevision(revision, Duration.ofSeconds(10));
                assertThat(w.isOpen()).isTrue();
            }
            assertThat(log.violations()).isEmpty();
            assertThat(log.commits())
                    .as("a watch from the snapshot replays the loaded commits")
                    .isEqualTo(commits);
            assertThat(db.put("after", "restore")).isEqualTo(revision + 1);
        }
        deleteTree(dir);
    }

    /**
     * What open does not look at closely, checked in the files: merged segments carry the snapshot's revision as
     * their base; in data segments, each base is the revision before the segment, and exactly the final entry of
     * each commit is flagged LAST (open relies on it to drop a commit torn by a crash).
     */
    private static void checkSegments(Path dir, long snap) {
        long previous = snap;
        for (Path p : segmentFiles(dir)) {
            try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
                ByteBuffer b =
                        ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size()).order(ByteOrder.LITTLE_ENDIAN);
                boolean merged = b.getShort(6) == 1;
                long base = b.getLong(16);
                assertThat(base).as("base of %s", p.getFileName()).isEqualTo(merged ? snap : previous);
                int pos = Segment.HEADER;
                while (pos < b.limit()) {
                    assertThat(EntryCodec.check(b, pos, b.limit())).isEqualTo(EntryCodec.Problem.NONE);
                    EntryCodec.Header h = EntryCodec.header(b, pos);
                    int next = pos + h.size();
                    boolean ends = merged
                            || next == b.limit()
                            || EntryCodec.header(b, next).revision() != h.revision();
                    assertThat(h.last())
                            .as("LAST flag at %s offset %d", p.getFileName(), pos)
                            .isEqualTo(ends);
                    if (!merged) previous = h.revision();
                    pos = next;
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    private static List<Path> segmentFiles(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().endsWith(".seg"))
                    .sorted()
                    .toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static CaskadeOptions options(ManualClock clock) {
        return CaskadeOptions.defaults()
                .withDurability(Durability.NONE)
                .withSegmentBytes(4096)
                .withMerge(0.6, 512L << 20, 0, Duration.ZERO)
                .withReapInterval(Duration.ZERO)
                .withClock(clock);
    }

    private static long expiry(int ttl) {
        return switch (ttl) {
            case 4 -> NOW - 1_000;
            case 5 -> NOW + 3_600_000;
            default -> 0;
        };
    }

    private static byte[] value(int key, int length, long salt) {
        byte[] v = new byte[length];
        new SplittableRandom(31L * key + 1_000_003L * salt + length).nextBytes(v);
        return v;
    }

    private static byte[][] keys() {
        List<byte[]> out = new ArrayList<>();
        for (byte first : new byte[] {0, 'a', 'k', (byte) 0x80, (byte) 0xff}) {
            out.add(new byte[] {first});
            for (int i = 0; i < 6; i++) out.add(new byte[] {first, '/', (byte) ('0' + i)});
            out.add(new byte[] {first, '/', 0});
        }
        return out.toArray(byte[][]::new);
    }

    /**
     * The restore path end to end on a real store: the live keys of a snapshot of it and the commits a watch from
     * that snapshot sees give a store with the same digest, revisions and expiries.
     */
    @Test
    void restoresARealStoreFromASnapshotAndItsLaterCommits() {
        ManualClock clock = new ManualClock(NOW);
        CaskadeOptions options = options(clock);
        Path source = root.resolve("source");
        Path target = root.resolve("target");
        SplittableRandom r = new SplittableRandom(SEED);
        try (Caskade db = Caskade.open(source, options)) {
            for (int i = 0; i < 300; i++) churn(db, r, clock);
            List<WatchEvent.Commit> after = new ArrayList<>();
            try (Snapshot snap = db.snapshot()) {
                EventLog log = new EventLog();
                try (Watch w = db.watch("", snap.revision(), log)) {
                    for (int i = 0; i < 300; i++) churn(db, r, clock);
                    log.awaitRevision(db.revision(), Duration.ofSeconds(10));
                    assertThat(w.isOpen()).isTrue();
                }
                after.addAll(log.commits());
                long snapTime = NOW; // any time: snapshot entries' times are never replayed
                try (Loader loader = Loader.create(target, options, snap.revision(), snapTime);
                        Stream<Entry> live = snap.scan("")) {
                    live.forEach(e -> loader.add(e.key(), e.value(), e.revision(), e.expiresAt()));
                    for (WatchEvent.Commit c : after) loader.commit(c.revision(), c.timestamp(), c.changes());
                    assertThat(loader.finish()).isEqualTo(db.revision());
                }
            }
            try (Caskade restored = Caskade.open(target, options)) {
                assertThat(restored.digest(new byte[0])).isEqualTo(db.digest(new byte[0]));
                assertThat(restored.revision()).isEqualTo(db.revision());
                try (Stream<Entry> a = db.scan("");
                        Stream<Entry> b = restored.scan("")) {
                    assertThat(b.toList()).containsExactlyElementsOf(a.toList());
                }
                assertThat(restored.verify().problems()).isEmpty();
            }
        }
    }

    private static void churn(Caskade db, SplittableRandom r, ManualClock clock) {
        byte[] key = KEYS[r.nextInt(KEYS.length)];
        switch (r.nextInt(6)) {
            case 0 -> db.delete(key);
            case 1 -> db.put(key, value(r.nextInt(100), r.nextInt(2000), r.nextInt()), Duration.ofMillis(500));
            case 2 ->
                db.commit(Batch.create()
                        .put(KEYS[r.nextInt(8)], value(1, r.nextInt(200), r.nextInt()))
                        .delete(KEYS[8 + r.nextInt(8)]));
            case 3 -> clock.advance(r.nextInt(200));
            default -> db.put(key, value(r.nextInt(100), r.nextInt(1500), r.nextInt()));
        }
        if (r.nextInt(50) == 0) db.reapExpired();
    }

    @Test
    void snapshotOnlyAndEmptyLoadsOpenAtTheirRevision() {
        ManualClock clock = new ManualClock(NOW);
        Path snapOnly = root.resolve("snap-only");
        try (Loader l = Loader.create(snapOnly, options(clock), 77, NOW)) {
            assertThat(l.finish()).isEqualTo(77);
        }
        try (Caskade db = Caskade.open(snapOnly, options(clock))) {
            assertThat(db.revision()).isEqualTo(77);
            assertThat(db.compactedRevision()).isEqualTo(77);
            assertThatThrownBy(() -> db.watch("", 76, e -> {})).isInstanceOf(CompactedException.class);
            assertThat(db.put("k", "v")).isEqualTo(78);
        }
        Path empty = root.resolve("empty");
        try (Loader l = Loader.create(empty, options(clock), 0, 0)) {
            assertThat(l.finish()).isZero();
        }
        try (Caskade db = Caskade.open(empty, options(clock))) {
            assertThat(db.revision()).isZero();
            assertThat(db.put("k", "v")).isEqualTo(1);
        }
    }

    @Test
    void anAbortedLoadLeavesNothingAndANonEmptyDirectoryIsRefused() throws IOException {
        CaskadeOptions o = options(new ManualClock(NOW));
        Path existing = Files.createDirectories(root.resolve("existing"));
        try (Loader l = Loader.create(existing, o, 10, NOW)) {
            l.add(Keys.utf8("a"), new byte[5000], 3, 0);
            l.add(Keys.utf8("b"), new byte[10], 10, 0);
            l.commit(11, NOW, List.of(new Change(ChangeType.DELETE, Keys.utf8("a"), new byte[0], 0)));
            assertThat(entries(existing)).contains("LOCK", Loader.MARKER);
        }
        assertThat(entries(existing))
                .as("aborted: the directory is empty again")
                .isEmpty();
        Path absent = root.resolve("absent");
        try (Loader l = Loader.create(absent, o, 1, NOW)) {
            l.add(Keys.utf8("a"), new byte[5], 1, 0);
        }
        assertThat(absent).as("a directory the loader created goes too").doesNotExist();

        Files.writeString(existing.resolve("notes.txt"), "mine");
        assertThatThrownBy(() -> Loader.create(existing, o, 0, 0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("not empty")
                .hasMessageContaining("notes.txt");
        assertThat(entries(existing)).as("refused without touching it").containsExactly("notes.txt");

        Path store = root.resolve("store");
        try (Caskade db = Caskade.open(store, o)) {
            db.put("k", "v");
            assertThatThrownBy(() -> Loader.create(store, o, 0, 0)).isInstanceOf(IllegalArgumentException.class);
        }
        assertThatThrownBy(() -> Loader.create(store, o, 0, 0)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void aLoadCutShortIsRefusedByOpenAndClearedByTheNextLoader() throws IOException {
        CaskadeOptions o = options(new ManualClock(NOW));
        Path dir = Files.createDirectories(root.resolve("cut"));
        // what a loader killed mid-way leaves: its marker, a lock file, a segment and a half-written hint
        Files.writeString(dir.resolve(Loader.MARKER), "");
        Files.writeString(dir.resolve("LOCK"), "12345\n");
        Files.write(
                dir.resolve(Segment.fileName(1)),
                Segment.header(1, Segment.Kind.MERGED, 5).array());
        Files.writeString(dir.resolve(Segment.fileName(1).replace(".seg", ".hint.tmp")), "x");
        assertThatThrownBy(() -> Caskade.open(dir, o))
                .isInstanceOf(CaskadeException.class)
                .hasMessageContaining("unfinished bulk load");
        try (Loader l = Loader.create(dir, o, 3, NOW)) {
            l.add(Keys.utf8("k"), Keys.utf8("v"), 2, 0);
            l.finish();
        }
        try (Caskade db = Caskade.open(dir, o)) {
            assertThat(db.revision()).isEqualTo(3);
            assertThat(db.get("k")).hasValue(new Entry(Keys.utf8("k"), Keys.utf8("v"), 2, 0));
        }
    }

    @Test
    void badInputIsRefusedWithAClearMessage() {
        CaskadeOptions o = options(new ManualClock(NOW)).withLimits(8, 100);
        byte[] k = Keys.utf8("k");
        byte[] v = Keys.utf8("v");
        assertThatThrownBy(() -> Loader.create(root.resolve("neg"), o, -1, 0))
                .isInstanceOf(IllegalArgumentException.class);
        try (Loader l = Loader.create(root.resolve("bad"), o, 10, NOW)) {
            assertThatThrownBy(() -> l.add(k, v, 0, 0)).hasMessageContaining("outside [1, 10]");
            assertThatThrownBy(() -> l.add(k, v, 11, 0)).hasMessageContaining("outside [1, 10]");
            assertThatThrownBy(() -> l.add(k, v, 5, -1)).hasMessageContaining("expiresAt");
            assertThatThrownBy(() -> l.add(new byte[0], v, 5, 0)).hasMessageContaining("empty");
            assertThatThrownBy(() -> l.add(new byte[9], v, 5, 0)).hasMessageContaining("key too large");
            assertThatThrownBy(() -> l.add(k, new byte[101], 5, 0)).hasMessageContaining("value too large");
            l.add(k, v, 5, 0);
            Change put = new Change(ChangeType.PUT, k, v, 0);
            assertThatThrownBy(() -> l.commit(10, NOW, List.of(put))).hasMessageContaining("must be above 10");
            assertThatThrownBy(() -> l.commit(11, NOW, List.of())).hasMessageContaining("no change");
            assertThatThrownBy(() -> l.commit(11, NOW, List.of(new Change(ChangeType.DELETE, k, v, 0))))
                    .hasMessageContaining("DELETE with a value");
            assertThatThrownBy(() -> l.commit(11, -1, List.of(put))).hasMessageContaining("timestamp");
            l.commit(12, NOW, List.of(put));
            assertThatThrownBy(() -> l.commit(12, NOW, List.of(put))).hasMessageContaining("previous commit");
            assertThatThrownBy(() -> l.add(Keys.utf8("late"), v, 5, 0))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("before the first commit");
        }
        Path dup = root.resolve("dup");
        try (Loader l = Loader.create(dup, o.withSegmentBytes(4096), 10, NOW)) {
            l.add(k, new byte[100], 1, 0);
            for (int i = 0; i < 60; i++) l.add(Keys.utf8("f" + i), new byte[90], 2, 0); // several segments
            l.add(k, v, 3, 0);
            assertThatThrownBy(l::finish)
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("snapshot key added twice: 'k'");
        }
        assertThat(dup).doesNotExist();
    }

    /**
     * Throughput: {@code -Dcaskade.loader.mib} MiB (16 by default; 1024 for the figure in the docs) of 1 KiB values
     * as snapshot keys, default options (128 MiB segments), through finish() and its fsyncs.
     */
    @Test
    void throughput() {
        int mib = Integer.getInteger("caskade.loader.mib", 16);
        int valueBytes = 1024;
        long count = (long) mib * (1 << 20) / valueBytes;
        Path dir = root.resolve("throughput");
        byte[] value = new byte[valueBytes];
        new SplittableRandom(7).nextBytes(value);
        long t0 = System.nanoTime();
        try (Loader l = Loader.create(dir, CaskadeOptions.defaults(), count, NOW)) {
            byte[] key = new byte[16];
            for (long i = 0; i < count; i++) {
                writeKey(key, i);
                value[0] = (byte) i;
                l.add(key, value, i + 1, 0);
            }
            l.finish();
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        long bytes = count * valueBytes;
        System.out.printf(
                "LoaderTest throughput: %d keys, %d MiB of values in %.2f s: %.0f MB/s (values), %.0f MB/s (disk)%n",
                count, bytes >> 20, seconds, bytes / seconds / 1e6, diskBytes(dir) / seconds / 1e6);
        try (Caskade db = Caskade.open(dir, CaskadeOptions.defaults().withDurability(Durability.NONE))) {
            assertThat(db.stats().keys()).isEqualTo(count);
            assertThat(db.revision()).isEqualTo(count);
        }
        deleteTree(dir);
    }

    /** "key" and 13 decimal digits, without formatting garbage in the timed loop. */
    private static void writeKey(byte[] key, long i) {
        key[0] = 'k';
        key[1] = 'e';
        key[2] = 'y';
        for (int p = 15; p >= 3; p--, i /= 10) key[p] = (byte) ('0' + i % 10);
    }

    private static long diskBytes(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.mapToLong(p -> {
                        try {
                            return Files.size(p);
                        } catch (IOException e) {
                            throw new UncheckedIOException(e);
                        }
                    })
                    .sum();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static List<String> entries(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    private static void deleteTree(Path dir) {
        if (!Files.exists(dir)) return;
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Test
    void aFinishedLoadReplacesAStoreAndAnUnwantedOneIsDiscarded(@TempDir Path tmp) throws IOException {
        Path store = tmp.resolve("store");
        try (Caskade db = Caskade.open(store)) {
            db.put("old", "1");
        }
        Path fresh = tmp.resolve("store.new");
        try (Loader l = Loader.create(fresh, CaskadeOptions.defaults(), 7, 1_700_000_000_000L)) {
            l.add(Batch.utf8("new"), Batch.utf8("2"), 7, 0);
            l.finish();
        }
        Files.createDirectories(tmp.resolve("store.old")); // left by a crash between the two renames
        Loader.replace(store, fresh);
        assertThat(fresh).doesNotExist();
        assertThat(tmp.resolve("store.old")).doesNotExist();
        try (Caskade db = Caskade.open(store)) {
            assertThat(db.revision()).isEqualTo(7);
            assertThat(db.get("new")).isPresent();
            assertThat(db.get("old")).isEmpty();
        }
        Loader.replace(tmp.resolve("absent"), tmp.resolve("store")); // no store in the way: just renamed in
        assertThat(tmp.resolve("absent")).isDirectory();
        Loader.discard(tmp.resolve("absent"));
        assertThat(tmp.resolve("absent")).doesNotExist();
        Loader.discard(tmp.resolve("never")); // absent: nothing to do
    }
}
