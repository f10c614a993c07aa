package dev.caskade;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The digest's definition, pinned by vectors computed outside Java, and its consistency at one revision. */
class DigestTest {
    private static final String EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    @Test
    void shaOfLengthPrefixedKeysAndValuesInKeyOrder(@TempDir Path dir) {
        ManualClock clock = new ManualClock(1_700_000_000_000L);
        CaskadeOptions o = CaskadeOptions.defaults()
                .withDurability(Durability.NONE)
                .withReapInterval(Duration.ZERO)
                .withClock(clock);
        try (Caskade db = Caskade.open(dir, o)) {
            assertThat(db.digest(new byte[0])).isEqualTo(new Digest(0, 0, EMPTY_SHA256));
            db.put(new byte[] {'b', '/', 0}, new byte[0]);
            db.put("a", "1");
            db.put("c", "expires", Duration.ofSeconds(1));
            db.put("gone", "x");
            db.delete("gone");
            clock.advance(1_000); // c is expired, not yet reaped: not live, so not in the digest
            // python3: sha256(b'\0\0\0\x01a\0\0\0\x011' + b'\0\0\0\x03b/\0' + b'\0\0\0\0').hexdigest()
            String both = "cb525b763ebb2ea6887a142d9a7bcd8459e45912f7858f6c94c102790e90ea60";
            try (Snapshot snap = db.snapshot()) {
                assertThat(snap.digest(new byte[0])).isEqualTo(new Digest(5, 2, both));
                db.put("a", "2"); // after the snapshot: invisible to it
                assertThat(snap.digest(new byte[0])).isEqualTo(new Digest(5, 2, both));
                assertThat(snap.digest(Keys.utf8("zz"))).isEqualTo(new Digest(5, 0, EMPTY_SHA256));
            }
            assertThat(db.digest(new byte[0]).revision()).isEqualTo(6);
            assertThat(db.digest(new byte[0]).sha256()).isNotEqualTo(both);
            db.put("a", "1");
            assertThat(db.digest(new byte[0]))
                    .as("same content, later revision")
                    .isEqualTo(new Digest(7, 2, both));
            assertThat(db.stats().snapshots()).as("digest closes its snapshot").isZero();
        }
    }
}
