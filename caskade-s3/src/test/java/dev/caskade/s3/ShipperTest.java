package dev.caskade.s3;

import static org.assertj.core.api.Assertions.assertThat;

import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.Durability;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Shipper behaviour that needs a controlled clock or engine settings: retention, pins and their budget. */
class ShipperTest {
    @TempDir
    Path tmp;

    /** A clock the test moves by hand. */
    static final class ManualClock extends Clock {
        final AtomicLong millis = new AtomicLong(System.currentTimeMillis());

        @Override
        public ZoneOffset getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(java.time.ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return Instant.ofEpochMilli(millis.get());
        }

        void advance(Duration d) {
            millis.addAndGet(d.toMillis());
        }
    }

    @Test
    void retentionDeletesWholeExpiredObjectsAndKeepsASnapshot() {
        ManualClock clock = new ManualClock();
        ShipOptions o = ShipOptions.defaults()
                .withSnapshotInterval(Duration.ofMillis(1))
                .withRetention(Duration.ofHours(3), Duration.ofMillis(1))
                .withClock(clock);
        DirectoryStore dest = DirectoryStore.open(tmp.resolve("dest"));
        try (Caskade db = Caskade.open(
                        tmp.resolve("src"), CaskadeOptions.defaults().withDurability(Durability.NONE));
                Shipper s = Shipper.live(db, dest, o)) {
            for (int round = 0; round < 5; round++) {
                for (int i = 0; i < 10; i++) db.put("k" + i, "r" + round);
                clock.advance(Duration.ofSeconds(1));
                assertThat(s.syncNow()).isTrue();
            }
            Generation before = Generation.list(dest).getFirst();
            assertThat(before.snapshots()).hasSizeGreaterThan(1); // a snapshot per tick, all within retention
            long logsBefore = before.logs().size();
            assertThat(logsBefore).isPositive();

            // the objects (written now) are older than the cutoff once the clock is 4 h on
            clock.advance(Duration.ofHours(4));
            db.put("late", "1");
            assertThat(s.syncNow()).isTrue();
            Generation after = Generation.list(dest).getFirst();
            // the newest snapshot older than the cutoff stays (the base for restores back to it); older ones go
            assertThat(after.snapshots()).hasSizeLessThanOrEqualTo(2);
            long base = after.snapshots().getFirst().revision();
            assertThat(after.logs()).allSatisfy(l -> assertThat(l.to()).isGreaterThan(base));
            assertThat(Restore.run(dest, tmp.resolve("r"), RestoreOptions.latest(), Restore.Progress.NONE)
                            .digest())
                    .isEqualTo(db.digest(new byte[0]));
        }
    }

    @Test
    void aPinKeepsUnshippedLogThroughMergeWhileTheDestinationIsDown() throws Exception {
        Path dir = tmp.resolve("src");
        CaskadeOptions opts = CaskadeOptions.defaults()
                .withDurability(Durability.NONE)
                .withSegmentBytes(4096)
                .withHistory(Duration.ZERO, 0)
                .withMerge(0.01, 1, 0, Duration.ZERO);
        DirectoryStore dest = DirectoryStore.open(tmp.resolve("dest"));
        try (Caskade db = Caskade.open(dir, opts);
                Shipper s = Shipper.live(db, dest, ShipOptions.defaults())) {
            for (int i = 0; i < 100; i++) db.put("k" + (i % 10), "v" + i + "-".repeat(100));
            assertThat(s.syncNow()).isTrue();
            long shipped = s.status().shippedRevision();
            for (int i = 0; i < 200; i++) db.put("k" + (i % 10), "w" + i + "-".repeat(100));
            db.merge();
            // history after the shipped revision survived the merge: the next tick continues the generation
            assertThat(db.compactedRevision()).isLessThanOrEqualTo(shipped);
            String gen = s.status().generation();
            assertThat(s.syncNow()).isTrue();
            assertThat(s.status().generation()).isEqualTo(gen);
            assertThat(s.status().fallbacks()).isZero();
        }
    }

    @Test
    void pastThePinBudgetTheShipperFallsBackToAFreshSnapshot() {
        Path dir = tmp.resolve("src");
        CaskadeOptions opts = CaskadeOptions.defaults()
                .withDurability(Durability.NONE)
                .withSegmentBytes(4096)
                .withHistory(Duration.ZERO, 0)
                .withMerge(0.01, 1, 0, Duration.ZERO)
                .withPinBytes(8192);
        DirectoryStore dest = DirectoryStore.open(tmp.resolve("dest"));
        try (Caskade db = Caskade.open(dir, opts);
                Shipper s = Shipper.live(db, dest, ShipOptions.defaults())) {
            db.put("a", "1");
            assertThat(s.syncNow()).isTrue();
            String gen = s.status().generation();
            for (int i = 0; i < 300; i++) db.put("k" + (i % 10), "w" + i + "-".repeat(100));
            assertThat(db.merge()).isTrue();
            assertThat(db.stats().pinsDropped()).isPositive();
            assertThat(s.syncNow()).isTrue();
            assertThat(s.status().fallbacks()).isEqualTo(1);
            assertThat(s.status().generation()).isNotEqualTo(gen);
            assertThat(Generation.list(dest).getLast().lineage().reason()).startsWith("gap");
            assertThat(Restore.run(dest, tmp.resolve("r"), RestoreOptions.latest(), Restore.Progress.NONE)
                            .digest())
                    .isEqualTo(db.digest(new byte[0]));
        }
    }

    @Test
    void aRestartTakesOverTheLeaseItsKilledPredecessorLeftAndASecondShipperIsRefused() throws Exception {
        Path dir = tmp.resolve("src");
        DirectoryStore dest = DirectoryStore.open(tmp.resolve("dest"));
        try (Caskade db = Caskade.open(dir, CaskadeOptions.defaults().withDurability(Durability.NONE))) {
            db.put("a", "1");
            try (Shipper s = Shipper.live(db, dest, ShipOptions.defaults())) {
                assertThat(s.syncNow()).isTrue();
                assertThat(org.assertj.core.api.Assertions.catchThrowable(
                                () -> Shipper.live(db, dest, ShipOptions.defaults())))
                        .isInstanceOf(IllegalStateException.class)
                        .hasMessageContaining("already ships");
            }
            // what a shipper killed with SIGKILL leaves: a live lease of this directory, owned by a dead process
            byte[] lease = dest.get(Layout.LEASE).orElseThrow();
            Lease.Record released = Lineage.JSON.readValue(lease, Lease.Record.class);
            Lease.Record dead = new Lease.Record(
                    "dead-owner",
                    released.writer().replaceAll(":\\d+$", ":999999"),
                    released.source(),
                    released.epoch(),
                    System.currentTimeMillis() + 60_000);
            dest.put(Layout.LEASE, Lineage.JSON.writeValueAsBytes(dead));
            db.put("b", "2");
            try (Shipper s = Shipper.live(db, dest, ShipOptions.defaults())) {
                assertThat(s.syncNow()).as("takes over at once").isTrue();
                assertThat(s.status().shippedRevision()).isEqualTo(db.revision());
            }
            // a lease of another directory is respected
            Lease.Record other = new Lease.Record(
                    "other-owner", dead.writer(), "/somewhere/else", 9, System.currentTimeMillis() + 60_000);
            dest.put(Layout.LEASE, Lineage.JSON.writeValueAsBytes(other));
            try (Shipper s = Shipper.live(db, dest, ShipOptions.defaults())) {
                assertThat(s.syncNow()).isFalse();
                assertThat(s.status().state()).isEqualTo("fenced");
            }
        }
    }
}
