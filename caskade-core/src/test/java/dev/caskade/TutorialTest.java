package dev.caskade;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The README's embedded example, run as written. */
class TutorialTest {
    @TempDir
    Path tmp;

    @Test
    void readmeExampleWorks() throws Exception {
        List<WatchEvent> seen = new CopyOnWriteArrayList<>();
        // --- README example starts
        try (Caskade db = Caskade.open(tmp.resolve("data"))) {
            long rev = db.put("user/1", "alice");
            db.put("session/9", "token", Duration.ofMinutes(30));
            Optional<Entry> e = db.get("user/1"); // Entry(key, value, revision, expiresAt)
            long rev2 = db.commit(Batch.create().put("user/2", "bob").delete("user/1")); // all or nothing
            boolean ok = db.compareAndSet("user/2", rev2, "bobby"); // optimistic update
            try (Stream<Entry> users = db.scan("user/")) {
                users.forEach(u -> System.out.println(u.keyString() + " = " + u.valueString()));
            }
            Watch w = db.watch("user/", 0, seen::add); // history from revision 0, then live
            // --- README example ends
            assertThat(rev).isEqualTo(1);
            assertThat(e).map(Entry::valueString).contains("alice");
            assertThat(rev2).isEqualTo(3);
            assertThat(ok).isTrue();
            assertThat(db.get("user/1")).isEmpty();
            assertThat(db.get("user/2")).map(Entry::valueString).contains("bobby");
            org.awaitility.Awaitility.await().until(() -> seen.size() >= 3);
            w.close();
        }
        assertThat(seen.get(0)).isInstanceOfSatisfying(WatchEvent.Commit.class, c -> {
            assertThat(c.revision()).isEqualTo(1);
            assertThat(c.changes()).extracting(Change::keyString).containsExactly("user/1");
        });
        assertThat(seen.get(1))
                .isInstanceOfSatisfying(
                        WatchEvent.Commit.class,
                        c -> assertThat(c.changes())
                                .extracting(Change::type)
                                .containsExactly(ChangeType.PUT, ChangeType.DELETE));
        assertThat(seen.get(2))
                .isInstanceOfSatisfying(
                        WatchEvent.Commit.class, c -> assertThat(c.revision()).isEqualTo(4));
        assertThat(seen.get(seen.size() - 1)).isInstanceOf(WatchEvent.End.class);
    }
}
