package dev.caskade;

import static dev.caskade.Keys.utf8;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Time-to-live with a manual clock. A background reaper may run at any moment, so the tests assert what is
 * visible and what the log holds, not which of the two reapers got there first.
 */
@Timeout(value = 1, unit = TimeUnit.MINUTES)
class TtlTest {
    private static final long T0 = 1_700_000_000_000L;
    private static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir
    Path dir;

    private final ManualClock clock = new ManualClock(T0);

    private CaskadeOptions options() {
        return CaskadeOptions.defaults()
                .withDurability(Durability.NONE)
                .withMerge(0.6, 512L << 20, 0, Duration.ZERO)
                .withClock(clock);
    }

    private static List<String> keys(Stream<Entry> s) {
        try (s) {
            return s.map(Entry::keyString).toList();
        }
    }

    @Test
    void expiredKeyIsInvisibleAtOnceEverywhere() {
        try (Caskade db = Caskade.open(dir, options())) {
            long r1 = db.put("t/a", "1", Duration.ofSeconds(10));
            db.put("t/b", "2");
            assertThat(db.get("t/a")).hasValue(new Entry(utf8("t/a"), utf8("1"), r1, T0 + 10_000));
            try (Snapshot before = db.snapshot()) {
                clock.advance(9_999);
                assertThat(db.get("t/a")).isPresent();
                assertThat(before.get("t/a")).isPresent();

                clock.advance(1); // now == expiresAt: gone
                assertThat(db.get("t/a")).isEmpty();
                assertThat(db.get(utf8("t/a"))).isEmpty();
                assertThat(keys(db.scan("t/"))).containsExactly("t/b");
                assertThat(keys(db.scan("t/a"))).isEmpty();
                assertThat(keys(db.range("t/", "t/z"))).containsExactly("t/b");
                assertThat(keys(db.range((byte[]) null, null))).containsExactly("t/b");
                // a snapshot taken before the expiry does not bring it back
                assertThat(before.get("t/a")).isEmpty();
                assertThat(keys(before.scan("t/"))).containsExactly("t/b");
                try (Snapshot after = db.snapshot()) {
                    assertThat(after.get("t/a")).isEmpty();
                    assertThat(keys(after.scan(""))).containsExactly("t/b");
                    assertThat(keys(after.range((byte[]) null, null))).containsExactly("t/b");
                }
            }
        }
    }

    @Test
    void reaperCommitsAnExpireWithItsOwnRevision() {
        try (Caskade db = Caskade.open(dir, options())) {
            long r1 = db.put("r/k", "v", Duration.ofSeconds(1));
            db.put("r/other", "w");
            long r2 = db.revision();
            assertThat(db.reapExpired()).as("nothing expired yet").isZero();
            assertThat(db.revision()).isEqualTo(r2);

            EventLog log = new EventLog();
            try (Watch w = db.watch("r/", r1, log)) {
                clock.advance(1_000);
                int reaped = db.reapExpired();
                assertThat(reaped)
                        .as("this pass or the background reaper took it")
                        .isBetween(0, 1);
                assertThat(db.revision()).as("exactly one expiry commit").isEqualTo(r2 + 1);
                assertThat(db.reapExpired()).as("a second pass finds nothing").isZero();
                assertThat(db.revision()).isEqualTo(r2 + 1);
                assertThat(db.stats().keys()).isEqualTo(1);
                log.awaitRevision(r2 + 1, WAIT);
                assertThat(w.isOpen()).isTrue();
            }
            List<WatchEvent.Commit> commits = log.commits();
            assertThat(commits).extracting(WatchEvent.Commit::revision).containsExactly(r2, r2 + 1);
            WatchEvent.Commit expiry = commits.get(1);
            assertThat(expiry.timestamp()).isEqualTo(T0 + 1_000);
            assertThat(expiry.changes()).singleElement().satisfies(c -> {
                assertThat(c.type()).isEqualTo(ChangeType.EXPIRE);
                assertThat(c.keyString()).isEqualTo("r/k");
                assertThat(c.value()).isEmpty();
            });
            assertThat(db.get("r/k")).isEmpty();
            assertThat(db.get("r/other")).isPresent();
        }
    }

    @Test
    void ttlSurvivesReopen() {
        long r1;
        try (Caskade db = Caskade.open(dir, options())) {
            r1 = db.put("p/k", "v", Duration.ofMinutes(1));
        }
        try (Caskade db = Caskade.open(dir, options())) {
            assertThat(db.get("p/k")).hasValue(new Entry(utf8("p/k"), utf8("v"), r1, T0 + 60_000));
            clock.advance(59_999);
            assertThat(db.get("p/k")).isPresent();
        }
        clock.advance(1); // expires while the store is closed
        try (Caskade db = Caskade.open(dir, options())) {
            assertThat(db.get("p/k")).isEmpty();
            assertThat(keys(db.scan(""))).isEmpty();
            db.reapExpired();
            assertThat(db.revision()).as("the expiry took a revision").isEqualTo(r1 + 1);
            assertThat(db.stats().keys()).isZero();
        }
        try (Caskade db = Caskade.open(dir, options())) {
            assertThat(db.get("p/k")).isEmpty();
            assertThat(db.revision()).isEqualTo(r1 + 1);
            assertThat(db.reapExpired())
                    .as("the expiry is not repeated after a reopen")
                    .isZero();
            assertThat(db.revision()).isEqualTo(r1 + 1);
        }
    }

