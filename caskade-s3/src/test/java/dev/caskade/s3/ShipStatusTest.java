package dev.caskade.s3;

import static org.assertj.core.api.Assertions.assertThat;

import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.Durability;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What a shipper reports once it has stopped. */
class ShipStatusTest {
    @TempDir
    Path tmp;

    @Test
    void aClosedShipperStillReportsItsStatus() {
        try (Caskade db =
                Caskade.open(tmp.resolve("src"), CaskadeOptions.defaults().withDurability(Durability.NONE))) {
            Shipper s = Shipper.live(db, DirectoryStore.open(tmp.resolve("dest")), ShipOptions.defaults());
            db.put("a", "1");
            assertThat(s.syncNow()).isTrue();
            db.put("b", "2");
            s.close(); // ships b in a last tick
            // this threw IllegalStateException (log tail is closed) before
            ShipStatus st = s.status();
            assertThat(st.state()).isEqualTo("stopped");
            assertThat(st.revision()).isEqualTo(2);
            assertThat(st.shippedRevision()).isEqualTo(2);
            assertThat(st.lagRevisions()).isZero();
        }
    }
}
