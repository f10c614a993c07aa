package dev.caskade.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.Durability;
import dev.caskade.s3.BreakerOptions;
import dev.caskade.s3.DirectoryStore;
import dev.caskade.s3.RestoreException;
import dev.caskade.s3.S3Options;
import dev.caskade.s3.ShipOptions;
import dev.caskade.s3.Shipper;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link BackupBootstrap}, the source of {@code serve --bootstrap-from}: restores a destination's latest state and
 * answers its revision; a backup older than the node needs is answered from the listing, with nothing written.
 */
@Timeout(60)
class BackupBootstrapTest {
    @TempDir
    Path tmp;

    @Test
    void restoresTheLatestBackupOrAnswersATooOldRevisionWithoutWriting() throws Exception {
        Path dest = tmp.resolve("dest");
        try (Caskade db =
                Caskade.open(tmp.resolve("src"), CaskadeOptions.defaults().withDurability(Durability.NONE))) {
            try (Shipper s = Shipper.live(db, DirectoryStore.open(dest), ShipOptions.defaults())) {
                for (int i = 0; i < 20; i++) db.put("k" + i, "v" + i);
                assertThat(s.syncNow()).isTrue(); // a snapshot
                db.put("k3", "again");
                db.delete("k4");
                assertThat(s.syncNow()).isTrue(); // and a log object after it
            }
            BackupBootstrap backup =
                    new BackupBootstrap(dest.toString(), S3Options.defaults(), BreakerOptions.defaults());
            assertThat(backup.description()).isEqualTo(dest.toString());
            long revision = db.revision();

            Path tooOld = tmp.resolve("too-old");
            assertThat(backup.load(tooOld, revision + 1)).isEqualTo(revision);
            assertThat(Files.exists(tooOld)).as("nothing written").isFalse();

            Path fresh = tmp.resolve("fresh");
            assertThat(backup.load(fresh, revision)).isEqualTo(revision);
            try (Caskade restored = Caskade.open(fresh)) {
                assertThat(restored.revision()).isEqualTo(revision);
                assertThat(restored.digest(new byte[0])).isEqualTo(db.digest(new byte[0]));
            }
        }
        Path empty = tmp.resolve("empty");
        Files.createDirectories(empty);
        BackupBootstrap none = new BackupBootstrap(empty.toString(), S3Options.defaults(), BreakerOptions.defaults());
        assertThatThrownBy(() -> none.load(tmp.resolve("x"), 1))
                .isInstanceOf(RestoreException.class)
                .hasMessageContaining("no backup at");
        assertThatThrownBy(() -> new BackupBootstrap("ftp://x/y", S3Options.defaults(), BreakerOptions.defaults()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("bootstrap-from: unsupported destination scheme 'ftp'");
    }
}
