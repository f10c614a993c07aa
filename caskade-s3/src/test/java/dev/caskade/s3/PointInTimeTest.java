package dev.caskade.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.caskade.Batch;
import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.Digest;
import dev.caskade.Durability;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongPredicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Point-in-time restore picks exactly the right commit, by revision and by timestamp, across many log objects and
 * two snapshots: at every revision; at every commit's time, just before it and between two commits; with several
 * commits in one millisecond; before the first snapshot (a clear error) and after the last commit (the latest).
 *
 * <p>The store and the shipper run on a clock the test moves, so every commit time is known exactly.
 */
class PointInTimeTest {
    @TempDir
    Path tmp;

    private final List<AutoCloseable> closing = new ArrayList<>();
    private final AtomicInteger dirs = new AtomicInteger();

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : closing.reversed()) c.close();
    }

    private ObjectStore destination(String kind) {
        if (kind.equals("directory")) return DirectoryStore.open(tmp.resolve("dest"));
        S3ProxyFixture s3 = S3ProxyFixture.startInMemory();
        closing.add(s3);
        s3.createBucket("caskade-pit");
        return new GuardedStore(S3Store.open("caskade-pit", "pit", s3.options()), BreakerOptions.defaults());
    }

    @ParameterizedTest
    @ValueSource(strings = {"directory", "s3"})
    void restoreByRevisionAndByTimePicksExactlyTheRightCommit(String kind) {
        ShipperTest.ManualClock clock = new ShipperTest.ManualClock();
        ObjectStore dest = destination(kind);
        closing.add(dest);
        Caskade db = Caskade.open(
                tmp.resolve("src"),
                CaskadeOptions.defaults()
                        .withDurability(Durability.NONE)
                        .withClock(clock)
                        .withReapInterval(Duration.ZERO));
        closing.add(db);
        Shipper shipper = Shipper.live(
                db,
                dest,
                ShipOptions.defaults()
                        .withClock(clock)
                        .withSnapshotInterval(Duration.ofHours(1))
                        .withObjectBytes(1024, 1024));
        closing.add(shipper);
        Map<Long, Digest> digest = new TreeMap<>();
        Map<Long, Long> time = new TreeMap<>(); // revision -> commit time (epoch ms)

        // revisions 1-3, then the first snapshot (at 3)
        for (int i = 1; i <= 3; i++) commit(db, clock, 10, "a" + i, digest, time);
        assertThat(shipper.syncNow()).isTrue();
        // 4-20, shipped every few commits, values large enough to cut runs into several objects;
        // 8 and 9 share one millisecond
        for (int i = 4; i <= 20; i++) {
            commit(db, clock, i == 9 ? 0 : 10, "b" + i, digest, time);
            if (i % 4 == 0) assertThat(shipper.syncNow()).isTrue();
        }
        assertThat(shipper.syncNow()).isTrue();
        // an hour on: 21 is shipped and the second snapshot taken (at 21) in one tick
        clock.advance(Duration.ofHours(1));
        commit(db, clock, 10, "c21", digest, time);
        assertThat(shipper.syncNow()).isTrue();
        // 22-35; 30, 31 and 32 share one millisecond
        for (int i = 22; i <= 35; i++) {
            commit(db, clock, i == 31 || i == 32 ? 0 : 10, "d" + i, digest, time);
            if (i % 3 == 0) assertThat(shipper.syncNow()).isTrue();
        }
        assertThat(shipper.syncNow()).isTrue();
        assertThat(shipper.status().shippedRevision()).isEqualTo(35);

        Generation g = Generation.list(dest).getFirst();
        assertThat(g.snapshots()).extracting(Generation.SnapshotRef::revision).containsExactly(3L, 21L);
        assertThat(g.logs().size()).as("log objects").isGreaterThanOrEqualTo(10);
        assertThat(g.firstRevision()).isEqualTo(3);
        assertThat(g.lastRevision()).isEqualTo(35);
        for (long r = 1; r <= 35; r++) {
            assertThat(ShippingContract.commitTime(db, r))
                    .as("commit time of %d", r)
                    .isEqualTo(time.get(r));
        }

        // through S3 (slower), every third revision and the edges; from a directory, all of them
        Set<Long> edges = Set.of(3L, 4L, 8L, 9L, 10L, 20L, 21L, 22L, 30L, 31L, 32L, 33L, 35L);
        LongPredicate checked = r -> kind.equals("directory") || r % 3 == 0 || edges.contains(r);

        // by revision: every restorable one, from the right snapshot
        for (long r = 3; r <= 35; r++) {
            if (!checked.test(r)) continue;
            RestoreOptions o = RestoreOptions.latest().atRevision(r);
            assertThat(Restore.plan(dest, o).snapshot().revision())
                    .as("snapshot for revision %d", r)
                    .isEqualTo(r < 21 ? 3 : 21);
            assertThat(restore(dest, o)).as("revision %d", r).isEqualTo(digest.get(r));
        }
        for (long r : new long[] {0, 1, 2, 36}) {
            assertThatThrownBy(() -> restore(dest, RestoreOptions.latest().atRevision(r)))
                    .as("revision %d", r)
                    .isInstanceOf(RestoreException.class)
                    .hasMessageContaining("revision " + r + " is not restorable");
        }

        // by time: exactly at each commit, one ms before it, and between it and the next
        for (long r = 3; r <= 35; r++) {
            if (!checked.test(r)) continue;
            long t = time.get(r);
            expectAt(dest, t, lastAtOrBefore(time, t), digest);
            if (t - 1 >= time.get(3L)) expectAt(dest, t - 1, lastAtOrBefore(time, t - 1), digest);
            if (r < 35 && time.get(r + 1) - t >= 2) {
                long between = t + (time.get(r + 1) - t) / 2;
                assertThat(lastAtOrBefore(time, between)).isEqualTo(r);
                expectAt(dest, between, r, digest);
            }
        }
        assertThat(lastAtOrBefore(time, time.get(8L))).isEqualTo(9); // two commits in one ms: the later one
        assertThat(lastAtOrBefore(time, time.get(30L))).isEqualTo(32);
        // the second snapshot is the base from its commit's time on, not before
        assertThat(Restore.plan(dest, RestoreOptions.latest().atTime(Instant.ofEpochMilli(time.get(21L) - 1)))
                        .snapshot()
                        .revision())
                .isEqualTo(3);
        assertThat(Restore.plan(dest, RestoreOptions.latest().atTime(Instant.ofEpochMilli(time.get(21L))))
                        .snapshot()
                        .revision())
                .isEqualTo(21);
        // after the last commit: the latest
        expectAt(dest, time.get(35L) + 1, 35, digest);
        expectAt(dest, time.get(35L) + Duration.ofDays(365).toMillis(), 35, digest);
        // before the first snapshot: nothing to restore, and the error says from when on there is
        Instant early = Instant.ofEpochMilli(time.get(3L) - 1);
        assertThatThrownBy(() -> restore(dest, RestoreOptions.latest().atTime(early)))
                .isInstanceOf(RestoreException.class)
                .hasMessageContaining("nothing at " + dest.url() + " is as old as " + early)
                .hasMessageContaining("the earliest restorable time is " + Instant.ofEpochMilli(time.get(3L)));
        assertThatThrownBy(() -> restore(dest, RestoreOptions.latest().atTime(Instant.ofEpochMilli(time.get(1L)))))
                .isInstanceOf(RestoreException.class)
                .hasMessageContaining("earliest restorable time");
        // and the latest, with no target
        assertThat(restore(dest, RestoreOptions.latest())).isEqualTo(digest.get(35L));
    }

    /** Advances the clock by {@code step} ms, commits (puts, a delete, a batch in turn), records digest and time. */
    private static void commit(
            Caskade db,
            ShipperTest.ManualClock clock,
            long step,
            String tag,
            Map<Long, Digest> digest,
            Map<Long, Long> time) {
        clock.advance(Duration.ofMillis(step));
        long n = db.revision() + 1;
        String big = tag + "-" + "x".repeat(600); // about 600 bytes: a 1 KiB object holds one or two commits
        long rev = switch ((int) (n % 5)) {
            case 0 -> db.commit(Batch.create().put("k" + n % 7, big).put("j" + n, big));
            case 3 -> n > 5 ? db.delete("j" + (n - 3)) : db.put("k" + n % 7, big);
            default -> db.put("k" + n % 7, big);
        };
        assertThat(rev).as("commit %s", tag).isEqualTo(n);
        digest.put(rev, db.digest(new byte[0]));
        time.put(rev, clock.millis());
    }

    private static long lastAtOrBefore(Map<Long, Long> time, long t) {
        long best = -1;
        for (var e : time.entrySet()) if (e.getValue() <= t) best = Math.max(best, e.getKey());
        return best;
    }

    private void expectAt(ObjectStore dest, long t, long revision, Map<Long, Digest> digest) {
        Digest d = restore(dest, RestoreOptions.latest().atTime(Instant.ofEpochMilli(t)));
        assertThat(d.revision()).as("restore at %s", Instant.ofEpochMilli(t)).isEqualTo(revision);
        assertThat(d).as("restore at %s", Instant.ofEpochMilli(t)).isEqualTo(digest.get(revision));
    }

    private Digest restore(ObjectStore dest, RestoreOptions o) {
        Restore.Result r = Restore.run(dest, tmp.resolve("r" + dirs.incrementAndGet()), o, Restore.Progress.NONE);
        assertThat(r.restored()).isTrue();
        return r.digest();
    }
}
