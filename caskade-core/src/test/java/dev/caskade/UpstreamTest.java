package dev.caskade;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A follower store ({@link CaskadeOptions#withUpstream}) hands every write to its primary and sees it once the
 * primary's commit is applied back; preconditions are decided at the primary, never locally.
 */
@Timeout(value = 1, unit = TimeUnit.MINUTES)
class UpstreamTest {
    @TempDir
    Path dir;

    private Caskade primary;
    private Caskade follower;
    private Watch feed;
    private final AtomicInteger calls = new AtomicInteger();

    /** The primary's feed applied to the follower, as a replica does; the upstream waits for its own commit. */
    @BeforeEach
    void open() {
        primary = Caskade.open(dir.resolve("primary"), CaskadeOptions.defaults().withDurability(Durability.NONE));
        Upstream upstream = (changes, expects) -> {
            calls.incrementAndGet();
            Batch b = Batch.create();
            for (Batch.Expect e : expects) b.expect(e.key(), e.revision());
            for (Change c : changes) {
                if (c.type() == ChangeType.PUT) {
                    if (c.expiresAt() == 0) b.put(c.key(), c.value());
                    else b.put(c.key(), c.value(), Duration.ofMillis(c.expiresAt() - System.currentTimeMillis()));
                } else {
                    b.delete(c.key());
                }
            }
            long rev;
            try {
                rev = changes.size() == 1 && changes.get(0).type() == ChangeType.DELETE && expects.isEmpty()
                        ? primary.delete(changes.get(0).key())
                        : primary.commit(b);
            } catch (ConflictException e) {
                return 0;
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (follower.revision() < rev) {
                if (System.nanoTime() > deadline) throw new UnavailableException("not applied: " + rev);
                Thread.onSpinWait();
            }
            return rev;
        };
        follower = Caskade.open(
                dir.resolve("follower"),
                CaskadeOptions.defaults()
                        .withDurability(Durability.NONE)
                        .withReapInterval(Duration.ZERO)
                        .withUpstream(upstream));
        feed = primary.watch("", 0, e -> {
            if (e instanceof WatchEvent.Commit c) follower.apply(c.revision(), c.timestamp(), c.changes());
        });
    }

    @AfterEach
    void close() {
        feed.close();
        follower.close();
        primary.close();
    }

    @Test
    void writesAreDecidedAtThePrimaryAndReadableHereWhenTheCallReturns() {
        long r1 = follower.put("a", "1");
        assertThat(primary.get("a")).map(Entry::valueString).contains("1");
        assertThat(follower.get("a")).map(Entry::revision).contains(r1);
        assertThat(follower.revision()).isEqualTo(primary.revision()).isEqualTo(r1);

        long r2 = follower.put("t", "x", Duration.ofHours(1));
        assertThat(follower.get("t").orElseThrow().expiresAt())
                .isEqualTo(primary.get("t").orElseThrow().expiresAt())
                .isPositive();
        assertThat(follower.delete("a")).isGreaterThan(r2);
        assertThat(follower.get("a")).isEmpty();
        assertThat(follower.delete("absent")).isZero();

        long r3 = follower.commit(Batch.create().put("b", "1").put("c", "2").delete("t"));
        assertThat(primary.get("c").orElseThrow().revision()).isEqualTo(r3);
        assertThat(follower.digest(new byte[0])).isEqualTo(primary.digest(new byte[0]));
    }

    @Test
    void preconditionsAreCheckedAtThePrimaryNotAgainstTheLocalCopy() {
        long rev = follower.put("k", "v1");
        feed.close(); // the follower no longer sees the primary's commits: its view of k goes stale
        primary.put("k", "v2");

        assertThat(follower.compareAndSet("k", rev, "mine")).isFalse();
        assertThatThrownBy(() -> follower.commit(Batch.create().expect("k", rev).put("k", "mine")))
                .isInstanceOf(ConflictException.class);
        assertThat(primary.get("k")).map(Entry::valueString).contains("v2");
        assertThat(follower.get("k")).map(Entry::valueString).contains("v1");
    }

    @Test
    void aCompareAndSetThatHoldsAtThePrimaryWins() {
        follower.put("k", "v1");
        long current = primary.put("k", "v2");
        assertThat(follower.compareAndSet("k", current, "v3")).isTrue();
        assertThat(follower.get("k")).map(Entry::valueString).contains("v3");
    }

    @Test
    void limitsFailHereWithoutARoundTripAndUpstreamRefusalsReachTheCaller() {
        assertThatThrownBy(() -> follower.put(new byte[0], new byte[1])).isInstanceOf(LimitException.class);
        assertThat(calls).hasValue(0);

        Caskade readOnly = Caskade.open(
                dir.resolve("read-only"),
                CaskadeOptions.defaults().withDurability(Durability.NONE).withUpstream((c, e) -> {
                    throw new ReadOnlyException("read-only follower");
                }));
        try {
            assertThatThrownBy(() -> readOnly.put("k", "v"))
                    .isInstanceOf(ReadOnlyException.class)
                    .hasMessageContaining("read-only");
            assertThat(readOnly.revision()).isZero();
            // the primary's feed still writes it
            readOnly.apply(7, 1, List.of(new Change(ChangeType.PUT, "k".getBytes(), "v".getBytes(), 0)));
            assertThat(readOnly.get("k")).map(Entry::revision).contains(7L);
        } finally {
            readOnly.close();
        }
    }

    @Test
    void theReaperHandsExpiredVersionsToTheUpstreamUntilItsExpiryArrives(@TempDir Path other) {
        ManualClock clock = new ManualClock(1_700_000_000_000L);
        List<List<Batch.Expect>> asked = new java.util.concurrent.CopyOnWriteArrayList<>();
        Upstream deciding = new Upstream() {
            @Override
            public long commit(List<Change> changes, List<Batch.Expect> expects) {
                throw new AssertionError("no writes here");
            }

            @Override
            public void expire(List<Batch.Expect> versions) {
                asked.add(versions);
            }
        };
        try (Caskade copy = Caskade.open(
                other,
                CaskadeOptions.defaults()
                        .withDurability(Durability.NONE)
                        .withReapInterval(Duration.ZERO)
                        .withClock(clock)
                        .withUpstream(deciding))) {
            long t = clock.millis();
            copy.apply(1, t, List.of(new Change(ChangeType.PUT, Batch.utf8("a"), Batch.utf8("1"), t + 100)));
            copy.apply(2, t, List.of(new Change(ChangeType.PUT, Batch.utf8("b"), Batch.utf8("2"), t + 100)));
            copy.apply(3, t, List.of(new Change(ChangeType.PUT, Batch.utf8("c"), Batch.utf8("3"), t + 10_000)));
            copy.reapExpired();
            assertThat(asked).as("nothing expired yet").isEmpty();

            clock.advance(200);
            // b is written again before anyone expired it: only a's version is due
            copy.apply(4, t, List.of(new Change(ChangeType.PUT, Batch.utf8("b"), Batch.utf8("again"), 0)));
            copy.reapExpired();
            assertThat(asked).hasSize(1);
            assertThat(asked.getFirst()).singleElement().satisfies(e -> {
                assertThat(new String(e.key(), java.nio.charset.StandardCharsets.UTF_8))
                        .isEqualTo("a");
                assertThat(e.revision()).isEqualTo(1);
            });
            assertThat(copy.revision()).as("the reaper wrote nothing itself").isEqualTo(4);

            // asked again on every pass until the upstream's EXPIRE is applied, then never again
            copy.reapExpired();
            assertThat(asked).hasSize(2);
            copy.apply(5, clock.millis(), List.of(new Change(ChangeType.EXPIRE, Batch.utf8("a"), new byte[0], 0)));
            copy.reapExpired();
            assertThat(asked).hasSize(2);
            assertThat(copy.get("a")).isEmpty();
            assertThat(copy.get("b").orElseThrow().valueString()).isEqualTo("again");
        }
    }
}
