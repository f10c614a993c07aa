package dev.caskade;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A batch that writes one key twice: its entries share one revision, and the later one wins, live and after every
 * way the store can be rebuilt from its files (hints, scans, merge, a read-only view).
 */
class SameKeyInOneBatchTest {
    private static final CaskadeOptions OPTIONS = CaskadeOptions.defaults()
            .withDurability(Durability.NONE)
            .withSegmentBytes(4096)
            .withHistory(Duration.ZERO, 0)
            .withMerge(0.6, 512L << 20, 0, Duration.ZERO);

    private static void write(Caskade db) {
        db.commit(Batch.create().put("twice", "1").put("twice", "2"));
        db.put("gone", "0");
        db.commit(Batch.create().put("gone", "1").delete("gone"));
        db.commit(Batch.create().delete("back").put("back", "3"));
        db.commit(Batch.create().put("thrice", "a").delete("thrice").put("thrice", "c"));
    }

    private static Map<String, Optional<String>> state(Caskade db) {
        Map<String, Optional<String>> m = new TreeMap<>();
        for (String k : new String[] {"twice", "gone", "back", "thrice"})
            m.put(k, db.get(k).map(Entry::valueString));
        return m;
    }

    private static final Map<String, Optional<String>> EXPECTED = Map.of(
            "twice", Optional.of("2"), "gone", Optional.empty(), "back", Optional.of("3"), "thrice", Optional.of("c"));

    @Test
    void theLaterEntryWinsLiveAndAfterReopenFromHintsAndFromScans(@TempDir Path dir) throws IOException {
        try (Caskade db = Caskade.open(dir, OPTIONS)) {
            write(db);
            assertThat(state(db)).as("live").isEqualTo(EXPECTED);
        }
        try (Caskade db = Caskade.open(dir, OPTIONS)) {
            assertThat(state(db)).as("reopened from hint files").isEqualTo(EXPECTED);
            assertThat(db.verify().problems()).isEmpty();
        }
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.filter(p -> p.toString().endsWith(".hint")).toList()) Files.delete(p);
        }
        try (Caskade db = Caskade.open(dir, OPTIONS)) {
            assertThat(state(db)).as("reopened from scans").isEqualTo(EXPECTED);
        }
        try (Caskade ro = Caskade.openReadOnly(dir)) {
            assertThat(state(ro)).as("read-only view").isEqualTo(EXPECTED);
        }
    }

    @Test
    void theLaterEntryWinsAfterMerge(@TempDir Path dir) {
        try (Caskade db = Caskade.open(dir, OPTIONS)) {
            write(db);
            for (int i = 0; i < 100; i++) db.put("filler/" + (i % 5), "x".repeat(200)); // seal the batches' segment
            assertThat(db.merge()).isTrue();
            assertThat(state(db)).as("after merge").isEqualTo(EXPECTED);
            assertThat(db.verify().problems()).isEmpty();
        }
        try (Caskade db = Caskade.open(dir, OPTIONS)) {
            assertThat(state(db)).as("reopened after merge").isEqualTo(EXPECTED);
            assertThat(db.verify().problems()).isEmpty();
        }
    }
}
