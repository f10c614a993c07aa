package dev.caskade;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EngineSmokeTest {
    @TempDir
    Path tmp;

    private static CaskadeOptions small() {
        return CaskadeOptions.defaults()
                .withSegmentBytes(4096)
                .withHistory(Duration.ZERO, 0)
                .withMerge(0.6, 512L << 20, 0, Duration.ZERO);
    }

    @Test
    void survivesReopenRollAndMerge() {
        try (Caskade db = Caskade.open(tmp, small())) {
            for (int i = 0; i < 500; i++) db.put("k" + (i % 50), "v" + i);
            assertThat(db.stats().segments()).isGreaterThan(3);
            assertThat(db.verify().problems()).isEmpty();
        }
        try (Caskade db = Caskade.open(tmp, small())) {
            assertThat(db.revision()).isEqualTo(500);
            assertThat(db.get("k7")).map(Entry::valueString).contains("v457");
            assertThat(db.merge()).isTrue();
            assertThat(db.compactedRevision()).isGreaterThan(0);
            assertThat(db.get("k7")).map(Entry::valueString).contains("v457");
            assertThat(db.verify().problems()).isEmpty();
            try (Stream<Entry> s = db.scan("k")) {
                assertThat(s.count()).isEqualTo(50);
            }
            assertThat(db.put("x", "y")).isEqualTo(501);
        }
        try (Caskade db = Caskade.open(tmp, small())) {
            assertThat(db.revision()).isEqualTo(501);
            assertThat(db.get("k7")).map(Entry::valueString).contains("v457");
            assertThat(db.verify().problems()).isEmpty();
            assertThat(db.recovery().clean()).isTrue();
        }
    }

    @Test
    void snapshotScansPageAfterAKeyWithinThePrefix() {
        try (Caskade db = Caskade.open(tmp, small())) {
            for (String k : List.of("a", "p/1", "p/2", "p/2\0", "p/3", "q")) db.put(k, "v");
            try (Snapshot snap = db.snapshot()) {
                assertThat(keys(snap.scan(Keys.utf8("p/"), null))).containsExactly("p/1", "p/2", "p/2\0", "p/3");
                assertThat(keys(snap.scan(Keys.utf8("p/"), Keys.utf8("p/2")))).containsExactly("p/2\0", "p/3");
                assertThat(keys(snap.scan(Keys.utf8("p/"), Keys.utf8("a")))).hasSize(4); // before the prefix
                assertThat(keys(snap.scan(Keys.utf8("p/"), Keys.utf8("p/3")))).isEmpty();
            }
        }
    }

    private static List<String> keys(Stream<Entry> s) {
        try (s) {
            return s.map(Entry::keyString).toList();
        }
    }

    @Test
    void snapshotKeepsOldView() {
        try (Caskade db = Caskade.open(tmp, small())) {
            db.put("a", "1");
            db.put("b", "1");
            try (Snapshot s = db.snapshot()) {
                db.put("a", "2");
                db.delete("b");
                db.put("c", "3");
                assertThat(s.get("a")).map(Entry::valueString).contains("1");
                assertThat(s.get("b")).map(Entry::valueString).contains("1");
                assertThat(s.get("c")).isEmpty();
                try (Stream<Entry> st = s.scan("")) {
                    assertThat(st.map(Entry::keyString).toList()).isEqualTo(List.of("a", "b"));
                }
            }
            assertThat(db.get("b")).isEmpty();
        }
    }

    @Test
    void lockAndLimits() {
        try (Caskade db = Caskade.open(tmp, small().withLimits(8, 16))) {
            assertThatThrownBy(() -> Caskade.open(tmp))
                    .isInstanceOf(LockedException.class)
                    .hasMessageContaining(String.valueOf(ProcessHandle.current().pid()));
            assertThatThrownBy(() -> db.put("123456789", "v")).isInstanceOf(LimitException.class);
            assertThatThrownBy(() -> db.put("", "v")).isInstanceOf(LimitException.class);
            assertThat(db.revision()).isZero();
            assertThat(db.delete("nope")).isZero();
            assertThat(db.compareAndSet("k", 0, "v")).isTrue();
            assertThat(db.compareAndSet("k", 0, "v")).isFalse();
            assertThatThrownBy(() -> db.commit(Batch.create().expect("k", 5).put("z", "z")))
                    .isInstanceOf(ConflictException.class);
            assertThat(db.get("z")).isEmpty();
        }
    }
}
