package dev.caskade.s3;

import static org.assertj.core.api.Assertions.assertThat;

import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.Durability;
import java.nio.file.Path;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What {@link Verifier} calls a problem in the leftovers of a crash. */
class VerifierTest {
    @TempDir
    Path tmp;

    /** What a writer killed between its lineage record and its first snapshot leaves (seen in ShipCrashTest). */
    private static String abandonedGeneration(ObjectStore dest) {
        String id = Layout.newGenerationId(Instant.now());
        Lineage l = new Lineage(id, System.currentTimeMillis(), 7, null, 0, "new", "host:1", "/data");
        dest.put(Layout.lineage(id), l.toJson());
        return id;
    }

    @Test
    void aGenerationCutShortBeforeItsFirstSnapshotIsNotAProblemAndTheNextStartRemovesIt() {
        DirectoryStore dest = DirectoryStore.open(tmp.resolve("dest"));
        try (Caskade db =
                Caskade.open(tmp.resolve("src"), CaskadeOptions.defaults().withDurability(Durability.NONE))) {
            db.put("a", "1");
            try (Shipper s = Shipper.live(db, dest, ShipOptions.defaults())) {
                assertThat(s.syncNow()).isTrue();
            }
            String orphan = abandonedGeneration(dest);
            // this was "no snapshot (nothing in it is restorable)" before
            assertThat(Verifier.run(dest, (a, b, c, d) -> {}).problems()).isEmpty();
            assertThat(Generation.list(dest)).extracting(Generation::id).contains(orphan);
            db.put("b", "2");
            try (Shipper s = Shipper.live(db, dest, ShipOptions.defaults())) {
                assertThat(s.syncNow()).isTrue(); // its first retention pass
            }
            assertThat(Generation.list(dest)).extracting(Generation::id).doesNotContain(orphan);
            assertThat(Verifier.run(dest, (a, b, c, d) -> {}).problems()).isEmpty();
        }
    }

    @Test
    void aGenerationWithLogButNoSnapshotIsAProblem() {
        DirectoryStore dest = DirectoryStore.open(tmp.resolve("dest"));
        try (Caskade db =
                Caskade.open(tmp.resolve("src"), CaskadeOptions.defaults().withDurability(Durability.NONE))) {
            try (Shipper s = Shipper.live(db, dest, ShipOptions.defaults())) {
                assertThat(s.syncNow()).isTrue();
                db.put("a", "1");
                assertThat(s.syncNow()).isTrue();
            }
            Generation g = Generation.list(dest).getFirst();
            assertThat(g.logs()).isNotEmpty();
            dest.delete(g.snapshots().stream().map(Generation.SnapshotRef::name).toList());
            assertThat(Verifier.run(dest, (a, b, c, d) -> {}).problems())
                    .containsExactly(g.id() + ": no snapshot (nothing in it is restorable)");
        }
    }
}
