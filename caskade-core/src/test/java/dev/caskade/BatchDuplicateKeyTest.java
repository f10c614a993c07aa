package dev.caskade;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A batch may put one key twice; the last put wins while the store is open, and must still win after a restart.
 * Open's merge of sorted runs keeps, among versions of a key with the same revision, the first by offset
 * (LogReader.Winners replaces only on a strictly higher revision), so the restart brings back the first put.
 */
class BatchDuplicateKeyTest {
    @Test
    void lastPutOfABatchWinsAfterRestart(@TempDir Path dir) {
        CaskadeOptions o = CaskadeOptions.defaults().withDurability(Durability.NONE);
        try (Caskade db = Caskade.open(dir, o)) {
            db.commit(Batch.create().put("k", "first").put("k", "second"));
            assertThat(db.get("k").orElseThrow().valueString()).isEqualTo("second");
        }
        try (Caskade db = Caskade.open(dir, o)) {
            assertThat(db.get("k").orElseThrow().valueString()).isEqualTo("second");
            assertThat(db.verify().problems()).isEmpty();
        }
    }
}
