package dev.caskade;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DurabilityTest {
    @TempDir
    Path tmp;

    @Test
    void groupCommitGivesEveryWriterItsOwnRevision() throws Exception {
        Set<Long> revisions = ConcurrentHashMap.newKeySet();
        try (Caskade db = Caskade.open(tmp, CaskadeOptions.defaults().withSegmentBytes(64 << 10))) {
            ExecutorService pool = Executors.newFixedThreadPool(32);
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < 32; t++) {
                int id = t;
                done.add(pool.submit(() -> {
                    for (int i = 0; i < 50; i++) revisions.add(db.put("t" + id + "/" + i, "v" + i));
                }));
            }
            for (Future<?> f : done) f.get(60, TimeUnit.SECONDS);
            pool.shutdown();
            assertThat(revisions).hasSize(1600);
            assertThat(db.revision()).isEqualTo(1600);
        }
        try (Caskade db = Caskade.open(tmp)) {
            assertThat(db.revision()).isEqualTo(1600);
            assertThat(db.get("t31/49")).map(Entry::valueString).contains("v49");
            assertThat(db.verify().ok()).isTrue();
        }
    }

    @Test
    void failedFsyncIsFatalUntilReopen() {
        try (Caskade db = Caskade.open(tmp)) {
            db.put("before", "1");
            db.log.failNextSync(new IOException("injected: disk on fire"));
            assertThatThrownBy(() -> db.put("during", "2"))
                    .isInstanceOf(FatalException.class)
                    .hasMessageContaining("refuses writes")
                    .hasRootCauseMessage("injected: disk on fire");
            assertThatThrownBy(() -> db.put("after", "3")).isInstanceOf(FatalException.class);
            assertThatThrownBy(() -> db.delete("before")).isInstanceOf(FatalException.class);
            assertThat(db.get("before")).map(Entry::valueString).contains("1"); // reads still work
        }
        try (Caskade db = Caskade.open(tmp)) {
            assertThat(db.get("before")).map(Entry::valueString).contains("1");
            long rev = db.put("after", "3");
            assertThat(rev).isGreaterThan(1);
        }
    }

    @Test
    void commitsThatDoNotWaitShareFsyncsAndBecomeDurableInOrder() throws Exception {
        List<Long> revisions = new ArrayList<>();
        List<Long> seen = java.util.Collections.synchronizedList(new ArrayList<>());
        List<java.util.concurrent.CompletableFuture<Long>> durable = new ArrayList<>();
        try (Caskade db = Caskade.open(tmp)) {
            Watch w = db.watch("", 0, e -> {
                if (e instanceof WatchEvent.Commit c) seen.add(c.revision());
            });
            long fsyncsBefore = db.log.fsyncs;
            for (int i = 0; i < 2000; i++) {
                long rev = db.commitNoWait(Batch.create().put("k" + (i % 50), "v" + i));
                revisions.add(rev);
                // applied and visible at once, before any fsync
                assertThat(db.get("k" + (i % 50))).map(Entry::valueString).contains("v" + i);
                durable.add(db.whenDurable(rev));
            }
            for (int i = 0; i < durable.size(); i++) {
                assertThat(durable.get(i).get(10, TimeUnit.SECONDS)).isEqualTo(revisions.get(i));
            }
            assertThat(revisions).isSorted().doesNotHaveDuplicates();
            // one writer thread, yet far fewer fsyncs than commits: they were grouped
            assertThat(db.log.fsyncs - fsyncsBefore).isLessThan(500);
            assertThat(db.whenDurable(db.revision())).isCompletedWithValue(db.revision());
            assertThatThrownBy(() -> db.whenDurable(db.revision() + 1)).isInstanceOf(IllegalArgumentException.class);
            org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> seen.size() == 2000);
            assertThat(seen).containsExactlyElementsOf(revisions);
            w.close();
        }
        try (Caskade db = Caskade.open(tmp)) {
            assertThat(db.revision()).isEqualTo(2000);
            assertThat(db.get("k49")).map(Entry::valueString).contains("v1999");
        }
    }

    @Test
    void aFailedFsyncFailsEveryWaiterAndLaterWrites() throws Exception {
        try (Caskade db = Caskade.open(tmp)) {
            db.put("before", "1");
            db.log.failNextSync(new IOException("injected: disk on fire"));
            long rev = db.commitNoWait(Batch.create().put("during", "2"));
            var f = db.whenDurable(rev);
            assertThatThrownBy(() -> f.get(10, TimeUnit.SECONDS))
                    .hasCauseInstanceOf(FatalException.class)
                    .hasRootCauseMessage("injected: disk on fire");
            assertThatThrownBy(() -> db.commitNoWait(Batch.create().put("after", "3")))
                    .isInstanceOf(FatalException.class);
        }
    }

    @Test
    void intervalAndNoneModesPersistOnClose() {
        for (Durability d : List.of(Durability.NONE, Durability.interval(Duration.ofMillis(5)))) {
            Path dir = tmp.resolve(d.toString().replace(':', '-'));
            try (Caskade db = Caskade.open(dir, CaskadeOptions.defaults().withDurability(d))) {
                for (int i = 0; i < 100; i++) db.put("k" + i, "v" + i);
            }
            try (Caskade db = Caskade.open(dir)) {
                assertThat(db.revision()).isEqualTo(100);
                assertThat(db.get("k99")).map(Entry::valueString).contains("v99");
            }
        }
    }

    @Test
    void anInterruptedCallerDoesNotBreakTheStore() {
        try (Caskade db = Caskade.open(tmp, CaskadeOptions.defaults().withDurability(Durability.NONE))) {
            for (int i = 0; i < 200; i++) {
                Thread.currentThread().interrupt();
                db.put("k" + i, "v" + i);
                assertThat(Thread.interrupted()).as("interrupt flag kept").isTrue();
                Thread.currentThread().interrupt();
                assertThat(db.get("k" + i)).map(Entry::valueString).contains("v" + i);
                assertThat(Thread.interrupted()).isTrue();
            }
            assertThat(db.get("k0")).map(Entry::valueString).contains("v0");
        }
        try (Caskade db = Caskade.open(tmp)) {
            assertThat(db.revision()).isEqualTo(200);
            assertThat(db.verify().ok()).isTrue();
        }
    }

    @Test
    void durabilityParses() {
        assertThat(Durability.parse("sync")).isEqualTo(Durability.SYNC);
        assertThat(Durability.parse("none")).isEqualTo(Durability.NONE);
        assertThat(Durability.parse("interval:250")).isEqualTo(Durability.interval(Duration.ofMillis(250)));
        assertThatThrownBy(() -> Durability.parse("sometimes")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Durability.parse("interval:0")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> CaskadeOptions.defaults().withSegmentBytes(10))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("segmentBytes");
    }
}
