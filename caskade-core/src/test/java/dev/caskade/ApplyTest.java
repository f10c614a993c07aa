package dev.caskade;

import static dev.caskade.Keys.show;
import static dev.caskade.Keys.utf8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link Caskade#apply}: a replica that applies its primary's change feed ends up with the primary's data, per-key
 * revisions and revision, also for a prefix replica that sees only some commits, and after reopening. Reproduce a
 * failure with the printed {@code -Dcaskade.apply.seed}.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class ApplyTest {
    private static final long SEED = Long.getLong("caskade.apply.seed", System.nanoTime());
    private static final int STEPS = Integer.getInteger("caskade.apply.steps", 1_500);
    private static final long T0 = 1_700_000_000_000L;
    private static final Duration WAIT = Duration.ofSeconds(20);
    private static final byte[] PREFIX = utf8("a/");

    @TempDir
    Path dir;

    private final ManualClock clock = new ManualClock(T0);

    /** No reaper (expiries come from the primary), small segments and no history, so merges really compact. */
    private CaskadeOptions options(Durability durability) {
        return CaskadeOptions.defaults()
                .withDurability(durability)
                .withReapInterval(Duration.ZERO)
                .withSegmentBytes(4096)
                .withHistory(Duration.ZERO, 0)
                .withMerge(0.1, 1, 0, Duration.ZERO)
                .withClock(clock);
    }

    private static List<Entry> list(Stream<Entry> s) {
        try (s) {
            return s.toList();
        }
    }

    private static Change put(String key, String value, long expiresAt) {
        return new Change(ChangeType.PUT, utf8(key), utf8(value), expiresAt);
    }

    private static Change tombstone(ChangeType type, String key) {
        return new Change(type, utf8(key), new byte[0], 0);
    }

    @Test
    void replicasFollowThePrimaryWithGapsAndTtls() throws Exception {
        System.out.println("ApplyTest: -Dcaskade.apply.seed=" + SEED + " steps " + STEPS);
        SplittableRandom rnd = new SplittableRandom(SEED);
        List<byte[]> keys = new ArrayList<>();
        for (String p : List.of("a/", "b/")) for (int i = 0; i < 6; i++) keys.add(utf8(p + i));
        CaskadeOptions opts = options(Durability.NONE);
        Path fullDir = dir.resolve("full");
        Path prefixDir = dir.resolve("prefix");
        BlockingQueue<WatchEvent.Commit> feed = new LinkedBlockingQueue<>();
        Caskade full = Caskade.open(fullDir, opts);
        Caskade prefix = Caskade.open(prefixDir, opts);
        try (Caskade primary = Caskade.open(dir.resolve("primary"), opts)) {
            Watch w = primary.watch(new byte[0], 0, e -> {
                if (e instanceof WatchEvent.Commit c) feed.add(c);
            });
            long seen = 0;
            long prefixRevision = 0;
            int gaps = 0;
            int merges = 0;
            for (int step = 0; step < STEPS; step++) {
                String at = "seed=" + SEED + " step=" + step;
                int dice = rnd.nextInt(100);
                if (dice < 65) {
                    Batch b = Batch.create();
                    for (int n = 1 + rnd.nextInt(3); n > 0; n--) {
                        byte[] k = keys.get(rnd.nextInt(keys.size()));
                        byte[] v = utf8("v" + step + "-" + rnd.nextInt(1000));
                        int op = rnd.nextInt(10);
                        if (op < 3) b.delete(k);
                        else if (op < 6) b.put(k, v, Duration.ofMillis(1 + rnd.nextInt(60)));
                        else b.put(k, v);
                    }
                    primary.commit(b);
                } else if (dice < 80) {
                    clock.advance(rnd.nextInt(25));
                } else if (dice < 92) {
                    primary.reapExpired();
                } else if (dice < 97) {
                    if (full.merge()) merges++;
                    if (prefix.merge()) merges++;
                } else {
                    full.close();
                    prefix.close();
                    full = Caskade.open(fullDir, opts);
                    prefix = Caskade.open(prefixDir, opts);
                }
                // apply what the primary committed: all of it to one replica, the changes under a/ to the other
                while (seen < primary.revision()) {
                    WatchEvent.Commit c = feed.poll(WAIT.toSeconds(), TimeUnit.SECONDS);
                    assertThat(c)
                            .as(at + ": the primary's watch delivered revision " + seen + "+1")
                            .isNotNull();
                    full.apply(c.revision(), c.timestamp(), c.changes());
                    List<Change> mine = c.changes().stream()
                            .filter(ch -> Keys.startsWith(ch.key(), PREFIX))
                            .toList();
                    if (!mine.isEmpty()) {
                        if (c.revision() > prefixRevision + 1) gaps++;
                        assertThat(prefix.apply(c.revision(), c.timestamp(), mine))
                                .isEqualTo(c.revision());
                        prefixRevision = c.revision();
                    }
                    seen = c.revision();
                }
                compare(at, primary, full, prefix, keys, prefixRevision);
            }
            full.close();
            prefix.close();
            full = Caskade.open(fullDir, opts);
            prefix = Caskade.open(prefixDir, opts);
            compare("seed=" + SEED + " reopened", primary, full, prefix, keys, prefixRevision);
            assertThat(gaps).as("the prefix replica saw gaps").isPositive();
            assertThat(merges).as("replica merges compacted").isPositive();
            for (Caskade db : List.of(primary, full, prefix)) {
                assertThat(db.verify().problems()).as("seed=" + SEED + " " + db).isEmpty();
            }
            w.close();
        } finally {
            full.close();
            prefix.close();
        }
    }

    private static void compare(String at, Caskade primary, Caskade full, Caskade prefix, List<byte[]> keys, long pr) {
        assertThat(full.revision()).as(at + ": full replica revision").isEqualTo(primary.revision());
        assertThat(prefix.revision()).as(at + ": prefix replica revision").isEqualTo(pr);
        for (byte[] k : keys) {
            // Entry equality covers value, revision and expiresAt
            assertThat(full.get(k)).as(at + ": full " + show(k)).isEqualTo(primary.get(k));
            if (Keys.startsWith(k, PREFIX)) {
                assertThat(prefix.get(k)).as(at + ": prefix " + show(k)).isEqualTo(primary.get(k));
            }
        }
        assertThat(list(full.scan(""))).as(at + ": full scan").isEqualTo(list(primary.scan("")));
        assertThat(list(prefix.scan(""))).as(at + ": prefix scan").isEqualTo(list(primary.scan(PREFIX)));
    }

    @Test
    void aWatchSeesAppliedCommitsWithThePrimarysRevisionsAndTimestamps() {
        List<WatchEvent.Commit> expected = List.of(
                new WatchEvent.Commit(5, T0 - 50, List.of(put("x", "1", T0 + 100_000), put("y", "2", 0))),
                new WatchEvent.Commit(
                        9, T0 - 40, List.of(tombstone(ChangeType.DELETE, "absent"), put("z", "3", T0 - 1))),
                new WatchEvent.Commit(12, T0 - 30, List.of(tombstone(ChangeType.EXPIRE, "x"))));
        try (Caskade db = Caskade.open(dir, options(Durability.SYNC))) {
            EventLog live = new EventLog();
            db.watch("", 0, live);
            for (WatchEvent.Commit c : expected) {
                assertThat(db.apply(c.revision(), c.timestamp(), c.changes())).isEqualTo(c.revision());
                assertThat(db.revision()).isEqualTo(c.revision());
            }
            live.awaitRevision(12, WAIT);
            assertThat(live.commits()).isEqualTo(expected);
            assertThat(live.violations()).isEmpty();
            assertThat(db.get("y")).hasValue(new Entry(utf8("y"), utf8("2"), 5, 0));
            assertThat(db.get("z"))
                    .as("applied already expired: invisible by the clock")
                    .isEmpty();
            assertThat(db.get("x")).isEmpty();
            assertThat(db.get("absent")).isEmpty();
        }
        try (Caskade db = Caskade.open(dir, options(Durability.SYNC))) {
            assertThat(db.revision())
                    .as("after reopen: the last applied revision")
                    .isEqualTo(12);
            EventLog history = new EventLog();
            db.watch("", 0, history);
            history.awaitRevision(12, WAIT);
            assertThat(history.commits()).as("history read back from the log").isEqualTo(expected);
            assertThat(list(db.scan(""))).containsExactly(new Entry(utf8("y"), utf8("2"), 5, 0));
            long next = db.put("w", "local");
            assertThat(next).as("a local commit follows the applied revision").isEqualTo(13);
            assertThat(db.verify().ok()).isTrue();
        }
    }

    @Test
    void badInputIsRejectedAndWritesNothing() {
        CaskadeOptions opts = options(Durability.NONE).withLimits(8, 16);
        try (Caskade db = Caskade.open(dir, opts)) {
            db.apply(10, T0, List.of(put("k", "v", 0)));
            EventLog watch = new EventLog();
            db.watch("", 10, watch);
            assertThatThrownBy(() -> db.apply(10, T0, List.of(put("k", "w", 0))))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("revision 10")
                    .hasMessageContaining("store's revision 10");
            assertThatThrownBy(() -> db.apply(7, T0, List.of(put("k", "w", 0))))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("7")
                    .hasMessageContaining("10");
            assertThatThrownBy(() -> db.apply(11, T0, List.of())).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> db.apply(11, -1, List.of(put("k", "w", 0))))
                    .isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> db.apply(11, T0, List.of(put("k", "w", -5))))
                    .isInstanceOf(IllegalArgumentException.class);
            // one bad change fails the whole commit
            assertThatThrownBy(() -> db.apply(11, T0, List.of(put("ok", "w", 0), put("far-too-long-key", "w", 0))))
                    .isInstanceOf(LimitException.class);
            assertThatThrownBy(() -> db.apply(11, T0, List.of(put("ok", "w", 0), put("", "w", 0))))
                    .isInstanceOf(LimitException.class);
            assertThatThrownBy(() -> db.apply(11, T0, List.of(put("ok", "a value over sixteen bytes", 0))))
                    .isInstanceOf(LimitException.class);
            assertThat(db.revision()).isEqualTo(10);
            assertThat(list(db.scan(""))).containsExactly(new Entry(utf8("k"), utf8("v"), 10, 0));

            try (Caskade view = Caskade.openReadOnly(dir, opts)) {
                assertThatThrownBy(() -> view.apply(11, T0, List.of(put("k", "w", 0))))
                        .isInstanceOf(IllegalStateException.class)
                        .hasMessageContaining("read-only");
            }
            assertThat(db.apply(11, T0, List.of(put("k", "w", 0))))
                    .as("a good commit still applies")
                    .isEqualTo(11);
            watch.awaitRevision(11, WAIT);
            assertThat(watch.commits()).extracting(WatchEvent.Commit::revision).containsExactly(11L);
        }
        Caskade closed = Caskade.open(dir, opts);
        closed.close();
        assertThatThrownBy(() -> closed.apply(12, T0, List.of(put("k", "x", 0))))
                .isInstanceOf(IllegalStateException.class);
        try (Caskade db = Caskade.open(dir, opts)) {
            assertThat(db.revision()).isEqualTo(11);
            assertThat(db.get("k")).hasValue(new Entry(utf8("k"), utf8("w"), 11, 0));
            assertThat(db.get("ok")).isEmpty();
        }
    }
}
