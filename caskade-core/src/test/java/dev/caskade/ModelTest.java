package dev.caskade;

import static dev.caskade.Keys.show;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Seeded random operations against a store and an in-memory {@link Model}; after every operation the store
 * must show exactly what the model holds. Reproduce a failure with the printed {@code -Dcaskade.model.seed}.
 * {@code -Dcaskade.model.ops} sets the total number of operations over all runs.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class ModelTest {
    private static final int OPS = Integer.getInteger("caskade.model.ops", 12_000);
    private static final long SEED = Long.getLong("caskade.model.seed", System.nanoTime());
    private static final long START = 1_700_000_000_000L;
    private static final byte[] EMPTY = new byte[0];
    private static final int MAX_KEY = 64;
    private static final int MAX_VALUE = 8192;

    /** Small key space: six first bytes (both ends of the unsigned order) times 14 suffixes. */
    private static final byte[][] KEYS = keys();

    /** One seeded sequence of operations against one store. */
    record Run(String variant, Durability durability, boolean keepHistory, long seed, int ops) {
        @Override
        public String toString() {
            return variant + " seed=" + seed + " ops=" + ops;
        }
    }

    static Stream<Run> runs() {
        // SYNC fsyncs every commit: give it a slice, capped so the crash profile stays bounded in time
        int syncOps = Math.max(200, Math.min(OPS / 12, 2_000));
        int perNone = Math.max(100, (OPS - syncOps + 3) / 4);
        SplittableRandom seeds = new SplittableRandom(SEED);
        System.out.println("ModelTest: -Dcaskade.model.seed=" + SEED + " total ops " + (4 * perNone + syncOps));
        return Stream.of(
                new Run("none/compacting", Durability.NONE, false, seeds.nextLong(), perNone),
                new Run("none/keeping-history", Durability.NONE, true, seeds.nextLong(), perNone),
                new Run("none/compacting", Durability.NONE, false, seeds.nextLong(), perNone),
                new Run("none/keeping-history", Durability.NONE, true, seeds.nextLong(), perNone),
                new Run("sync/compacting", Durability.SYNC, false, seeds.nextLong(), syncOps));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("runs")
    void storeMatchesModel(Run run, @TempDir Path dir) {
        long t0 = System.nanoTime();
        new Trial(run, dir).run();
        System.out.printf("ModelTest %s: %d ms%n", run, (System.nanoTime() - t0) / 1_000_000);
    }

    /** The model's rule for batches that change nothing, on its own (the random runs hit it too). */
    @Test
    void batchOfOnlyDeletesOfAbsentKeysWritesNothingAndReturnsTheCurrentRevision(@TempDir Path dir) {
        try (Caskade db = Caskade.open(dir, CaskadeOptions.defaults().withDurability(Durability.NONE))) {
            long rev = db.put("a", "1");
            assertThat(db.commit(Batch.create().delete("absent")))
                    .as("one delete")
                    .isEqualTo(rev);
            assertThat(db.commit(Batch.create().delete("absent").delete("gone")))
                    .as("two deletes")
                    .isEqualTo(rev);
            assertThat(db.delete("absent")).as("plain delete").isZero();
            assertThat(db.revision()).isEqualTo(rev);
        }
    }

    private static byte[][] keys() {
        byte[] firsts = {0x00, 'a', 'b', 0x7f, (byte) 0x80, (byte) 0xff};
        List<byte[]> out = new ArrayList<>();
        for (byte f : firsts) {
            out.add(new byte[] {f});
            for (int i = 0; i <= 10; i++) {
                byte[] digits = Integer.toString(i).getBytes(java.nio.charset.StandardCharsets.US_ASCII);
                byte[] k = new byte[2 + digits.length];
                k[0] = f;
                k[1] = '/';
                System.arraycopy(digits, 0, k, 2, digits.length);
                out.add(k);
            }
            out.add(new byte[] {f, '/', 0x00});
            out.add(new byte[] {f, '/', (byte) 0xff});
        }
        return out.toArray(byte[][]::new);
    }

    /** The state of one run: the store, the model, the clock and what may still happen behind our back. */
    private static final class Trial {
        private final Run run;
        private final Path dir;
        private final SplittableRandom rnd;
        private final ManualClock clock = new ManualClock(START);
        private final CaskadeOptions options;
        private final Model model = new Model();
        private final ArrayDeque<String> trail = new ArrayDeque<>();
        /** Keys that ever expired: the only keys an EXPIRE change may name. */
        private final Set<String> everExpired = new HashSet<>();

        private Caskade db;
        private Snapshot snapshot;
        private Model snapshotModel;
        private int op = -1;
        /**
         * Upper bound of revisions a background reaper may still take without our seeing it: raised by the
         * keys each clock advance expires, lowered by every gap seen, reset by an explicit reap.
         */
        private long reapBudget;

        private long merges;

        Trial(Run run, Path dir) {
            this.run = run;
            this.dir = dir;
            this.rnd = new SplittableRandom(run.seed());
            CaskadeOptions o = CaskadeOptions.defaults()
                    .withDurability(run.durability())
                    .withSegmentBytes(4096)
                    .withLimits(MAX_KEY, MAX_VALUE)
                    .withMerge(0.6, 512L << 20, 0, Duration.ZERO)
                    .withClock(clock);
            this.options = run.keepHistory() ? o : o.withHistory(Duration.ZERO, 0);
        }

        void run() {
            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(8);
            try {
                db = Caskade.open(dir, options);
                for (op = 0; op < run.ops(); op++) {
                    if (System.nanoTime() > deadline) {
                        throw new AssertionError("too slow: only " + op + " of " + run.ops() + " ops in 8 min");
                    }
                    step();
                }
                finish();
            } catch (Throwable t) {
                throw new AssertionError(
                        "model run " + run + " failed at op #" + op + " (reproduce all runs with -Dcaskade.model.seed="
                                + SEED + ")\nlast ops, oldest first:\n  " + String.join("\n  ", trail),
                        t);
            } finally {
                closeQuietly();
            }
        }

        private void step() {
            int roll = rnd.nextInt(1000);
            if (roll < 240) put(false);
            else if (roll < 320) put(true);
            else if (roll < 410) delete();
            else if (roll < 510) batch();
            else if (roll < 570) compareAndSet();
            else if (roll < 680) get();
            else if (roll < 730) scan();
            else if (roll < 770) range();
            else if (roll < 810) advanceClock();
            else if (roll < 825) reap();
            else if (roll < 875) snapshotStep();
            else if (roll < 895) merge();
            else if (roll < 902) reopen();
            else if (roll < 915) limits();
            else if (roll < 930) stats();
            else if (roll < 940) readOnlyBatch();
            else if (roll < 945) verify();
            else fullCheck("periodic");
        }

        // ---- operations

        private void put(boolean withTtl) {
            byte[] key = key();
            byte[] value = value();
            Duration ttl = withTtl ? ttl() : null;
            note("put " + show(key) + " len=" + value.length + (ttl == null ? "" : " ttl=" + ttl.toMillis()));
            long rev = ttl == null ? db.put(key, value) : db.put(key, value, ttl);
            long expiresAt = ttl == null ? 0 : clock.millis() + ttl.toMillis();
            committed(rev, List.of(new Change(ChangeType.PUT, key, value, expiresAt)));
            if (rnd.nextInt(4) == 0) {
                same(db.get(key), model.get(key, now()), "get after put " + show(key));
            }
        }

        private void delete() {
            byte[] key = key();
            boolean present = model.get(key, now()).isPresent();
            note("delete " + show(key) + (present ? "" : " (absent)"));
            long rev = db.delete(key);
            if (present) {
                committed(rev, List.of(new Change(ChangeType.DELETE, key, EMPTY, 0)));
            } else {
                check(rev == 0, () -> "delete of an absent key returned revision " + rev + ", expected 0");
                nothingWritten("delete of an absent key");
            }
            same(db.get(key), Optional.empty(), "get after delete " + show(key));
        }

        private void batch() {
            long now = now();
            int n = 1 + rnd.nextInt(6);
            Batch b = Batch.create();
            List<Change> changes = new ArrayList<>();
            StringBuilder what = new StringBuilder("batch");
            for (byte[] key : distinctKeys(n)) {
                if (rnd.nextInt(100) < 65) {
                    byte[] value = value();
                    Duration ttl = rnd.nextInt(5) == 0 ? ttl() : null;
                    if (ttl == null) b.put(key, value);
                    else b.put(key, value, ttl);
                    changes.add(new Change(ChangeType.PUT, key, value, ttl == null ? 0 : now + ttl.toMillis()));
                    what.append(" put ").append(show(key)).append(" len=").append(value.length);
                    if (ttl != null) what.append(" ttl=").append(ttl.toMillis());
                } else {
                    b.delete(key);
                    boolean present = model.get(key, now).isPresent();
                    // deleting an absent key changes nothing, so it is no change in the feed either
                    if (present) changes.add(new Change(ChangeType.DELETE, key, EMPTY, 0));
                    what.append(" delete ").append(show(key)).append(present ? "" : "(absent)");
                }
            }
            Conflict conflict = rnd.nextInt(100) < 40 ? expectations(b, what) : null;
            commitBatch(b, changes, conflict, what.toString());
        }

        /** A batch without operations, only preconditions: writes nothing either way. */
        private void readOnlyBatch() {
            Batch b = Batch.create();
            StringBuilder what = new StringBuilder("batch (no ops)");
            Conflict conflict = expectations(b, what);
            commitBatch(b, List.of(), conflict, what.toString());
        }

        /** A precondition that must fail. */
        private record Conflict(byte[] key, long expected, long actual) {}

        /** Adds 1 or 2 preconditions; at most one of them wrong. Returns the wrong one, or null. */
        private Conflict expectations(Batch b, StringBuilder what) {
            long now = now();
            Conflict conflict = null;
            int count = 1 + rnd.nextInt(2);
            for (byte[] key : distinctKeys(count)) {
                long actual = model.revisionOf(key, now);
                long expected = actual;
                if (conflict == null && rnd.nextInt(100) < 35) {
                    expected = switch (rnd.nextInt(3)) {
                        case 0 -> actual == 0 ? 1 + rnd.nextLong(Math.max(1, model.revision())) : 0;
                        case 1 -> actual + 1 + rnd.nextInt(3);
                        default -> actual == 0 ? model.revision() + 1 : actual - 1;
                    };
                    if (expected != actual && expected >= 0) conflict = new Conflict(key, expected, actual);
                    else expected = actual;
                }
                b.expect(key, expected);
                what.append(" expect ").append(show(key)).append('@').append(expected);
            }
            if (conflict != null) what.append(" (must conflict)");
            return conflict;
        }

        private void commitBatch(Batch b, List<Change> changes, Conflict conflict, String what) {
            note(what);
            long rev;
            try {
                rev = db.commit(b);
            } catch (ConflictException e) {
                check(conflict != null, () -> "unexpected conflict: " + e.getMessage());
                check(
                        Arrays.equals(e.key(), conflict.key())
                                && e.expected() == conflict.expected()
                                && e.actual() == conflict.actual(),
                        () -> "conflict reports key=" + show(e.key()) + " expected=" + e.expected() + " actual="
                                + e.actual() + ", model: " + conflict);
                nothingWritten("conflicting batch");
                return;
            }
            check(conflict == null, () -> "batch committed at " + rev + " despite failing precondition " + conflict);
            if (changes.isEmpty()) {
                // no effective operation: writes nothing and returns the current revision
                absorb(rev, "no-op batch result");
                check(
                        rev == model.revision(),
                        () -> "no-op batch returned " + rev + ", current is " + model.revision());
                nothingWritten("no-op batch");
            } else {
                committed(rev, changes);
            }
        }

        private void compareAndSet() {
            long now = now();
            byte[] key = key();
            long actual = model.revisionOf(key, now);
            long expected = switch (rnd.nextInt(5)) {
                case 0, 1, 2 -> actual;
                case 3 -> 0;
                default -> actual + 1 + rnd.nextInt(2);
            };
            byte[] value = value();
            note("compareAndSet " + show(key) + " expected=" + expected + " actual=" + actual + " len=" + value.length);
            boolean ok = db.compareAndSet(key, expected, value);
            check(
                    ok == (expected == actual),
                    () -> "compareAndSet returned " + ok + " with expected=" + expected + ", model revision " + actual);
            if (ok) {
                Entry e =
                        db.get(key).orElseThrow(() -> new AssertionError("key absent after successful compareAndSet"));
                committed(e.revision(), List.of(new Change(ChangeType.PUT, key, value, 0)));
                same(Optional.of(e), model.get(key, now()), "get after compareAndSet");
            } else {
                nothingWritten("failed compareAndSet");
            }
        }

        private void get() {
            byte[] key = key();
            note("get " + show(key));
            same(db.get(key), model.get(key, now()), "get " + show(key));
        }

        private void scan() {
            byte[] prefix = prefix();
            note("scan " + show(prefix));
            try (Stream<Entry> s = db.scan(prefix)) {
                same(s.toList(), model.scan(prefix, now()), "scan " + show(prefix));
            }
        }

        private void range() {
            byte[] from = rnd.nextInt(5) == 0 ? null : prefix();
            byte[] to = rnd.nextInt(5) == 0 ? null : prefix();
            if (from != null && to != null && Arrays.compareUnsigned(from, to) > 0) {
                byte[] t = from;
                from = to;
                to = t;
            }
            note("range " + show(from) + " .. " + show(to));
            try (Stream<Entry> s = db.range(from, to)) {
                same(s.toList(), model.range(from, to, now()), "range " + show(from) + " .. " + show(to));
            }
        }

        private void advanceClock() {
            long delta = switch (rnd.nextInt(4)) {
                case 0 -> rnd.nextInt(50);
                case 1 -> 50 + rnd.nextInt(500);
                default -> 500 + rnd.nextInt(3000);
            };
            int before = model.expired(now()).size();
            clock.advance(delta);
            List<byte[]> expired = model.expired(now());
            expired.forEach(k -> everExpired.add(show(k)));
            reapBudget += Math.max(0, expired.size() - before);
            note("advance clock " + delta + " ms -> " + expired.size() + " expired");
            if (rnd.nextBoolean()) reap();
        }

        private void reap() {
            long now = now();
            int expired = model.expired(now).size();
            note("reapExpired (" + expired + " expired in model, budget " + reapBudget + ")");
            int reaped = db.reapExpired();
            check(reaped <= expired, () -> "reapExpired reaped " + reaped + " keys, only " + expired + " expired");
            absorb(db.revision(), "reapExpired");
            model.removeExpired(now);
            reapBudget = 0;
            // after a reap the key directory holds only live keys
            Stats st = db.stats();
            check(
                    st.keys() == model.held(),
                    () -> "after reapExpired stats().keys()=" + st.keys() + ", model holds " + model.held());
        }

        private void snapshotStep() {
            if (snapshot == null) {
                if (rnd.nextBoolean()) return;
                snapshot = db.snapshot();
                absorb(snapshot.revision(), "snapshot revision");
                check(
                        snapshot.revision() == model.revision(),
                        () -> "snapshot at " + snapshot.revision() + ", store at " + model.revision());
                snapshotModel = model.copy();
                note("snapshot taken at " + snapshot.revision());
                return;
            }
            note("snapshot check (taken at " + snapshot.revision() + ")");
            checkSnapshot(rnd.nextInt(3) == 0);
            if (rnd.nextInt(100) < 60) {
                note("snapshot closed");
                snapshot.close();
                snapshot = null;
                snapshotModel = null;
            }
        }

        /** The snapshot shows the keys of its revision; expiry is judged against the clock now. */
        private void checkSnapshot(boolean full) {
            long now = now();
            check(snapshot.revision() == snapshotModel.revision(), () -> "snapshot revision changed");
            byte[] key = key();
            same(snapshot.get(key), snapshotModel.get(key, now), "snapshot get " + show(key));
            byte[] prefix = prefix();
            try (Stream<Entry> s = snapshot.scan(prefix)) {
                same(s.toList(), snapshotModel.scan(prefix, now), "snapshot scan " + show(prefix));
            }
            if (full) {
                try (Stream<Entry> s = snapshot.range(null, null)) {
                    same(s.toList(), snapshotModel.all(now), "snapshot full range");
                }
            }
        }

        private void merge() {
            long before = db.compactedRevision();
            note("merge (compacted " + before + ")");
            boolean merged = db.merge();
            if (merged) merges++;
            long after = db.compactedRevision();
            check(after >= before, () -> "compactedRevision went back from " + before + " to " + after);
            check(after <= db.revision(), () -> "compactedRevision " + after + " > revision " + db.revision());
            if (run.keepHistory()) {
                check(after == 0, () -> "merge dropped history inside the retention: compactedRevision=" + after);
            }
            fullCheck("after merge");
            if (snapshot != null) checkSnapshot(true);
            if (rnd.nextInt(4) == 0) verify();
        }

        private void reopen() {
            note("reopen");
            if (snapshot != null) {
                checkSnapshot(true);
                snapshot.close();
                snapshot = null;
                snapshotModel = null;
            }
            long compacted = db.compactedRevision();
            db.close();
            Caskade closed = db;
            db = null;
            expectThrows(IllegalStateException.class, () -> closed.get(KEYS[0]), "get on a closed store");
            db = Caskade.open(dir, options);
            Recovery r = db.recovery();
            check(r.clean(), () -> "recovery after a clean close is not clean: " + r);
            absorb(db.revision(), "revision after reopen");
            long c = db.compactedRevision();
            // history that was complete before the restart must still be complete
            check(c <= compacted, () -> "compactedRevision rose from " + compacted + " to " + c + " on reopen");
            fullCheck("after reopen");
            if (rnd.nextBoolean()) verify();
        }

        private void limits() {
            byte[] good = key();
            Runnable bad = switch (rnd.nextInt(5)) {
                case 0 -> () -> db.put(EMPTY, value());
                case 1 -> () -> db.put(bytes(MAX_KEY + 1 + rnd.nextInt(10)), value());
                case 2 -> () -> db.put(good, bytes(MAX_VALUE + 1));
                case 3 -> () -> db.put(good, bytes(MAX_VALUE + 1), ttl());
                default ->
                    () -> db.commit(Batch.create()
                            .put(good, value())
                            .put(rnd.nextBoolean() ? EMPTY : bytes(MAX_KEY + 1), value()));
            };
            note("limit violation (" + show(good) + ")");
            expectThrows(LimitException.class, bad, "over-limit write");
            nothingWritten("over-limit write");
            same(db.get(good), model.get(good, now()), "get after a rejected write");
        }

        private void stats() {
            note("stats");
            Stats st = db.stats();
            absorb(st.revision(), "stats revision");
            long rev = db.revision();
            absorb(rev, "revision");
            check(
                    st.compactedRevision() == db.compactedRevision(),
                    () -> "stats compactedRevision " + st.compactedRevision() + " != " + db.compactedRevision());
            int live = model.live(now());
            check(
                    st.keys() >= live && st.keys() <= model.held(),
                    () -> "stats().keys()=" + st.keys() + ", model: " + live + " live, " + model.held() + " held");
            check(st.snapshots() == (snapshot == null ? 0 : 1), () -> "stats().snapshots()=" + st.snapshots());
            check(st.watches() == 0, () -> "stats().watches()=" + st.watches());
            check(st.durability().equals(run.durability().toString()), () -> "durability " + st.durability());
            check(st.segments() >= 1, () -> "no segment");
        }

        private void verify() {
            note("verify");
            VerifyReport v = db.verify();
            check(v.ok(), () -> "verify: " + v.problems());
            // expired keys may or may not have been reaped in the background yet
            int live = model.live(now());
            check(
                    v.keys() >= live && v.keys() <= model.held(),
                    () -> "verify keys=" + v.keys() + ", model: " + live + " live, " + model.held() + " held");
        }

        private void fullCheck(String when) {
            long now = now();
            try (Stream<Entry> s = db.scan(EMPTY)) {
                same(s.toList(), model.all(now), "full scan " + when);
            }
        }

        private void finish() {
            note("finish");
            if (snapshot != null) {
                checkSnapshot(true);
                snapshot.close();
                snapshot = null;
            }
            reap();
            fullCheck("at the end");
            if (!run.keepHistory()) {
                if (db.merge()) merges++;
                check(merges > 0 || run.ops() < 500, () -> "no merge ever compacted anything in " + run.ops() + " ops");
            } else {
                db.merge();
                check(
                        db.compactedRevision() == 0,
                        () -> "history dropped: compactedRevision=" + db.compactedRevision());
            }
            verify();
            checkHistory();
            System.out.printf(
                    "ModelTest %s: revision %d, compacted %d, merges %d, segments %d%n",
                    run,
                    db.revision(),
                    db.compactedRevision(),
                    merges,
                    db.stats().segments());
        }

        /** Every revision after compactedRevision comes back from the change feed, as committed. */
        private void checkHistory() {
            long from = db.compactedRevision();
            long to = db.revision();
            absorb(to, "revision before the history check");
            EventLog log = new EventLog();
            Watch w = db.watch(EMPTY, from, log);
            try {
                if (to > from) log.awaitRevision(to, Duration.ofSeconds(60));
            } finally {
                w.close();
            }
            check(log.violations().isEmpty(), () -> "watch violations: " + log.violations());
            List<WatchEvent.Commit> commits = log.commits();
            long expect = from + 1;
            for (WatchEvent.Commit c : commits) {
                if (c.revision() > to) break;
                long e = expect;
                check(
                        c.revision() == e,
                        () -> "history from " + from + ": got revision " + c.revision() + ", expected " + e);
                Model.Recorded r = model.history().get(c.revision());
                if (r != null) {
                    check(
                            c.timestamp() == r.timestamp(),
                            () -> "revision " + c.revision() + " timestamp " + c.timestamp() + ", committed at "
                                    + r.timestamp());
                    check(
                            c.changes().equals(r.changes()),
                            () -> "revision " + c.revision() + " changes " + describe(c.changes()) + ", committed "
                                    + describe(r.changes()));
                } else {
                    // a revision we did not take ourselves: a reap, only EXPIREs of keys that did expire
                    check(!c.changes().isEmpty(), () -> "empty commit " + c.revision());
                    for (Change ch : c.changes()) {
                        check(
                                ch.type() == ChangeType.EXPIRE && everExpired.contains(show(ch.key())),
                                () -> "revision " + c.revision() + " is no commit of ours, yet holds " + show(ch));
                    }
                }
                expect++;
            }
            long last = expect - 1;
            check(last == to, () -> "history from " + from + " ends at " + last + ", revision is " + to);
        }

        // ---- revision accounting

        /** A commit of ours returned {@code rev}; revisions between the model's and it were reaps. */
        private void committed(long rev, List<Change> changes) {
            absorb(rev - 1, "revision before commit " + rev);
            model.commit(rev, clock.millis(), changes);
        }

        /** The store says its revision is {@code observed}; anything past the model is a reap we allowed. */
        private void absorb(long observed, String what) {
            long gap = observed - model.revision();
            check(gap >= 0, () -> what + ": " + observed + " is behind the model's revision " + model.revision());
            check(
                    gap <= reapBudget,
                    () -> what + ": " + observed + " but the model is at " + model.revision() + " and at most "
                            + reapBudget + " reaps were possible (a revision taken without a commit?)");
            reapBudget -= gap;
            model.skipTo(observed);
        }

        private void nothingWritten(String what) {
            absorb(db.revision(), what + " must write nothing");
        }

        // ---- generators

        private long now() {
            return clock.millis();
        }

        private byte[] key() {
            return KEYS[rnd.nextInt(KEYS.length)];
        }

        private List<byte[]> distinctKeys(int n) {
            TreeSet<byte[]> set = new TreeSet<>(Arrays::compareUnsigned);
            for (int i = 0; i < 20 && set.size() < n; i++) set.add(key());
            List<byte[]> out = new ArrayList<>(set);
            // op order matters for the feed, so do not hand them back sorted
            for (int i = out.size() - 1; i > 0; i--) {
                int j = rnd.nextInt(i + 1);
                byte[] t = out.get(i);
                out.set(i, out.get(j));
                out.set(j, t);
            }
            return out;
        }

        private byte[] prefix() {
            byte[] k = key();
            return switch (rnd.nextInt(7)) {
                case 0 -> EMPTY;
                case 1 -> Arrays.copyOf(k, 1);
                case 2 -> Arrays.copyOf(k, Math.min(2, k.length));
                case 3 -> k;
                case 4 -> Arrays.copyOf(k, k.length + 1); // the key plus a 0x00 byte
                case 5 -> new byte[] {(byte) 0xff, (byte) 0xff};
                default -> new byte[] {(byte) rnd.nextInt(256)};
            };
        }

        private byte[] value() {
            int r = rnd.nextInt(100);
            int len = r < 10
                    ? 0
                    : r < 60 ? 1 + rnd.nextInt(32) : r < 90 ? 33 + rnd.nextInt(480) : 513 + rnd.nextInt(3584);
            if (rnd.nextBoolean()) return bytes(len);
            byte[] v = new byte[len];
            for (int i = 0; i < len; i++) v[i] = (byte) ('a' + rnd.nextInt(26));
            return v;
        }

        private byte[] bytes(int len) {
            byte[] v = new byte[len];
            rnd.nextBytes(v);
            return v;
        }

        private Duration ttl() {
            return Duration.ofMillis(1 + rnd.nextInt(rnd.nextBoolean() ? 600 : 6000));
        }

        // ---- checking

        private void note(String what) {
            if (trail.size() == 30) trail.removeFirst();
            trail.addLast("#" + op + " @" + model.revision() + " t+" + (clock.millis() - START) + ": " + what);
        }

        private static void check(boolean ok, Supplier<String> message) {
            if (!ok) throw new AssertionError(message.get());
        }

        private static void expectThrows(Class<? extends Throwable> type, Runnable r, String what) {
            try {
                r.run();
            } catch (Throwable t) {
                if (type.isInstance(t)) return;
                throw new AssertionError(what + ": expected " + type.getSimpleName() + " but got " + t, t);
            }
            throw new AssertionError(what + ": expected " + type.getSimpleName() + ", nothing thrown");
        }

        private static void same(Optional<Entry> actual, Optional<Entry> expected, String what) {
            if (!actual.equals(expected)) {
                throw new AssertionError(
                        what + ": store " + actual.map(Keys::show).orElse("absent") + ", model "
                                + expected.map(Keys::show).orElse("absent"));
            }
        }

        private static void same(List<Entry> actual, List<Entry> expected, String what) {
            if (actual.equals(expected)) return;
            int i = 0;
            while (i < actual.size() && i < expected.size() && actual.get(i).equals(expected.get(i))) i++;
            String a = i < actual.size() ? show(actual.get(i)) : "<end>";
            String e = i < expected.size() ? show(expected.get(i)) : "<end>";
            throw new AssertionError(what + ": store has " + actual.size() + " entries, model " + expected.size()
                    + "; first difference at #" + i + ": store " + a + ", model " + e);
        }

        private static String describe(List<Change> changes) {
            return changes.stream().map(Keys::show).toList().toString();
        }

        private void closeQuietly() {
            try {
                if (snapshot != null) snapshot.close();
            } catch (RuntimeException ignored) {
                // the failure being reported matters more
            }
            try {
                if (db != null) db.close();
            } catch (RuntimeException ignored) {
                // same
            }
        }
    }
}
