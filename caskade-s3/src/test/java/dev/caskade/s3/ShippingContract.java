package dev.caskade.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.caskade.Batch;
import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.Digest;
import dev.caskade.Durability;
import dev.caskade.Snapshot;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Ships a store under a random load and restores it back, against one kind of destination: every recorded
 * revision, the latest state and points in time come back with the source's digest.
 */
abstract class ShippingContract {
    @TempDir
    Path tmp;

    final List<AutoCloseable> closing = new ArrayList<>();

    /** A fresh, empty destination. */
    abstract ObjectStore destination();

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : closing.reversed()) c.close();
    }

    static CaskadeOptions small() {
        return CaskadeOptions.defaults()
                .withSegmentBytes(64 * 1024)
                .withDurability(Durability.NONE)
                .withMerge(0.5, 1, 0, Duration.ZERO);
    }

    static ShipOptions fast() {
        return ShipOptions.defaults().withSyncInterval(Duration.ofMillis(50)).withObjectBytes(16 * 1024, 4096);
    }

    <T extends AutoCloseable> T closeLater(T c) {
        closing.add(c);
        return c;
    }

    @Test
    void everyRecordedRevisionRestoresToTheSourceDigest() {
        long seed = System.nanoTime();
        Random rnd = new Random(seed);
        ObjectStore dest = closeLater(destination());
        Caskade db = closeLater(Caskade.open(tmp.resolve("src"), small()));
        Shipper shipper = closeLater(Shipper.live(db, dest, fast()));
        assertThat(shipper.syncNow()).isTrue(); // the generation starts at revision 0: every later one is restorable
        shipper.start();
        Map<Long, Digest> recorded = new TreeMap<>();
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        for (int i = 0; i < 3000 && System.nanoTime() < deadline; i++) {
            String k = "k/" + rnd.nextInt(300);
            switch (rnd.nextInt(10)) {
                case 0 -> db.delete(k);
                case 1 ->
                    db.commit(Batch.create()
                            .put(k, "b" + i)
                            .put("k/" + rnd.nextInt(300), "c" + i)
                            .delete("k/" + rnd.nextInt(300)));
                case 2 -> db.put(k, "t" + i, Duration.ofHours(1));
                default -> db.put(k, "v" + i + "x".repeat(rnd.nextInt(200)));
            }
            if (rnd.nextInt(300) == 0) {
                try (Snapshot s = db.snapshot()) {
                    recorded.put(s.revision(), s.digest(new byte[0]));
                }
            }
        }
        Digest last;
        try (Snapshot s = db.snapshot()) {
            last = s.digest(new byte[0]);
        }
        recorded.put(last.revision(), last);
        assertThat(shipper.syncNow()).as("seed %d", seed).isTrue();
        assertThat(shipper.status().shippedRevision()).isEqualTo(db.revision());

        Restore.Result latest =
                Restore.run(dest, tmp.resolve("latest"), RestoreOptions.latest(), Restore.Progress.NONE);
        assertThat(latest.digest()).as("seed %d", seed).isEqualTo(last);
        int n = 0;
        for (var e : recorded.entrySet()) {
            Path to = tmp.resolve("r" + n++);
            Restore.Result r =
                    Restore.run(dest, to, RestoreOptions.latest().atRevision(e.getKey()), Restore.Progress.NONE);
            assertThat(r.digest()).as("revision %d seed %d", e.getKey(), seed).isEqualTo(e.getValue());
        }
        assertThat(Verifier.run(dest, (a, b, c, d) -> {}).problems()).isEmpty();
    }

    @Test
    void restoreByTimestampPicksTheLastCommitAtOrBeforeIt() throws Exception {
        ObjectStore dest = closeLater(destination());
        Caskade db = closeLater(Caskade.open(tmp.resolve("src"), small()));
        Shipper shipper = closeLater(Shipper.live(db, dest, fast()));
        List<long[]> commits = new ArrayList<>(); // revision, its timestamp
        for (int i = 0; i < 40; i++) {
            long rev = db.put("key" + (i % 7), "value" + i);
            commits.add(new long[] {rev, System.currentTimeMillis()});
            Thread.sleep(3);
            if (i % 10 == 0) shipper.syncNow();
        }
        assertThat(shipper.syncNow()).isTrue();
        // for a few commits, the instant just after it was made must restore exactly that revision
        for (int i : new int[] {0, 5, 17, 39}) {
            long rev = commits.get(i)[0];
            Digest expected;
            Path at = tmp.resolve("at" + i);
            Restore.Result byRev =
                    Restore.run(dest, at, RestoreOptions.latest().atRevision(rev), Restore.Progress.NONE);
            expected = byRev.digest();
            Instant t = Instant.ofEpochMilli(commitTime(db, rev));
            Restore.Result byTime = Restore.run(
                    dest, tmp.resolve("t" + i), RestoreOptions.latest().atTime(t), Restore.Progress.NONE);
            assertThat(byTime.digest().revision()).as("commit %d at %s", rev, t).isEqualTo(rev);
            assertThat(byTime.digest()).isEqualTo(expected);
        }
        assertThatThrownBy(() -> Restore.run(
                        dest,
                        tmp.resolve("early"),
                        RestoreOptions.latest().atTime(Instant.EPOCH),
                        Restore.Progress.NONE))
                .isInstanceOf(RestoreException.class)
                .hasMessageContaining("earliest restorable time");
    }

    /** The commit time of a revision, from the store's own change feed. */
    static long commitTime(Caskade db, long rev) {
        long[] ts = {-1};
        try (dev.caskade.LogTail t = dev.caskade.LogTail.open(db.directory())) {
            t.read(rev - 1, rev, 1, c -> ts[0] = c.timestamp());
        }
        return ts[0];
    }

    @Test
    void guardsAndDryRun() {
        ObjectStore dest = closeLater(destination());
        RestoreOptions guarded = RestoreOptions.latest().withGuards(true, true);
        Restore.Result none = Restore.run(dest, tmp.resolve("a"), guarded, Restore.Progress.NONE);
        assertThat(none.restored()).isFalse();
        assertThat(none.message()).contains("no backup");
        assertThatThrownBy(() -> Restore.run(dest, tmp.resolve("a"), RestoreOptions.latest(), Restore.Progress.NONE))
                .isInstanceOf(RestoreException.class)
                .hasMessageContaining("no backup");

        Caskade db = closeLater(Caskade.open(tmp.resolve("src"), small()));
        db.put("a", "1");
        try (Shipper s = Shipper.live(db, dest, fast())) {
            assertThat(s.syncNow()).isTrue();
        }
        Restore.Result dry =
                Restore.run(dest, tmp.resolve("b"), RestoreOptions.latest().withDryRun(true), Restore.Progress.NONE);
        assertThat(dry.restored()).isFalse();
        assertThat(dry.message()).contains("dry run");
        assertThat(tmp.resolve("b")).doesNotExist();

        assertThat(Restore.run(dest, tmp.resolve("b"), guarded, Restore.Progress.NONE)
                        .restored())
                .isTrue();
        Restore.Result again = Restore.run(dest, tmp.resolve("b"), guarded, Restore.Progress.NONE);
        assertThat(again.restored()).isFalse();
        assertThat(again.message()).contains("already exists");
        assertThatThrownBy(() -> Restore.run(dest, tmp.resolve("b"), RestoreOptions.latest(), Restore.Progress.NONE))
                .isInstanceOf(RestoreException.class)
                .hasMessageContaining("not empty");
    }

    @Test
    void aSecondWriterOnTheSameDestinationIsFenced() {
        ObjectStore dest = closeLater(destination());
        Caskade a = closeLater(Caskade.open(tmp.resolve("a"), small()));
        Caskade b = closeLater(Caskade.open(tmp.resolve("b"), small()));
        a.put("from", "a");
        b.put("from", "b");
        Shipper first = closeLater(Shipper.live(a, dest, fast()));
        Shipper second = closeLater(Shipper.live(b, dest, fast()));
        assertThat(first.syncNow()).isTrue();
        assertThat(second.syncNow()).isFalse();
        assertThat(second.status().state()).isEqualTo("fenced");
        assertThat(second.status().lastError()).contains("another writer");
        assertThat(Generation.list(dest)).hasSize(1);
        first.close(); // gives the lease up
        assertThat(second.syncNow()).isTrue();
        assertThat(Generation.list(dest)).hasSize(2);
    }

    @Test
    void aRestoredStoreShipsAsANewGenerationAndTheOldOneStaysRestorable() {
        ObjectStore dest = closeLater(destination());
        Digest before;
        String firstGen;
        try (Caskade db = Caskade.open(tmp.resolve("src"), small());
                Shipper s = Shipper.live(db, dest, fast())) {
            for (int i = 0; i < 50; i++) db.put("k" + i, "v" + i);
            assertThat(s.syncNow()).isTrue();
            before = db.digest(new byte[0]);
            firstGen = s.status().generation();
        }
        Restore.run(dest, tmp.resolve("copy"), RestoreOptions.latest(), Restore.Progress.NONE);
        try (Caskade db = Caskade.open(tmp.resolve("copy"), small());
                Shipper s = Shipper.live(db, dest, fast())) {
            db.put("after", "restore");
            assertThat(s.syncNow()).isTrue();
            assertThat(s.status().generation()).isNotEqualTo(firstGen);
        }
        List<Generation> gens = Generation.list(dest);
        assertThat(gens).hasSize(2);
        assertThat(gens.getLast().lineage().reason()).isEqualTo("new");
        Restore.Result old = Restore.run(
                dest, tmp.resolve("old"), RestoreOptions.latest().fromGeneration(firstGen), Restore.Progress.NONE);
        assertThat(old.digest()).isEqualTo(before);
        Restore.Result latest = Restore.run(dest, tmp.resolve("new"), RestoreOptions.latest(), Restore.Progress.NONE);
        assertThat(latest.digest().revision()).isEqualTo(before.revision() + 1);
    }

    @Test
    void aRestartResumesTheSameGenerationWithoutGapOrRepeat() {
        ObjectStore dest = closeLater(destination());
        Path dir = tmp.resolve("src");
        String gen;
        try (Caskade db = Caskade.open(dir, small());
                Shipper s = Shipper.live(db, dest, fast())) {
            for (int i = 0; i < 20; i++) db.put("k" + i, "v" + i);
            assertThat(s.syncNow()).isTrue();
            gen = s.status().generation();
        }
        try (Caskade db = Caskade.open(dir, small());
                Shipper s = Shipper.live(db, dest, fast())) {
            for (int i = 0; i < 20; i++) db.put("j" + i, "v" + i);
            assertThat(s.syncNow()).isTrue();
            assertThat(s.status().generation()).isEqualTo(gen);
            assertThat(Restore.run(dest, tmp.resolve("r"), RestoreOptions.latest(), Restore.Progress.NONE)
                            .digest())
                    .isEqualTo(db.digest(new byte[0]));
        }
        assertThat(Generation.list(dest)).hasSize(1);
        assertThat(Verifier.run(dest, (a, b, c, d) -> {}).ok()).isTrue();
    }

    @Test
    void aSidecarShipsADirectoryAnotherStoreIsWriting() throws Exception {
        ObjectStore dest = closeLater(destination());
        Path dir = tmp.resolve("src");
        Caskade db = closeLater(Caskade.open(dir, small()));
        db.put("before", "sidecar");
        Shipper side = closeLater(Shipper.sidecar(dir, dest, fast()).start());
        for (int i = 0; i < 500; i++) db.put("k" + (i % 50), "v" + i);
        Digest expected = db.digest(new byte[0]);
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (side.status().shippedRevision() < expected.revision() && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertThat(side.status().shippedRevision()).isEqualTo(expected.revision());
        assertThat(Restore.run(dest, tmp.resolve("r"), RestoreOptions.latest(), Restore.Progress.NONE)
                        .digest())
                .isEqualTo(expected);
        assertThat(Files.exists(dir.resolve("LOCK"))).isTrue();
    }
}
