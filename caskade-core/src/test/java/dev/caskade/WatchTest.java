package dev.caskade;

import static dev.caskade.Keys.utf8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The change feed: history then live, every commit under the prefix once and in order, and how watches end. */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class WatchTest {
    private static final byte[] EMPTY = new byte[0];
    private static final Duration WAIT = Duration.ofSeconds(30);

    /** A commit as its writer made it. */
    record Written(long revision, List<Change> changes) {}

    /** What a watch delivered, without timestamps: comparable with {@link Written}. */
    private static List<Written> delivered(EventLog log) {
        return log.commits().stream()
                .map(c -> new Written(c.revision(), c.changes()))
                .toList();
    }

    /** The commits after {@code from} that touch {@code prefix}, each cut down to its changes under it. */
    private static List<Written> expected(List<Written> history, byte[] prefix, long from) {
        List<Written> out = new ArrayList<>();
        for (Written w : history) {
            if (w.revision() <= from) continue;
            List<Change> mine = w.changes().stream()
                    .filter(c -> Keys.startsWith(c.key(), prefix))
                    .toList();
            if (!mine.isEmpty()) out.add(new Written(w.revision(), mine));
        }
        return out;
    }

    private static Change put(String key, String value) {
        return new Change(ChangeType.PUT, utf8(key), utf8(value), 0);
    }

    private static Change del(String key) {
        return new Change(ChangeType.DELETE, utf8(key), EMPTY, 0);
    }

    private static CaskadeOptions base() {
        return CaskadeOptions.defaults().withMerge(0.6, 512L << 20, 0, Duration.ZERO);
    }

    // ---- (a) concurrent writers, watchers from random past revisions

    /** One of the writer threads: owns its keys, so it knows whether each one exists. */
    private static final class Writer extends Thread {
        private final Caskade db;
        private final int id;
        private final int ops;
        private final SplittableRandom rnd;
        private final ConcurrentLinkedQueue<Written> out;
        private final Map<String, Long> present = new HashMap<>();
        private final List<String> keys = new ArrayList<>();
        volatile Throwable failure;

        Writer(Caskade db, int id, int ops, long seed, ConcurrentLinkedQueue<Written> out) {
            super("writer-" + id);
            this.db = db;
            this.id = id;
            this.ops = ops;
            this.rnd = new SplittableRandom(seed);
            this.out = out;
            for (String group : List.of("a", "b", "c")) {
                for (int i = 0; i < 4; i++) keys.add(group + "/" + id + "/" + i);
            }
        }

        @Override
        public void run() {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            try {
                for (int i = 0; i < ops && System.nanoTime() < deadline; i++) step(i);
            } catch (Throwable t) {
                failure = t;
            }
        }

        private void step(int i) {
            String key = keys.get(rnd.nextInt(keys.size()));
            int roll = rnd.nextInt(100);
            if (roll < 45) {
                String value = value(i);
                long rev = db.put(key, value);
                record(rev, List.of(put(key, value)));
                present.put(key, rev);
            } else if (roll < 60) {
                long rev = db.delete(key);
                if (present.remove(key) != null) {
                    record(rev, List.of(del(key)));
                } else if (rev != 0) {
                    throw new AssertionError("writer " + id + ": delete of absent " + key + " returned " + rev);
                }
            } else if (roll < 85) {
                Batch b = Batch.create();
                List<Change> changes = new ArrayList<>();
                List<String> shuffled = new ArrayList<>(keys);
                Collections.shuffle(shuffled, new java.util.Random(rnd.nextLong()));
                Map<String, Boolean> after = new HashMap<>();
                for (String k : shuffled.subList(0, 1 + rnd.nextInt(4))) {
                    if (present.containsKey(k) && rnd.nextInt(3) == 0) {
                        b.delete(k);
                        changes.add(del(k));
                        after.put(k, false);
                    } else {
                        String value = value(i);
                        b.put(k, value);
                        changes.add(put(k, value));
                        after.put(k, true);
                    }
                }
                long rev = db.commit(b);
                record(rev, changes);
                after.forEach((k, live) -> {
                    if (live) present.put(k, rev);
                    else present.remove(k);
                });
            } else {
                long expected = present.getOrDefault(key, 0L);
                String value = value(i);
                if (!db.compareAndSet(key, expected, value)) {
                    throw new AssertionError(
                            "writer " + id + ": compareAndSet of its own key " + key + " at " + expected + " failed");
                }
                // nobody else writes this key, so its revision is the one the compareAndSet took
                long rev = db.get(key).orElseThrow().revision();
                record(rev, List.of(put(key, value)));
                present.put(key, rev);
            }
        }

        private String value(int i) {
            return "w" + id + "-" + i + "-" + "x".repeat(rnd.nextInt(200));
        }

        private void record(long rev, List<Change> changes) {
            if (rev <= 0) throw new AssertionError("writer " + id + ": commit returned revision " + rev);
            out.add(new Written(rev, changes));
        }
    }

    /** A started watch and what it should see. */
    private record Watcher(String prefix, long from, Watch watch, EventLog log) {}

    private static Watcher startWatcher(Caskade db, String prefix, long from, boolean mayBeCompacted) {
        for (int attempt = 0; attempt < 50; attempt++) {
            EventLog log = new EventLog();
            try {
                return new Watcher(prefix, from, db.watch(prefix, from, log), log);
            } catch (CompactedException e) {
                if (!mayBeCompacted) throw e;
                assertThat(e.requested()).as("requested").isEqualTo(from);
                assertThat(e.oldest()).as("oldest").isGreaterThan(from);
                from = e.oldest();
            }
        }
        throw new AssertionError("watch kept being compacted away");
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"none", "sync", "none+merge"})
    void watchersSeeEveryCommitUnderTheirPrefixOnceAndInOrder(String mode, @TempDir Path dir) throws Exception {
        long seed = Long.getLong("caskade.watch.seed", System.nanoTime());
        System.out.println("WatchTest concurrent " + mode + ": -Dcaskade.watch.seed=" + seed);
        SplittableRandom rnd = new SplittableRandom(seed);
        boolean merging = mode.endsWith("+merge");
        CaskadeOptions options = base().withDurability(Durability.parse(mode.replace("+merge", "")))
                .withSegmentBytes(merging ? 4096 : 16 << 10);
        if (merging) options = options.withHistory(Duration.ZERO, 0);
        int ops = mode.startsWith("sync") ? 80 : 800;
        List<String> prefixes = List.of("", "a/", "b/", "c/", "a/0/", "b/1/", "c/2/3", "a/1/0", "z/", "a", "b/2");

        long t0 = System.nanoTime();
        try (Caskade db = Caskade.open(dir, options)) {
            ConcurrentLinkedQueue<Written> written = new ConcurrentLinkedQueue<>();
            List<Watcher> watchers = new ArrayList<>();
            watchers.add(startWatcher(db, "", 0, merging));
            watchers.add(startWatcher(db, "a/", db.revision(), merging));

            List<Writer> writers = new ArrayList<>();
            for (int w = 0; w < 3; w++) writers.add(new Writer(db, w, ops, rnd.nextLong(), written));
            AtomicBoolean writing = new AtomicBoolean(true);
            List<Throwable> mergeFailures = Collections.synchronizedList(new ArrayList<>());
            Thread merger = new Thread(
                    () -> {
                        try {
                            for (int i = 0; i < 2_000 && writing.get(); i++) {
                                db.merge();
                                Thread.sleep(5);
                            }
                        } catch (Throwable t) {
                            mergeFailures.add(t);
                        }
                    },
                    "merger");
            writers.forEach(Thread::start);
            if (merging) merger.start();

            // watchers join while the writers run, from 0, from now, and from random past revisions
            for (int i = 0; i < 12 && writers.stream().anyMatch(Thread::isAlive); i++) {
                Thread.sleep(rnd.nextInt(6));
                long now = db.revision();
                long from = switch (i % 3) {
                    case 0 -> 0;
                    case 1 -> now;
                    default -> rnd.nextLong(now + 1);
                };
                watchers.add(startWatcher(db, prefixes.get(rnd.nextInt(prefixes.size())), from, merging));
            }
            for (Writer w : writers) {
                w.join(90_000);
                assertThat(w.isAlive()).as("%s finished", w.getName()).isFalse();
                if (w.failure != null) throw new AssertionError(w.getName() + " failed (seed " + seed + ")", w.failure);
            }
            writing.set(false);
            if (merging) {
                merger.join(30_000);
                assertThat(mergeFailures).as("merge failures").isEmpty();
            }
            long last = db.revision();
            watchers.add(startWatcher(db, "", rnd.nextLong(last + 1), merging));
            watchers.add(startWatcher(db, "b/", last, merging));

            List<Written> history = new ArrayList<>(written);
            history.sort((x, y) -> Long.compare(x.revision(), y.revision()));
            assertThat(history.stream().mapToLong(Written::revision))
                    .as("every revision is one writer's commit (seed %d)", seed)
                    .containsExactlyElementsOf(
                            LongStream.rangeClosed(1, last).boxed().toList());

            for (Watcher w : watchers) {
                byte[] prefix = utf8(w.prefix());
                List<Written> want = expected(history, prefix, w.from());
                if (!want.isEmpty()) w.log().awaitRevision(want.getLast().revision(), WAIT);
                Thread.sleep(20); // a duplicate or stray event would arrive now
                w.watch().close();
                WatchEvent.End end = w.log().awaitEnd(WAIT);
                String what = "watch '" + w.prefix() + "' from " + w.from() + " (seed " + seed + ")";
                assertThat(w.log().violations()).as(what).isEmpty();
                assertThat(delivered(w.log())).as(what).containsExactlyElementsOf(want);
                for (WatchEvent.Commit c : w.log().commits()) {
                    assertThat(c.changes()).as(what).allMatch(ch -> Keys.startsWith(ch.key(), prefix));
                }
                assertThat(end.reason()).as(what).isEqualTo(WatchEvent.Reason.CLOSED);
                long lastDelivered = want.isEmpty() ? w.from() : want.getLast().revision();
                assertThat(end.resumeFrom()).as(what + " resumeFrom").isBetween(lastDelivered, last);
                assertThat(w.watch().isOpen()).as(what).isFalse();
            }
            System.out.printf(
                    "WatchTest concurrent %s: %d commits, %d watchers, %d merges, compacted %d, %d ms%n",
                    mode,
                    last,
                    watchers.size(),
                    db.stats().merges(),
                    db.compactedRevision(),
                    (System.nanoTime() - t0) / 1_000_000);
        }
    }

    // ---- (b) history below the retention is gone

    @Test
    void watchBelowCompactedRevisionThrowsAndFromItDeliversEverythingAfter(@TempDir Path dir) {
        CaskadeOptions options =
                base().withDurability(Durability.NONE).withSegmentBytes(4096).withHistory(Duration.ZERO, 0);
        try (Caskade db = Caskade.open(dir, options)) {
            List<Written> history = new ArrayList<>();
            for (int i = 0; i < 300; i++) {
                String key = "c/" + (i % 10);
                String value = i + "-" + "v".repeat(200);
                history.add(new Written(db.put(key, value), List.of(put(key, value))));
            }
            long rev = db.revision();
            assertThat(rev).isEqualTo(300);
            assertThat(db.merge()).as("merge of 30 mostly dead sealed segments").isTrue();
            long compacted = db.compactedRevision();
            assertThat(compacted).isPositive().isLessThanOrEqualTo(rev);
            assertThat(db.stats().compactedRevision()).isEqualTo(compacted);

            EventLog never = new EventLog();
            assertThatThrownBy(() -> db.watch("c/", 0, never)).isInstanceOfSatisfying(CompactedException.class, e -> {
                assertThat(e.requested()).isZero();
                assertThat(e.oldest()).isEqualTo(compacted);
            });
            assertThatThrownBy(() -> db.watch("", compacted - 1, never))
                    .isInstanceOfSatisfying(CompactedException.class, e -> {
                        assertThat(e.requested()).isEqualTo(compacted - 1);
                        assertThat(e.oldest()).isEqualTo(compacted);
                    });
            assertThat(never.events()).isEmpty();

            EventLog log = new EventLog();
            try (Watch w = db.watch("c/", compacted, log)) {
                String value = "after";
                history.add(new Written(db.put("c/0", value), List.of(put("c/0", value))));
                long last = db.revision();
                log.awaitRevision(last, WAIT);
                assertThat(delivered(log)).containsExactlyElementsOf(expected(history, utf8("c/"), compacted));
                assertThat(w.isOpen()).isTrue();
            }
            assertThat(log.violations()).isEmpty();
            // the merge kept every live value
            List<String> values = new ArrayList<>(List.of("after"));
            for (int i = 291; i < 300; i++) values.add(i + "-" + "v".repeat(200));
            try (var s = db.scan("c/")) {
                assertThat(s.map(Entry::valueString).toList()).containsExactlyElementsOf(values);
            }
        }
    }

    // ---- (c) a slow listener overflows its buffer and resumes without gap or duplicate

    @Test
    void overflowEndsTheWatchAndAResumedWatchContinuesWithoutGapOrDuplicate(@TempDir Path dir) {
        CaskadeOptions options = base().withDurability(Durability.NONE).withWatchBuffer(16);
        try (Caskade db = Caskade.open(dir, options)) {
            CountDownLatch gate = new CountDownLatch(1);
            EventLog slow = new EventLog(gate);
            List<Written> history = new ArrayList<>();
            Watch first = db.watch("o/", 0, slow);
            for (int i = 0; i < 1000; i++) {
                String key = "o/" + (i % 7);
                String value = "v" + i;
                history.add(new Written(db.put(key, value), List.of(put(key, value))));
            }
            gate.countDown();
            WatchEvent.End end = slow.awaitEnd(WAIT);
            assertThat(end.reason()).isEqualTo(WatchEvent.Reason.OVERFLOW);
            assertThat(first.isOpen()).isFalse();
            List<Written> got = new ArrayList<>(delivered(slow));
            assertThat(got).as("delivered before the overflow").isNotEmpty().hasSizeLessThan(1000);
            assertThat(got).containsExactlyElementsOf(history.subList(0, got.size()));
            assertThat(end.resumeFrom())
                    .as("resumeFrom is the last delivered")
                    .isEqualTo(got.getLast().revision());
            assertThat(first.lastRevision()).isEqualTo(end.resumeFrom());

            EventLog rest = new EventLog();
            try (Watch second = db.watch("o/", end.resumeFrom(), rest)) {
                rest.awaitRevision(1000, WAIT);
                assertThat(second.isOpen()).isTrue();
            }
            got.addAll(delivered(rest));
            assertThat(got).as("both watches together").containsExactlyElementsOf(history);
            assertThat(slow.violations()).isEmpty();
            assertThat(rest.violations()).isEmpty();
            first.close(); // already ended: a no-op
        }
    }

    // ---- (d) how a watch ends

    @Test
    void closeEndsTheWatchWithClosedAndNothingFollows(@TempDir Path dir) throws Exception {
        try (Caskade db = Caskade.open(dir, base().withDurability(Durability.NONE))) {
            EventLog log = new EventLog();
            Watch w = db.watch("d/", 0, log);
            for (int i = 1; i <= 5; i++) db.put("d/" + i, "v" + i);
            log.awaitRevision(5, WAIT);
            w.close();
            WatchEvent.End end = log.awaitEnd(WAIT);
            assertThat(end).isEqualTo(new WatchEvent.End(5, WatchEvent.Reason.CLOSED));
            assertThat(w.isOpen()).isFalse();
            assertThat(w.lastRevision()).isEqualTo(5);
            w.close(); // idempotent
            for (int i = 6; i <= 10; i++) db.put("d/" + i, "v" + i);
            Thread.sleep(200);
            assertThat(log.events()).hasSize(6).last().isEqualTo(end);
            assertThat(log.violations()).isEmpty();
            assertThat(db.stats().watches()).isZero();
        }
    }

    @Test
    void storeCloseEndsEveryWatchWithStoreClosed(@TempDir Path dir) throws Exception {
        Caskade db = Caskade.open(dir, base().withDurability(Durability.NONE));
        EventLog a = new EventLog();
        EventLog b = new EventLog();
        Watch wa;
        Watch wb;
        try {
            db.put("s/1", "x");
            wa = db.watch("s/", 0, a);
            wb = db.watch("t/", db.revision(), b);
            db.put("s/2", "y");
            a.awaitRevision(2, WAIT);
            assertThat(db.stats().watches()).isEqualTo(2);
        } finally {
            db.close();
        }
        assertThat(a.awaitEnd(WAIT)).isEqualTo(new WatchEvent.End(2, WatchEvent.Reason.STORE_CLOSED));
        WatchEvent.End endB = b.awaitEnd(WAIT);
        assertThat(endB.reason()).isEqualTo(WatchEvent.Reason.STORE_CLOSED);
        assertThat(endB.resumeFrom()).isBetween(1L, 2L);
        assertThat(wa.isOpen()).isFalse();
        assertThat(wb.isOpen()).isFalse();
        Thread.sleep(50);
        assertThat(a.commits()).extracting(WatchEvent.Commit::revision).containsExactly(1L, 2L);
        assertThat(b.commits()).isEmpty();
        assertThat(a.violations()).isEmpty();
        assertThat(b.violations()).isEmpty();
    }

    // ---- (e) TTL expiry is a commit of its own

    @Test
    void expiryIsAnExpireChangeWithItsOwnRevision(@TempDir Path dir) {
        ManualClock clock = new ManualClock(1_700_000_000_000L);
        try (Caskade db =
                Caskade.open(dir, base().withDurability(Durability.NONE).withClock(clock))) {
            EventLog log = new EventLog();
            try (Watch w = db.watch("e/", 0, log)) {
                long r1 = db.put("e/k", "gone soon", Duration.ofSeconds(1));
                long r2 = db.put("e/stay", "here");
                clock.advance(1000);
                db.reapExpired();
                long r3 = db.revision();
                assertThat(r3).isEqualTo(r2 + 1);
                log.awaitRevision(r3, WAIT);
                assertThat(w.isOpen()).isTrue();
            }
            List<WatchEvent.Commit> commits = log.commits();
            assertThat(commits).extracting(WatchEvent.Commit::revision).containsExactly(1L, 2L, 3L);
            assertThat(commits.get(0).changes())
                    .containsExactly(
                            new Change(ChangeType.PUT, utf8("e/k"), utf8("gone soon"), 1_700_000_000_000L + 1000));
            assertThat(commits.get(1).changes()).containsExactly(put("e/stay", "here"));
            WatchEvent.Commit expiry = commits.get(2);
            assertThat(expiry.timestamp()).isEqualTo(clock.millis());
            assertThat(expiry.changes()).singleElement().satisfies(c -> {
                assertThat(c.type()).isEqualTo(ChangeType.EXPIRE);
                assertThat(c.keyString()).isEqualTo("e/k");
                assertThat(c.value()).isEmpty();
            });
            assertThat(db.get("e/k")).isEmpty();
            assertThat(db.get("e/stay")).isPresent();
        }
    }

    // ---- (f) history comes from the log files after a reopen

    @Test
    void historyIsReadBackFromSeveralSegmentsAfterReopen(@TempDir Path dir) {
        CaskadeOptions options = base().withDurability(Durability.NONE).withSegmentBytes(4096);
        SplittableRandom rnd = new SplittableRandom(42);
        List<Written> history = new ArrayList<>();
        try (Caskade db = Caskade.open(dir, options)) {
            for (int i = 0; i < 150; i++) {
                String key = "h/" + rnd.nextInt(12);
                switch (i % 5) {
                    case 3 -> {
                        long rev = db.delete(key);
                        if (rev != 0) history.add(new Written(rev, List.of(del(key))));
                    }
                    case 4 -> {
                        String other = "h/x" + i;
                        String value = "batch" + i + "y".repeat(rnd.nextInt(300));
                        Batch b = Batch.create().put(other, value).put("g/outside" + i, "z");
                        long rev = db.commit(b);
                        history.add(new Written(rev, List.of(put(other, value), put("g/outside" + i, "z"))));
                    }
                    default -> {
                        String value = i + "-" + "v".repeat(100 + rnd.nextInt(200));
                        history.add(new Written(db.put(key, value), List.of(put(key, value))));
                    }
                }
            }
            assertThat(db.stats().segments()).as("segments").isGreaterThanOrEqualTo(5);
        }
        long mid = history.get(history.size() / 2).revision();
        try (Caskade db = Caskade.open(dir, options)) {
            EventLog all = new EventLog();
            EventLog tail = new EventLog();
            EventLog one = new EventLog();
            try (Watch w1 = db.watch("h/", 0, all);
                    Watch w2 = db.watch("h/", mid, tail);
                    Watch w3 = db.watch("h/1", 0, one)) {
                long last = db.revision();
                all.awaitRevision(expected(history, utf8("h/"), 0).getLast().revision(), WAIT);
                tail.awaitRevision(expected(history, utf8("h/"), mid).getLast().revision(), WAIT);
                // then live commits follow the history
                for (int i = 0; i < 10; i++) {
                    String key = "h/1" + i;
                    history.add(new Written(db.put(key, "live" + i), List.of(put(key, "live" + i))));
                }
                long end = db.revision();
                assertThat(end).isEqualTo(last + 10);
                all.awaitRevision(end, WAIT);
                tail.awaitRevision(end, WAIT);
                one.awaitRevision(end, WAIT);
                assertThat(w1.isOpen() && w2.isOpen() && w3.isOpen()).isTrue();
            }
            assertThat(delivered(all)).containsExactlyElementsOf(expected(history, utf8("h/"), 0));
            assertThat(delivered(tail)).containsExactlyElementsOf(expected(history, utf8("h/"), mid));
            assertThat(delivered(one)).containsExactlyElementsOf(expected(history, utf8("h/1"), 0));
            assertThat(all.violations()).isEmpty();
        }
        // and once more, with the live commits of the second run now history too
        try (Caskade db = Caskade.open(dir, options)) {
            EventLog again = new EventLog();
            try (Watch w = db.watch("", 0, again)) {
                again.awaitRevision(db.revision(), WAIT);
                // the resume point follows once the listener returned
                await().atMost(WAIT).until(() -> w.lastRevision() == db.revision());
            }
            assertThat(delivered(again)).containsExactlyElementsOf(expected(history, EMPTY, 0));
        }
    }
}
