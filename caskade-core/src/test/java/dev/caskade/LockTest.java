package dev.caskade;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** One writer per store: a second open, in this process or another, fails and names the holder's pid. */
class LockTest {
    private static final long SELF = ProcessHandle.current().pid();

    @Test
    void secondOpenInTheSameProcessNamesThisProcess(@TempDir Path dir) throws Exception {
        try (Caskade db = Caskade.open(dir)) {
            long first = db.put("a", "1");
            assertThatThrownBy(() -> Caskade.open(dir).close())
                    .isInstanceOfSatisfying(
                            LockedException.class,
                            e -> assertThat(e.holderPid()).isEqualTo(SELF));
            assertThatThrownBy(() -> Caskade.open(dir, CaskadeOptions.repair()).close())
                    .as("repair mode does not bypass the lock")
                    .isInstanceOf(LockedException.class);

            // The refused opens must not have released our lock: closing any descriptor of a file drops all of
            // the process's POSIX locks on it. Another process must still be refused, naming us.
            assertThat(probe(dir)).isEqualTo("LOCKED " + SELF);
            assertThat(db.put("b", "2")).isGreaterThan(first);
            assertThat(db.get("a")).map(Entry::valueString).contains("1");
        }
        try (Caskade db = Caskade.open(dir)) {
            assertThat(db.get("b")).map(Entry::valueString).contains("2");
        }
    }

    @Test
    void anotherProcessHoldingTheStoreIsNamedAndItsDeathFreesIt(@TempDir Path dir) throws Exception {
        long holder;
        try (ChildJvm child = ChildJvm.start(LockHolder.class, List.of("hold", dir.toString()))) {
            holder = child.pid();
            String line = child.awaitLine(l -> l.startsWith("HOLDING") || l.startsWith("ERROR"), Duration.ofSeconds(60))
                    .orElseThrow(
                            () -> new AssertionError("the holder never opened the store; stderr:\n" + stderr(child)));
            assertThat(line).isEqualTo("HOLDING " + holder);

            for (int attempt = 0; attempt < 2; attempt++) {
                assertThatThrownBy(() -> Caskade.open(dir).close())
                        .as("open while process %d holds the store (attempt %d)", holder, attempt)
                        .isInstanceOfSatisfying(
                                LockedException.class,
                                e -> assertThat(e.holderPid()).isEqualTo(holder));
            }
            assertThat(child.kill()).as("exit status of SIGKILL").isEqualTo(ChildJvm.SIGKILL_EXIT);
        }
        // the LOCK file still names the dead holder, but the OS lock died with it
        try (Caskade db = Caskade.open(dir)) {
            assertThat(db.get("holder")).map(Entry::valueString).contains(Long.toString(holder));
            db.put("after", "x");
            assertThat(probe(dir)).isEqualTo("LOCKED " + SELF);
        }
    }

    @Test
    void lockFileNamingALiveProcessDoesNotBlockWhenNobodyHoldsTheLock(@TempDir Path dir) throws Exception {
        try (Caskade db = Caskade.open(dir)) {
            db.put("a", "1");
        }
        // pid 1 is alive, but it holds no OS lock on the file: only the OS lock counts
        Files.writeString(dir.resolve("LOCK"), "1\n", StandardCharsets.US_ASCII);
        try (Caskade db = Caskade.open(dir)) {
            assertThat(db.get("a")).map(Entry::valueString).contains("1");
            assertThatThrownBy(() -> Caskade.open(dir).close())
                    .isInstanceOfSatisfying(
                            LockedException.class,
                            e -> assertThat(e.holderPid()).isEqualTo(SELF));
        }
    }

    /** What a fresh process sees when it tries to open the store. */
    private static String probe(Path dir) throws Exception {
        try (ChildJvm child = ChildJvm.start(LockHolder.class, List.of("probe", dir.toString()))) {
            String line = child.awaitLine(
                            l -> l.startsWith("LOCKED") || l.startsWith("OPENED") || l.startsWith("ERROR"),
                            Duration.ofSeconds(60))
                    .orElseThrow(() -> new AssertionError("the probe said nothing; stderr:\n" + stderr(child)));
            assertThat(child.awaitExit(Duration.ofSeconds(30))).as("probe exit").contains(0);
            return line;
        }
    }

    private static String stderr(ChildJvm child) {
        try {
            child.kill();
            return child.stderr();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "(interrupted)";
        }
    }
}
