package dev.caskade;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.fail;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Damages segment and hint files and checks that the store either opens and serves only bytes that were written
 * (losing at most the torn tail of its newest segment), or refuses to open naming the damaged file — and that repair
 * mode then opens it, still serving only written bytes.
 *
 * <p>{@code -Dcaskade.corruption.seed=S} replays a run; {@code -Dcaskade.corruption.trials=N} sets the number of
 * random damages (200 by default).
 */
class CorruptionTest {
    private static final CaskadeOptions OPTIONS = CaskadeOptions.defaults()
            .withSegmentBytes(4096)
            .withMerge(0.6, 512L << 20, 0, Duration.ZERO); // no background merge: the files stay as written
    private static final HexFormat HEX = HexFormat.of();

    private final long seed =
            Long.getLong("caskade.corruption.seed", ThreadLocalRandom.current().nextLong());

    // ---------------------------------------------------------------------------------------------------------
    // What was written

    /** A value (hex) and the revision that wrote it. */
    record Stored(String hex, long revision) {
        @Override
        public String toString() {
            return "rev " + revision + " "
                    + (hex.length() > 16 ? hex.substring(0, 16) + "..(" + hex.length() / 2 + " B)" : hex);
        }
    }

    /** One key of a commit; value null = deleted. */
    record Write(String key, byte[] value) {}

    /** Every commit made to a store, in revision order (revision i+1 at index i). */
    static final class History {
        final List<List<Write>> commits = new ArrayList<>();
        final Set<String> keys = new TreeSet<>();

        void add(long revision, List<Write> writes) {
            assertThat(revision).as("each commit takes the next revision").isEqualTo(commits.size() + 1L);
            commits.add(List.copyOf(writes));
            writes.forEach(w -> keys.add(w.key()));
        }

        long last() {
            return commits.size();
        }

        Map<String, Stored> stateAt(long revision) {
            Map<String, Stored> state = new TreeMap<>();
            for (int i = 0; i < revision; i++) apply(state, i);
            return state;
        }

        void apply(Map<String, Stored> state, int index) {
            for (Write w : commits.get(index)) {
                if (w.value() == null) state.remove(w.key());
                else state.put(w.key(), new Stored(HEX.formatHex(w.value()), index + 1L));
            }
        }

        /** True when the commit at {@code s.revision()} wrote exactly these bytes to {@code key}. */
        boolean wrote(String key, Stored s) {
            if (s.revision() < 1 || s.revision() > last()) return false;
            return commits.get((int) s.revision() - 1).stream()
                    .anyMatch(w -> w.key().equals(key)
                            && w.value() != null
                            && HEX.formatHex(w.value()).equals(s.hex()));
        }

        /** The largest revision at or below {@code max} whose state agrees with every key that could be read. */
        OptionalLong prefixMatching(Map<String, Read> reads, long max) {
            Map<String, Stored> state = new HashMap<>();
            OptionalLong found = OptionalLong.empty();
            for (int r = 0; r <= Math.min(max, last()); r++) {
                if (r > 0) apply(state, r - 1);
                if (agrees(state, reads)) found = OptionalLong.of(r);
            }
            return found;
        }

        private static boolean agrees(Map<String, Stored> state, Map<String, Read> reads) {
            for (var e : reads.entrySet()) {
                boolean ok = switch (e.getValue()) {
                    case Read.Present p -> p.stored().equals(state.get(e.getKey()));
                    case Read.Absent a -> !state.containsKey(e.getKey());
                    case Read.Failed f -> true;
                };
                if (!ok) return false;
            }
            return true;
        }
    }

