package dev.caskade;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * File pins on a real store with small segments and no history retention: merge keeps every data segment with
 * history after a pin, until the pin moves (also from another process) or the bytes held pass the budget.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class PinTest {
    private static final long START = 1_700_000_000_000L;

    @TempDir
    Path dir;

    private final ManualClock clock = new ManualClock(START);

    private CaskadeOptions options() {
        return CaskadeOptions.defaults()
                .withDurability(Durability.NONE)
                .withSegmentBytes(4096)
                .withHistory(Duration.ZERO, 0)
                .withMerge(0.6, 512L << 20, 0, Duration.ZERO)
                .withReapInterval(Duration.ZERO)
                .withClock(clock);
    }

    /** Overwrites three keys with 600-byte values: about six commits per 4 KiB segment, most of them dead. */
    private static void write(Caskade db, int commits) {
        for (int i = 0; i < commits; i++) {
            long next = db.revision() + 1;
            db.put("k" + (next % 3), ("v" + next + "-").repeat(200).substring(0, 600));
        }
    }

    /** The revisions a watch from {@code from} replays, up to the store's revision. */
    private static List<Long> replay(Caskade db, long from) {
        EventLog log = new EventLog();
        try (Watch w = db.watch("", from, log)) {
            log.awaitRevision(db.revision(), Duration.ofSeconds(10));
            assertThat(w.isOpen()).isTrue();
        }
        assertThat(log.violations()).isEmpty();
        return log.commits().stream().map(WatchEvent.Commit::revision).toList();
    }

    private static List<Long> range(long fromExclusive, long toInclusive) {
        return LongStream.rangeClosed(fromExclusive + 1, toInclusive).boxed().toList();
    }

    @Test
    void mergeKeepsTheHistoryAfterAPinUntilItMoves() {
        try (Caskade db = Caskade.open(dir, options())) {
            write(db, 30);
            Pin pin = Pin.open(dir, "shipper");
            assertThat(pin.revision()).as("a new pin").isZero();
            pin.moveTo(10);
            write(db, 30);
            assertThat(db.merge()).as("segments before the pin are merged").isTrue();
            assertThat(db.compactedRevision()).isPositive().isLessThanOrEqualTo(10);
            assertThat(replay(db, 10))
                    .as("a watch from the pin sees every later commit")
                    .isEqualTo(range(10, 60));

            pin.moveTo(db.revision());
            assertThat(db.merge()).as("the moved pin lets merge go on").isTrue();
            assertThat(db.compactedRevision()).isGreaterThan(10);
            assertThatThrownBy(() -> db.watch("", 10, e -> {})).isInstanceOf(CompactedException.class);
            assertThat(db.stats().pinsDropped()).isZero();
        }
        // the pins directory is not part of the log: the store reopens and verifies clean, the pin is still there
        try (Caskade db = Caskade.open(dir, options())) {
            assertThat(db.verify().problems()).isEmpty();
            assertThat(db.recovery().clean()).isTrue();
        }
        assertThat(Pin.list(dir)).containsExactly(Map.entry("shipper", 60L));
    }

    @Test
    void aPinCreatedAndMovedByAnotherProcessIsReadAtEachMerge() throws Exception {
        try (Caskade db = Caskade.open(dir, options())) {
            write(db, 12);
            mover("ship", 5);
            write(db, 30);
            db.merge();
            assertThat(db.compactedRevision()).isLessThanOrEqualTo(5);
            assertThat(replay(db, 5)).isEqualTo(range(5, 42));

            mover("ship", 42);
            assertThat(db.merge()).isTrue();
            assertThat(db.compactedRevision()).isGreaterThan(5);
        }
    }

    /** Moves a pin from a child JVM, which holds no lock on the store (the store is open here). */
    private void mover(String name, long revision) throws Exception {
        try (ChildJvm child = ChildJvm.start(PinMover.class, List.of(dir.toString(), name, Long.toString(revision)))) {
            assertThat(child.awaitLine(l -> l.startsWith("MOVED"), Duration.ofSeconds(60)))
                    .as("child stderr: %s", child.stderr())
                    .hasValue("MOVED " + revision);
        }
    }

    @Test
    void pastTheBudgetMergeIgnoresTheOldestPinWarnsAndCountsIt() {
        List<String> warnings = new ArrayList<>();
        Logger jul = Logger.getLogger(Merge.class.getName());
        Handler capture = new Handler() {
            @Override
            public void publish(LogRecord r) {
                synchronized (warnings) {
                    warnings.add(r.getLevel() + " " + new SimpleFormatter().formatMessage(r));
                }
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        };
        jul.addHandler(capture);
        try (Caskade db = Caskade.open(dir, options().withPinBytes(3 * 4096))) {
            write(db, 2);
            Pin old = Pin.open(dir, "old");
            old.moveTo(2);
            write(db, 48);
            Pin recent = Pin.open(dir, "recent");
            recent.moveTo(45);
            write(db, 10);

            assertThat(db.merge()).isTrue();
            assertThat(db.stats().pinsDropped()).isEqualTo(1);
            assertThat(db.compactedRevision())
                    .as("past the old pin, not past the recent one")
                    .isGreaterThan(2)
                    .isLessThanOrEqualTo(45);
            assertThatThrownBy(() -> db.watch("", 2, e -> {})).isInstanceOf(CompactedException.class);
            assertThat(replay(db, 45)).isEqualTo(range(45, 60));
            assertThat(old.revision())
                    .as("the dropped pin's file stays for its owner to find")
                    .isEqualTo(2);
            synchronized (warnings) {
                assertThat(warnings)
                        .singleElement()
                        .asString()
                        .startsWith("WARNING")
                        .contains("file pin 'old' at revision 2", "more than the budget of " + 3 * 4096 + " bytes");
            }

            // a pin below the compaction point holds nothing and is not counted again
            recent.moveTo(db.revision());
            write(db, 20);
            assertThat(db.merge()).isTrue();
            assertThat(db.compactedRevision()).isGreaterThan(45);
            assertThat(db.stats().pinsDropped()).isEqualTo(1);
        } finally {
            jul.removeHandler(capture);
        }
    }

    @Test
    void withinTheBudgetNothingIsDropped() {
        try (Caskade db = Caskade.open(dir, options())) { // 1 GiB
            Pin.open(dir, "p").moveTo(1);
            write(db, 60);
            db.merge();
            assertThat(db.compactedRevision()).isLessThanOrEqualTo(1);
            assertThat(db.stats().pinsDropped()).isZero();
            assertThat(replay(db, 1)).isEqualTo(range(1, 60));
        }
    }

    @Test
    void namesListAndDelete() throws Exception {
        for (String bad : List.of("", ".", "..", "a/b", "a b", "x".repeat(101), "caf\u00e9", "a~1", "../x")) {
            assertThatThrownBy(() -> Pin.open(dir, bad))
                    .as("name '%s'", bad)
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("pin name");
        }
        assertThat(Pin.list(dir)).as("no pins directory yet").isEmpty();
        Pin a = Pin.open(dir, "s3-main_1.x");
        Pin b = Pin.open(dir, "B".repeat(100));
        a.moveTo(7);
        assertThat(Pin.open(dir, "s3-main_1.x").revision())
                .as("reopening keeps the revision")
                .isEqualTo(7);
        assertThat(Files.readString(dir.resolve("pins").resolve("s3-main_1.x"))).isEqualTo("7\n");
        Files.writeString(dir.resolve("pins").resolve("s3-main_1.x~999999999.1"), "3\n"); // a mover's temporary file
        assertThat(Pin.list(dir)).containsExactly(Map.entry("B".repeat(100), 0L), Map.entry("s3-main_1.x", 7L));
        assertThatThrownBy(() -> a.moveTo(-1)).isInstanceOf(IllegalArgumentException.class);

        b.delete();
        b.delete();
        assertThat(Pin.list(dir)).containsOnlyKeys("s3-main_1.x");
        assertThatThrownBy(b::revision).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> b.moveTo(1)).isInstanceOf(IllegalStateException.class);

        Files.writeString(dir.resolve("pins").resolve("garbled"), "not a number");
        assertThat(Pin.list(dir)).as("unreadable content holds the most").containsEntry("garbled", 0L);
    }

    @Test
    void pinBytesIsValidated() {
        assertThat(CaskadeOptions.defaults().pinBytes()).isEqualTo(1L << 30);
        assertThat(CaskadeOptions.defaults().withPinBytes(0).pinBytes()).isZero();
        assertThatThrownBy(() -> CaskadeOptions.defaults().withPinBytes(-1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("pinBytes");
    }
}