    @Test
    void putWithoutTtlClearsTheTtl() {
        try (Caskade db = Caskade.open(dir, options())) {
            db.put("c/k", "short", Duration.ofSeconds(1));
            long r2 = db.put("c/k", "forever");
            db.commit(Batch.create().put("c/b", "short", Duration.ofSeconds(1)));
            long r4 = db.commit(Batch.create().put("c/b", "forever too"));
            assertThat(db.get("c/k")).hasValue(new Entry(utf8("c/k"), utf8("forever"), r2, 0));
            assertThat(db.get("c/b")).hasValue(new Entry(utf8("c/b"), utf8("forever too"), r4, 0));

            clock.advance(5_000);
            assertThat(db.reapExpired()).isZero();
            assertThat(db.revision()).as("nothing expired, nothing committed").isEqualTo(r4);
            assertThat(keys(db.scan("c/"))).containsExactly("c/b", "c/k");
        }
        try (Caskade db = Caskade.open(dir, options())) {
            assertThat(db.get("c/k").orElseThrow().expiresAt()).isZero();
        }
    }

    @Test
    void batchTtlAppliesPerPut() {
        try (Caskade db = Caskade.open(dir, options())) {
            long rev = db.commit(Batch.create()
                    .put("b/a", "5s", Duration.ofSeconds(5))
                    .put("b/b", "none")
                    .put(utf8("b/c"), utf8("10s"), Duration.ofSeconds(10)));
            assertThat(db.get("b/a")).hasValue(new Entry(utf8("b/a"), utf8("5s"), rev, T0 + 5_000));
            assertThat(db.get("b/b")).hasValue(new Entry(utf8("b/b"), utf8("none"), rev, 0));
            assertThat(db.get("b/c")).hasValue(new Entry(utf8("b/c"), utf8("10s"), rev, T0 + 10_000));

            EventLog log = new EventLog();
            try (Watch w = db.watch("b/", 0, log)) {
                clock.advance(5_000);
                assertThat(keys(db.scan("b/"))).containsExactly("b/b", "b/c");
                db.reapExpired();
                assertThat(db.revision()).isEqualTo(rev + 1);
                clock.advance(5_000);
                assertThat(keys(db.scan("b/"))).containsExactly("b/b");
                db.reapExpired();
                assertThat(db.revision()).isEqualTo(rev + 2);
                log.awaitRevision(rev + 2, WAIT);
                assertThat(w.isOpen()).isTrue();
            }
            List<WatchEvent.Commit> commits = log.commits();
            assertThat(commits).hasSize(3);
            assertThat(commits.get(0).changes())
                    .extracting(Change::type, Change::keyString, Change::expiresAt)
                    .containsExactly(
                            org.assertj.core.groups.Tuple.tuple(ChangeType.PUT, "b/a", T0 + 5_000),
                            org.assertj.core.groups.Tuple.tuple(ChangeType.PUT, "b/b", 0L),
                            org.assertj.core.groups.Tuple.tuple(ChangeType.PUT, "b/c", T0 + 10_000));
            assertThat(commits.get(1).changes())
                    .extracting(Change::type, Change::keyString)
                    .containsExactly(org.assertj.core.groups.Tuple.tuple(ChangeType.EXPIRE, "b/a"));
            assertThat(commits.get(2).changes())
                    .extracting(Change::type, Change::keyString)
                    .containsExactly(org.assertj.core.groups.Tuple.tuple(ChangeType.EXPIRE, "b/c"));
        }
    }

    /** A put over an expired key is a fresh value; the reaper must leave it alone. */
    @Test
    void reaperDoesNotDeleteAValueWrittenOverAnExpiredKey() {
        try (Caskade db = Caskade.open(dir, options())) {
            db.put("n/k", "old", Duration.ofSeconds(1));
            clock.advance(2_000);
            long r = db.put("n/k", "new");
            db.reapExpired();
            assertThat(db.get("n/k")).hasValue(new Entry(utf8("n/k"), utf8("new"), r, 0));
            assertThat(keys(db.scan("n/"))).containsExactly("n/k");
        }
        try (Caskade db = Caskade.open(dir, options())) {
            assertThat(db.get("n/k").map(Entry::valueString)).hasValue("new");
        }
    }

    /**
     * Invisible means absent for writes too: preconditions see revision 0, and a delete finds nothing to
     * delete (the reaper still records the expiry).
     */
    @Test
    void expiredKeyCountsAsAbsentForPreconditionsAndDeletes() {
        try (Caskade db = Caskade.open(dir, options())) {
            db.put("x/cas", "v", Duration.ofSeconds(1));
            db.put("x/batch", "v", Duration.ofSeconds(1));
            db.put("x/del", "v", Duration.ofSeconds(1));
            clock.advance(1_000);
            assertThat(db.delete("x/del")).as("delete of an expired key").isZero();
            assertThat(db.compareAndSet("x/cas", 0, "fresh"))
                    .as("compareAndSet expecting absent")
                    .isTrue();
            long r = db.commit(Batch.create().expect("x/batch", 0).put("x/batch", "fresh"));
            assertThat(db.get("x/batch")).hasValue(new Entry(utf8("x/batch"), utf8("fresh"), r, 0));
            assertThat(db.get("x/cas").map(Entry::valueString)).hasValue("fresh");
        }
    }
}