    /**
     * Writes {@code ops} random commits. With {@code overwrite}, 40 keys are put, overwritten, deleted and batched;
     * without, every commit puts a new key (so every entry in the log is live). The last commit is always a large
     * put of the key "last", so the newest segment ends with it.
     */
    static History build(Path dir, long seed, int ops, boolean overwrite) {
        SplittableRandom rnd = new SplittableRandom(seed);
        History h = new History();
        Map<String, byte[]> live = new HashMap<>();
        try (Caskade db = Caskade.open(dir, OPTIONS)) {
            for (int i = 0; i < ops; i++) {
                int dice = overwrite ? rnd.nextInt(100) : 0;
                String key = overwrite ? "c/" + rnd.nextInt(40) : "u/" + i;
                if (dice < 60) {
                    byte[] v = value(rnd);
                    h.add(db.put(utf8(key), v), List.of(new Write(key, v)));
                    live.put(key, v);
                } else if (dice < 75) {
                    long r = db.delete(key);
                    if (live.remove(key) != null) h.add(r, List.of(new Write(key, null)));
                    else
                        assertThat(r)
                                .as("delete of absent %s writes nothing", key)
                                .isZero();
                } else {
                    Batch b = Batch.create();
                    List<Write> writes = new ArrayList<>();
                    Set<String> used = new TreeSet<>();
                    int n = 2 + rnd.nextInt(4);
                    for (int j = 0; j < n; j++) {
                        String k = "c/" + rnd.nextInt(40);
                        if (!used.add(k)) continue;
                        if (j > 0 && rnd.nextInt(10) < 3) {
                            b.delete(k);
                            writes.add(new Write(k, null));
                            live.remove(k);
                        } else {
                            byte[] v = value(rnd);
                            b.put(utf8(k), v);
                            writes.add(new Write(k, v));
                            live.put(k, v);
                        }
                    }
                    h.add(db.commit(b), writes);
                }
            }
            byte[] last = new byte[1200];
            rnd.nextBytes(last);
            h.add(db.put(utf8("last"), last), List.of(new Write("last", last)));
        }
        return h;
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static byte[] value(SplittableRandom rnd) {
        byte[] v = new byte[rnd.nextInt(30) == 0 ? 0 : 1 + rnd.nextInt(300)];
        rnd.nextBytes(v);
        return v;
    }

    // ---------------------------------------------------------------------------------------------------------
    // What a store serves

    sealed interface Read {
        record Present(Stored stored) implements Read {}

        record Absent() implements Read {}

        record Failed(CorruptionException e) implements Read {}
    }

    /** get() of every key, plus a scan that must agree with it; corruption surfaces as Failed. */
    static Map<String, Read> readAll(Caskade db, Collection<String> keys) {
        Map<String, Read> reads = new TreeMap<>();
        for (String key : keys) {
            try {
                reads.put(
                        key,
                        db.get(key)
                                .<Read>map(e -> new Read.Present(new Stored(HEX.formatHex(e.value()), e.revision())))
                                .orElse(new Read.Absent()));
            } catch (CorruptionException e) {
                reads.put(key, new Read.Failed(e));
            }
        }
        boolean anyFailed = reads.values().stream().anyMatch(r -> r instanceof Read.Failed);
        try (Stream<Entry> s = db.scan("")) {
            s.forEach(e -> {
                Read viaGet = reads.get(e.keyString());
                assertThat(viaGet)
                        .as("scan returned a key never written: %s", e.keyString())
                        .isNotNull();
                assertThat(viaGet)
                        .as("scan and get disagree on %s", e.keyString())
                        .isEqualTo(new Read.Present(new Stored(HEX.formatHex(e.value()), e.revision())));
            });
        } catch (CorruptionException e) {
            assertThat(anyFailed)
                    .as("scan failed (%s) though every get() succeeded", e)
                    .isTrue();
        }
        return reads;
    }

    static void assertOnlyWrittenBytes(History h, Map<String, Read> reads) {
        reads.forEach((key, read) -> {
            if (read instanceof Read.Present p) {
                assertThat(h.wrote(key, p.stored()))
                        .as("%s = %s was never written", key, p.stored())
                        .isTrue();
            }
        });
    }

    static Map<String, Read> expectedReads(Map<String, Stored> state, Collection<String> keys) {
        Map<String, Read> m = new TreeMap<>();
        for (String k : keys) m.put(k, state.containsKey(k) ? new Read.Present(state.get(k)) : new Read.Absent());
        return m;
    }

    // ---------------------------------------------------------------------------------------------------------
    // Damage

    sealed interface Damage {
        Path file();

        record Flip(Path file, long offset, int mask) implements Damage {}

        record Truncate(Path file, long length) implements Damage {}

        record Append(Path file, int bytes, long garbageSeed) implements Damage {}

        default void apply() throws IOException {
            switch (this) {
                case Flip f -> {
                    try (FileChannel ch =
                            FileChannel.open(f.file(), StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                        ByteBuffer b = ByteBuffer.allocate(1);
                        ch.read(b, f.offset());
                        b.put(0, (byte) (b.get(0) ^ f.mask())).rewind();
                        ch.write(b, f.offset());
                    }
                }
                case Truncate t -> {
                    try (FileChannel ch = FileChannel.open(t.file(), StandardOpenOption.WRITE)) {
                        ch.truncate(t.length());
                    }
                }
                case Append a -> {
                    byte[] garbage = new byte[a.bytes()];
                    new SplittableRandom(a.garbageSeed()).nextBytes(garbage);
                    Files.write(a.file(), garbage, StandardOpenOption.APPEND);
                }
            }
        }
    }

    static Damage randomDamage(SplittableRandom rnd, Path file) throws IOException {
        long size = Files.size(file);
        int kind = size == 0 ? 2 : rnd.nextInt(3);
        return switch (kind) {
            case 0 -> new Damage.Flip(file, rnd.nextLong(size), 1 + rnd.nextInt(255));
            case 1 -> new Damage.Truncate(file, rnd.nextLong(size));
            default -> new Damage.Append(file, 1 + rnd.nextInt(64), rnd.nextLong());
        };
    }

    static List<Path> files(Path dir, String suffix) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().endsWith(suffix))
                    .sorted()
                    .toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Path segmentOf(Path hint) {
        String name = hint.getFileName().toString();
        return hint.resolveSibling(name.substring(0, name.length() - ".hint".length()) + ".seg");
    }

    static Path hintOf(Path segment) {
        String name = segment.getFileName().toString();
        return segment.resolveSibling(name.substring(0, name.length() - ".seg".length()) + ".hint");
    }

    static boolean sameFile(Path a, Path b) {
        try {
            if (a == null || b == null) return false;
            if (Files.exists(a) && Files.exists(b)) return Files.isSameFile(a, b);
            return a.toAbsolutePath().normalize().equals(b.toAbsolutePath().normalize());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void copyDir(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        for (Path p : files(from, "")) {
            if (Files.isRegularFile(p)) Files.copy(p, to.resolve(p.getFileName()), StandardCopyOption.COPY_ATTRIBUTES);
        }
    }

    static void deleteDir(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }

    static void assertNamesFile(CorruptionException e, Path... allowed) throws IOException {
        Path named = Stream.of(allowed)
                .filter(a -> sameFile(e.file(), a))
                .findFirst()
                .orElseThrow(() -> new AssertionError("CorruptionException names " + e.file() + ", expected one of "
                        + List.of(allowed) + " (" + e.getMessage() + ")"));
        assertThat(e.offset())
                .as("offset of %s within the file", e.getMessage())
                .isBetween(0L, Files.size(named));
    }

    // ---------------------------------------------------------------------------------------------------------
    // Random damage

    enum Outcome {
        SERVED_CLEAN,
        SERVED_TAIL_TRUNCATED,
        SERVED_HINT_FALLBACK,
        SERVED_WITH_FAILING_READS,
        REFUSED_THEN_REPAIRED
    }

    @Test
    void randomDamageIsDetectedOrHarmless(@TempDir Path tmp) throws Exception {
        int trials = Integer.getInteger("caskade.corruption.trials", 200);
        long deadline = System.nanoTime()
                + Duration.ofSeconds(Integer.getInteger("caskade.corruption.seconds", 90))
                        .toNanos();
        System.out.println(
                "CorruptionTest.randomDamage: seed=" + seed + " (replay with -Dcaskade.corruption.seed=" + seed + ")");
        Path pristine = tmp.resolve("pristine");
        History h = build(pristine, seed, 500, true);
        List<Path> segments = files(pristine, ".seg");
        List<Path> hints = files(pristine, ".hint");
        assertThat(segments).as("the store has several segments").hasSizeGreaterThan(3);
        assertThat(hints).as("sealed segments have hint files").isNotEmpty();
        List<String> targets = Stream.concat(segments.stream(), hints.stream())
                .map(p -> p.getFileName().toString())
                .toList();
        String newest = segments.getLast().getFileName().toString();

        SplittableRandom rnd = new SplittableRandom(seed);
        Map<Outcome, Integer> outcomes = new TreeMap<>();
        int trial = 0;
        for (; trial < trials && System.nanoTime() < deadline; trial++) {
            Path copy = tmp.resolve("trial-" + trial);
            copyDir(pristine, copy);
            Path target = copy.resolve(targets.get(rnd.nextInt(targets.size())));
            Damage damage = randomDamage(rnd, target);
            damage.apply();
            try {
                Outcome o =
                        check(h, copy, damage, target.getFileName().toString().equals(newest));
                outcomes.merge(o, 1, Integer::sum);
            } catch (AssertionError | RuntimeException e) {
                throw new AssertionError(
                        "seed=" + seed + " trial=" + trial + " damage=" + damage + ": " + e.getMessage(), e);
            }
            deleteDir(copy);
        }
        System.out.println("CorruptionTest.randomDamage: " + trial + " trials, outcomes " + outcomes);
        assertThat(trial).as("trials within the time budget").isGreaterThanOrEqualTo(Math.min(trials, 20));
    }

    private static Outcome check(History h, Path dir, Damage damage, boolean newest) throws Exception {
        Path target = damage.file();
        boolean hint = target.getFileName().toString().endsWith(".hint");
        Set<String> keys = new TreeSet<>(h.keys);
        keys.add("z/after");

        Caskade opened;
        try {
            opened = Caskade.open(dir, OPTIONS);
        } catch (CorruptionException e) {
            // (b) refused: it must say where, and repair mode must open it
            if (hint) assertNamesFile(e, target, segmentOf(target));
            else assertNamesFile(e, target);
            VerifyReport report = Caskade.verify(dir);
            assertThat(report.ok())
                    .as("static verify() of a store that cannot open")
                    .isFalse();
            assertThat(report.problems())
                    .as("static verify() names the damaged file")
                    .anyMatch(p -> p.contains(e.file().getFileName().toString()));
            try (Caskade db = Caskade.open(dir, OPTIONS.withRepair(true))) {
                Recovery rec = db.recovery();
                assertThat(rec.skippedEntries() + rec.droppedEntries() + rec.truncatedBytes() + rec.hintFallbacks())
                        .as("repair reports what it skipped: %s", rec)
                        .isPositive();
                assertThat(rec.notes()).as("repair notes").isNotEmpty();
                Map<String, Read> reads = readAll(db, keys);
                assertThat(reads.values()).as("reads after repair").noneMatch(r -> r instanceof Read.Failed);
                assertOnlyWrittenBytes(h, reads);
            }
            return Outcome.REFUSED_THEN_REPAIRED;
        }

        // (a) served: only written bytes, and at most the newest segment's torn tail lost
        Outcome outcome;
        Map<String, Read> reads;
        try (Caskade db = opened) {
            Recovery rec = db.recovery();
            String ctx = "recovery " + rec;
            assertThat(rec.skippedEntries())
                    .as("%s: skipped entries without repair", ctx)
                    .isZero();
            if (!newest) {
                assertThat(rec.truncatedBytes() + rec.droppedEntries())
                        .as("%s: only the newest segment may lose a torn tail", ctx)
                        .isZero();
            }
            reads = readAll(db, keys);
            assertOnlyWrittenBytes(h, reads);
            for (Read r : reads.values()) {
                if (r instanceof Read.Failed f) assertNamesFile(f.e(), target);
            }
            long revision = db.revision();
            OptionalLong prefix = h.prefixMatching(reads, revision);
            assertThat(prefix)
                    .as("%s: the readable state is the state at some revision <= %d", ctx, revision)
                    .isPresent();
            if (!newest) {
                assertThat(prefix.getAsLong())
                        .as("%s: damage outside the newest segment loses nothing", ctx)
                        .isEqualTo(h.last());
            } else if (prefix.getAsLong() < h.last()) {
                assertThat(rec.notes())
                        .as("%s: commits after %d lost silently", ctx, prefix.getAsLong())
                        .isNotEmpty();
            }
            if (hint) {
                assertThat(reads)
                        .as("%s: a damaged hint loses nothing", ctx)
                        .isEqualTo(expectedReads(h.stateAt(h.last()), keys));
                assertThat(rec.hintFallbacks())
                        .as("%s: damaged hint detected", ctx)
                        .isPositive();
            }
            VerifyReport report = db.verify();
            String number = target.getFileName().toString().replaceAll("\\..*", "");
            if (!report.ok()) {
                // follow-on problems (key directory vs. log) may name keys; the damage itself names the file
                assertThat(report.problems())
                        .as("verify() names the damaged file")
                        .anyMatch(p -> p.contains(number));
            }
            if (!hint && !newest) {
                // the damage is still on disk (open did not need to read it): verify reads everything
                assertThat(report.problems())
                        .as("verify() finds damage in sealed %s", target.getFileName())
                        .isNotEmpty();
            }
            long fresh = db.put("z/after", "fresh");
            assertThat(fresh).as("fresh put after recovery").isGreaterThan(revision);

            boolean failing = reads.values().stream().anyMatch(r -> r instanceof Read.Failed);
            outcome = failing
                    ? Outcome.SERVED_WITH_FAILING_READS
                    : rec.truncatedBytes() > 0
                            ? Outcome.SERVED_TAIL_TRUNCATED
                            : rec.hintFallbacks() > 0 ? Outcome.SERVED_HINT_FALLBACK : Outcome.SERVED_CLEAN;
            reads.put("z/after", new Read.Present(new Stored(HEX.formatHex(utf8("fresh")), fresh)));
        }

        // recovery is durable: reopening serves the same, including the put made after recovery
        try (Caskade db = Caskade.open(dir, OPTIONS)) {
            assertThat(db.recovery().skippedEntries()).isZero();
            Map<String, Read> again = readAll(db, keys);
            for (var e : reads.entrySet()) {
                Read now = again.get(e.getKey());
                if (e.getValue() instanceof Read.Failed) {
                    assertThat(now).as("reopen: %s", e.getKey()).isInstanceOf(Read.Failed.class);
                } else {
                    assertThat(now).as("reopen: %s", e.getKey()).isEqualTo(e.getValue());
                }
            }
        }
        return outcome;
    }

    // ---------------------------------------------------------------------------------------------------------
    // Targeted damage

    @Test
    void flippedByteInSealedSegmentIsReportedWithItsFile(@TempDir Path dir) throws Exception {
        History h = build(dir, seed, 120, false); // every entry live: any flipped byte hits a value we serve
        List<Path> segments = files(dir, ".seg");
        assertThat(segments).hasSizeGreaterThan(3);
        Path sealed = segments.get(1);
        new Damage.Flip(sealed, Files.size(sealed) / 2, 0x40).apply();

        Caskade db;
        try {
            db = Caskade.open(dir, OPTIONS);
        } catch (CorruptionException e) {
            assertNamesFile(e, sealed);
            return;
        }
        // open trusted the hint and did not read the segment: the damage must surface on read and in verify()
        try (db) {
            Map<String, Read> reads = readAll(db, h.keys);
            assertOnlyWrittenBytes(h, reads);
            List<Read.Failed> failed = reads.values().stream()
                    .filter(r -> r instanceof Read.Failed)
                    .map(r -> (Read.Failed) r)
                    .toList();
            assertThat(failed).as("a read of the damaged entry fails").isNotEmpty();
            for (Read.Failed f : failed) assertNamesFile(f.e(), sealed);
            assertThat(db.verify().problems())
                    .anyMatch(p -> p.contains(sealed.getFileName().toString()));
        }
    }

    @Test
    void flippedByteInSealedSegmentWithoutHintFailsOpenAndRepairSkipsIt(@TempDir Path dir) throws Exception {
        History h = build(dir, seed, 120, false);
        List<Path> segments = files(dir, ".seg");
        assertThat(segments).hasSizeGreaterThan(3);
        Path sealed = segments.get(1);
        Files.deleteIfExists(hintOf(sealed)); // so open has to read the segment itself
        new Damage.Flip(sealed, Files.size(sealed) / 2, 0x40).apply();

        assertThatThrownBy(() -> Caskade.open(dir, OPTIONS).close())
                .isInstanceOfSatisfying(CorruptionException.class, e -> {
                    try {
                        assertNamesFile(e, sealed);
                    } catch (IOException io) {
                        throw new UncheckedIOException(io);
                    }
                });

        try (Caskade db = Caskade.open(dir, OPTIONS.withRepair(true))) {
            Recovery rec = db.recovery();
            assertThat(rec.skippedEntries()).as("%s", rec).isPositive();
            assertThat(rec.notes())
                    .anyMatch(n -> n.contains(sealed.getFileName().toString()));
            Map<String, Read> reads = readAll(db, h.keys);
            assertOnlyWrittenBytes(h, reads);
            Map<String, Stored> last = h.stateAt(h.last());
            long lost = 0;
            for (var e : reads.entrySet()) {
                switch (e.getValue()) {
                    case Read.Present p -> assertThat(p.stored()).isEqualTo(last.get(e.getKey()));
                    case Read.Absent a -> lost++;
                    case Read.Failed f -> fail("read after repair failed: " + f.e());
                }
            }
            assertThat(lost)
                    .as("keys lost to the skipped entry (each key was written once)")
                    .isPositive();
        }
    }

    @Test
    void truncatedNewestSegmentLosesOnlyItsTornTail(@TempDir Path dir) throws Exception {
        History h = build(dir, seed, 300, true);
        Path newest = files(dir, ".seg").getLast();
        long size = Files.size(newest);
        assertThat(size)
                .as("the newest segment ends with the 1200-byte put of 'last'")
                .isGreaterThan(1200);
        new Damage.Truncate(newest, size - 600).apply();

        try (Caskade db = Caskade.open(dir, OPTIONS)) {
            Recovery rec = db.recovery();
            assertThat(rec.truncatedBytes()).as("%s", rec).isPositive();
            assertThat(rec.droppedEntries()).as("%s", rec).isPositive();
            assertThat(rec.skippedEntries()).as("%s", rec).isZero();
            assertThat(rec.notes()).as("%s", rec).isNotEmpty();
            assertThat(readAll(db, h.keys))
                    .as("everything but the torn last commit")
                    .isEqualTo(expectedReads(h.stateAt(h.last() - 1), h.keys));
            assertThat(db.revision()).isGreaterThanOrEqualTo(h.last() - 1);
            assertThat(db.verify().problems()).isEmpty();
            long before = db.revision();
            assertThat(db.put("after", "x")).isGreaterThan(before);
        }
        try (Caskade db = Caskade.open(dir, OPTIONS)) {
            assertThat(db.recovery().clean())
                    .as("second open: %s", db.recovery())
                    .isTrue();
            assertThat(db.get("after")).map(Entry::valueString).contains("x");
        }
    }

    @Test
    void sealedSegmentCutAtAnEntryBoundaryIsRefusedNotSilentlyShortened(@TempDir Path dir) throws Exception {
        // a cut between two entries scans clean: only the hint, which describes the segment's full length,
        // can tell that acknowledged commits are gone
        History h = build(dir, seed, 300, true);
        List<Path> segments = files(dir, ".seg");
        Path victim = segments.get(segments.size() / 2);
        long id = Long.parseLong(victim.getFileName().toString().replace(".seg", ""));
        List<HintFile.Item> items = HintFile.read(Segment.hintPath(victim), id, Files.size(victim));
        assertThat(items).as("the sealed segment's hint").hasSizeGreaterThan(1);
        // cut right before the entries of the highest revision: an entry boundary (and, in a data segment, a
        // commit boundary)
        long lastRevision =
                items.stream().mapToLong(HintFile.Item::revision).max().orElseThrow();
        long boundary = items.stream()
                .filter(i -> i.revision() == lastRevision)
                .mapToLong(HintFile.Item::offset)
                .min()
                .orElseThrow();
        long lost = items.stream().filter(i -> i.offset() >= boundary).count();
        new Damage.Truncate(victim, boundary).apply();

        assertThatThrownBy(() -> Caskade.open(dir, OPTIONS)).isInstanceOfSatisfying(CorruptionException.class, e -> {
            assertThat(e.getMessage()).contains("shorter than its hint");
            assertThat(e.file().getFileName()).isEqualTo(victim.getFileName());
            assertThat(e.offset()).isEqualTo(boundary);
        });
        assertThat(Caskade.verify(dir).problems())
                .as("static verify")
                .anyMatch(p -> p.contains(victim.getFileName().toString()) && p.contains("shorter than its hint"));
        assertThatThrownBy(() -> Caskade.openReadOnly(dir, OPTIONS))
                .as("a read-only view repairs nothing: it refuses too")
                .isInstanceOfSatisfying(CorruptionException.class, e -> {
                    assertThat(e.getMessage()).contains("shorter than its hint");
                    assertThat(e.file().getFileName()).isEqualTo(victim.getFileName());
                });
        try (Caskade db = Caskade.open(dir, OPTIONS.withRepair(true))) {
            assertThat(db.recovery().droppedEntries()).as("%s", db.recovery()).isEqualTo(lost);
            assertThat(db.recovery().skippedEntries()).as("%s", db.recovery()).isZero();
            assertThat(db.recovery().notes()).anyMatch(n -> n.contains("entries lost"));
        }
        try (Caskade db = Caskade.open(dir, OPTIONS)) {
            assertThat(db.recovery().droppedEntries())
                    .as("the loss was accepted once, by repair: %s", db.recovery())
                    .isZero();
            assertThat(db.verify().problems()).isEmpty();
            assertThat(db.revision()).isEqualTo(h.last());
        }
    }

    @Test
    void aCommitRepairDroppedNeverComesBackThroughAHint(@TempDir Path dir) throws Exception {
        SplittableRandom rnd = new SplittableRandom(seed);
        Batch b = Batch.create();
        for (int i = 0; i < 3; i++) {
            byte[] v = new byte[500];
            rnd.nextBytes(v);
            b.put(utf8("t/" + i), v);
        }
        try (Caskade db = Caskade.open(dir, OPTIONS)) {
            db.put("before", "x");
            db.commit(b);
            for (int i = 0; files(dir, ".seg").size() < 3 && i < 50; i++) db.put("after/" + i, "y".repeat(1000));
        }
        Path victim = files(dir, ".seg").stream()
                .filter(p -> {
                    long id = Long.parseLong(p.getFileName().toString().replace(".seg", ""));
                    List<HintFile.Item> items =
                            HintFile.read(Segment.hintPath(p), id, p.toFile().length());
                    return items != null
                            && items.stream().anyMatch(i -> new String(i.key(), StandardCharsets.UTF_8).equals("t/0"));
                })
                .findFirst()
                .orElseThrow();
        assertThat(victim).isNotEqualTo(files(dir, ".seg").getLast());
        long id = Long.parseLong(victim.getFileName().toString().replace(".seg", ""));
        long cut = HintFile.read(Segment.hintPath(victim), id, Files.size(victim)).stream()
                .filter(i -> new String(i.key(), StandardCharsets.UTF_8).equals("t/2"))
                .mapToLong(HintFile.Item::offset)
                .findFirst()
                .orElseThrow();
        new Damage.Truncate(victim, cut).apply(); // the batch's third entry and all after it are gone

        assertThatThrownBy(() -> Caskade.open(dir, OPTIONS)).isInstanceOf(CorruptionException.class);
        for (int round = 0; round < 2; round++) {
            try (Caskade db = Caskade.open(dir, OPTIONS.withRepair(true))) {
                assertThat(db.get("t/0"))
                        .as("round %d: the torn batch is dropped whole", round)
                        .isEmpty();
                assertThat(db.get("t/1")).isEmpty();
                assertThat(db.get("before")).map(Entry::valueString).contains("x");
            }
        }
        // closing the repaired store must not index the dropped commit's first entries into a hint
        assertThatThrownBy(() -> Caskade.open(dir, OPTIONS))
                .isInstanceOfSatisfying(
                        CorruptionException.class,
                        e -> assertThat(e.file().getFileName()).isEqualTo(victim.getFileName()));
    }

    @Test
    void repairedDamageInTheNewestSegmentIsNotAppendedBehind(@TempDir Path dir) throws Exception {
        // damage in the first entry of the newest segment with sound entries after it: not a torn tail. Repair
        // skips it; the store must then write, close (hint of its active segment) and reopen cleanly
        try (Caskade db = Caskade.open(dir)) {
            for (int i = 0; i < 5; i++) db.put("k" + i, "v" + i);
        }
        Path newest = files(dir, ".seg").getLast();
        java.nio.file.Files.deleteIfExists(Segment.hintPath(newest));
        try (var ch = java.nio.channels.FileChannel.open(newest, java.nio.file.StandardOpenOption.WRITE)) {
            ch.write(java.nio.ByteBuffer.wrap(new byte[] {(byte) 0x85}), Segment.HEADER + 35); // value length
        }
        assertThatThrownBy(() -> Caskade.open(dir)).isInstanceOf(CorruptionException.class);
        try (Caskade db = Caskade.open(dir, CaskadeOptions.repair())) {
            assertThat(db.recovery().skippedEntries()).isEqualTo(1);
            assertThat(db.get("k0")).isEmpty();
            assertThat(db.get("k4")).map(Entry::valueString).contains("v4");
            db.put("after", "repair");
        }
        try (Caskade db = Caskade.open(dir, CaskadeOptions.repair())) {
            assertThat(db.get("after")).map(Entry::valueString).contains("repair");
            assertThat(db.get("k4")).map(Entry::valueString).contains("v4");
        }
    }

    @Test
    void tornBatchAtTheTailIsDroppedWhole(@TempDir Path dir) throws Exception {
        History h = build(dir, seed, 200, true);
        SplittableRandom rnd = new SplittableRandom(seed);
        List<Write> writes = new ArrayList<>();
        Batch b = Batch.create();
        for (int i = 0; i < 3; i++) {
            byte[] v = new byte[500];
            rnd.nextBytes(v);
            b.put(utf8("t/" + i), v);
            writes.add(new Write("t/" + i, v));
        }
        try (Caskade db = Caskade.open(dir, OPTIONS)) {
            h.add(db.commit(b), writes);
        }
        Path newest = files(dir, ".seg").getLast();
        long size = Files.size(newest);
        assertThat(size).as("the newest segment ends with the 1500-byte batch").isGreaterThan(1500);
        new Damage.Truncate(newest, size - 700).apply(); // inside the batch's second put

        Set<String> keys = new TreeSet<>(h.keys);
        try (Caskade db = Caskade.open(dir, OPTIONS)) {
            assertThat(db.recovery().truncatedBytes()).as("%s", db.recovery()).isPositive();
            assertThat(readAll(db, keys))
                    .as("none of the torn batch, all of the rest")
                    .isEqualTo(expectedReads(h.stateAt(h.last() - 1), keys));
        }
    }

    @Test
    void damagedHintFallsBackToItsSegment(@TempDir Path tmp) throws Exception {
        Path pristine = tmp.resolve("pristine");
        History h = build(pristine, seed, 300, true);
        List<Path> hints = files(pristine, ".hint");
        assertThat(hints).isNotEmpty();
        String hintName = hints.get(hints.size() / 2).getFileName().toString();
        Map<String, Read> expected = expectedReads(h.stateAt(h.last()), h.keys);

        int i = 0;
        for (String kind : List.of("flip", "truncate", "delete")) {
            Path copy = tmp.resolve("copy-" + i++);
            copyDir(pristine, copy);
            Path hint = copy.resolve(hintName);
            long size = Files.size(hint);
            switch (kind) {
                case "flip" -> new Damage.Flip(hint, size / 2, 0x01).apply();
                case "truncate" -> new Damage.Truncate(hint, size / 2).apply();
                default -> Files.delete(hint);
            }
            try (Caskade db = Caskade.open(copy, OPTIONS)) {
                Recovery rec = db.recovery();
                assertThat(rec.hintFallbacks()).as("%s hint: %s", kind, rec).isPositive();
                assertThat(rec.clean())
                        .as("%s hint: no data lost: %s", kind, rec)
                        .isTrue();
                assertThat(readAll(db, h.keys)).as("%s hint", kind).isEqualTo(expected);
                assertThat(db.revision()).isEqualTo(h.last());
            }
        }
    }

    @Test
    void damagedHintOfTheNewestSegmentCountsAsAFallback(@TempDir Path dir) throws Exception {
        History h = build(dir, seed, 300, true);
        Path newest = files(dir, ".seg").getLast();
        Path hint = hintOf(newest);
        assertThat(hint).as("close writes the hint of the active segment").exists();
        new Damage.Flip(hint, Files.size(hint) / 2, 0x01).apply();
        try (Caskade db = Caskade.open(dir, OPTIONS)) {
            Recovery rec = db.recovery();
            assertThat(readAll(db, h.keys)).isEqualTo(expectedReads(h.stateAt(h.last()), h.keys));
            assertThat(rec.hintFallbacks())
                    .as("bad hint of %s: %s", newest.getFileName(), rec)
                    .isPositive();
        }
    }

    @Test
    void verifyOfAHealthyStoreIsOk(@TempDir Path dir) throws Exception {
        History h = build(dir, seed, 300, true);
        Map<String, Stored> last = h.stateAt(h.last());
        try (Caskade db = Caskade.open(dir, OPTIONS)) {
            assertThat(db.recovery().clean()).isTrue();
            VerifyReport report = db.verify();
            assertThat(report.ok()).as("%s", report).isTrue();
            assertThat(report.segments()).isGreaterThan(3);
            assertThat(report.hints()).isPositive();
            assertThat(report.keys()).isEqualTo(last.size());
            assertThat(report.entries()).isGreaterThanOrEqualTo(last.size());
        }
        assertThat(Caskade.verify(dir).problems()).isEmpty();
    }

    @Test
    void verifySeesDamageMadeAfterOpen(@TempDir Path dir) throws Exception {
        build(dir, seed, 300, true);
        try (Caskade db = Caskade.open(dir, OPTIONS)) {
            assertThat(db.verify().problems()).isEmpty();
            Path sealed = files(dir, ".seg").get(1);
            new Damage.Flip(sealed, Files.size(sealed) / 2, 0x10).apply();
            VerifyReport report = db.verify();
            assertThat(report.ok()).isFalse();
            assertThat(report.problems())
                    .anyMatch(p -> p.contains(sealed.getFileName().toString()));
        }
    }
}
