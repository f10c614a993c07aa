package dev.caskade.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.caskade.Batch;
import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(60)
class WatchCommandTest {

    @TempDir
    Path dir;

    /** A watch command running on its own thread; the store it holds open is {@link #db}. */
    private static final class Running implements AutoCloseable {
        final StringWriter out = new StringWriter();
        final StringWriter err = new StringWriter();
        final AtomicInteger code = new AtomicInteger(-1);
        final WatchCommand command;
        final Thread thread;
        final Caskade db;

        Running(String... args) throws Exception {
            var cli = Main.commandLine(new PrintWriter(out, true), new PrintWriter(err, true));
            command = cli.getSubcommands().get("watch").getCommand();
            CompletableFuture<Caskade> opened = new CompletableFuture<>();
            command.started = store -> opened.complete(((EmbeddedStore) store).db());
            thread = new Thread(
                    () -> {
                        code.set(cli.execute(args));
                        opened.completeExceptionally(new IllegalStateException("watch ended early: " + this));
                    },
                    "watch-command");
            thread.start();
            db = opened.get(20, TimeUnit.SECONDS);
        }

        List<String> lines(int atLeast) {
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> out.toString().lines().count() >= atLeast);
            return out.toString().lines().toList();
        }

        int stop() {
            command.stop();
            try {
                thread.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            assertThat(thread.isAlive())
                    .as("watch thread still running after stop: %s", this)
                    .isFalse();
            return code.get();
        }

        @Override
        public void close() {
            if (thread.isAlive()) stop();
        }

        @Override
        public String toString() {
            return "exit " + code + "\n--- stdout:\n" + out + "--- stderr:\n" + err;
        }
    }

    private String data() {
        return dir.resolve("store").toString();
    }

    @Test
    void printsLiveChangesUnderThePrefixUntilStopped() throws Exception {
        Files.createDirectories(Path.of(data()));
        try (Running watch = new Running("watch", "--data", data(), "user/")) {
            watch.db.put("user/1", "alice");
            watch.db.put("other", "x");
            watch.db.delete("user/1");
            watch.db.put("user/2", "bob smith");
            assertThat(watch.lines(3))
                    .as("%s", watch)
                    .containsExactly("1 PUT user/1 alice", "3 DELETE user/1", "4 PUT user/2 bob smith");
            assertThat(watch.stop()).as("%s", watch).isZero();
            assertThat(watch.err.toString()).isEmpty();
        }
        // the store was closed: it opens again
        assertThat(Invocation.run("get", "--data", data(), "user/2").out()).isEqualTo("bob smith\n");
    }

    @Test
    void replaysHistoryFromARevisionThenGoesLiveAsJson() throws Exception {
        try (Caskade db = Caskade.open(Files.createDirectories(Path.of(data())))) {
            db.put("a", "1");
            db.put("b", "2");
            db.put("c", "3");
        }
        try (Running watch = new Running("watch", "--data", data(), "--from", "1", "--json")) {
            watch.db.commit(Batch.create().put("d", "4").delete("a"));
            List<String> lines = watch.lines(3);
            assertThat(lines).as("%s", watch).hasSize(3);
            assertThat(lines.get(0))
                    .startsWith("{\"revision\":2,\"timestamp\":")
                    .endsWith(",\"changes\":[{\"type\":\"PUT\",\"key\":\"b\",\"value\":\"2\",\"expiresAt\":0}]}");
            assertThat(lines.get(1)).startsWith("{\"revision\":3,");
            assertThat(lines.get(2))
                    .startsWith("{\"revision\":4,")
                    .endsWith(",\"changes\":[{\"type\":\"PUT\",\"key\":\"d\",\"value\":\"4\",\"expiresAt\":0},"
                            + "{\"type\":\"DELETE\",\"key\":\"a\",\"expiresAt\":0}]}");
            assertThat(watch.stop()).as("%s", watch).isZero();
        }
    }

    @Test
    void countEndsTheWatchAfterNCommits() throws Exception {
        try (Caskade db = Caskade.open(Files.createDirectories(Path.of(data())))) {
            db.put("a", "1");
            db.commit(Batch.create().put("b", "2").put("c", "3"));
            db.put("d", "4");
        }
        Invocation r = Invocation.run("watch", "--data", data(), "--from", "0", "--count", "2");
        assertThat(r.code()).as("%s", r).isZero();
        assertThat(r.out()).isEqualTo("1 PUT a 1\n2 PUT b 2\n2 PUT c 3\n");
        Invocation bad = Invocation.run("watch", "--data", data(), "--count", "0");
        assertThat(bad.code()).as("%s", bad).isEqualTo(Main.USAGE);
    }

    @Test
    void compactedHistoryIsAOneLineError() throws Exception {
        CaskadeOptions compacting =
                CaskadeOptions.defaults().withSegmentBytes(4096).withHistory(Duration.ZERO, 0);
        long compacted;
        try (Caskade db = Caskade.open(Files.createDirectories(Path.of(data())), compacting)) {
            // keys that stay live in the sealed segments, so that the merge writes a merged segment
            for (int i = 0; i < 20; i++) db.put("stable" + i, "s" + i);
            for (int i = 0; i < 300; i++) db.put("k" + (i % 5), "v" + i + "x".repeat(50));
            assertThat(db.merge()).isTrue();
            compacted = db.compactedRevision();
        }
        assertThat(compacted).isPositive();
        // the watch must fail at once; should it run instead, it is interrupted (which stops it) after 20 s
        AtomicReference<Invocation> result = new AtomicReference<>();
        Thread thread = new Thread(() -> result.set(Invocation.run("watch", "--data", data(), "--from", "0")));
        thread.start();
        thread.join(20_000);
        boolean ranOn = thread.isAlive();
        if (ranOn) thread.interrupt();
        thread.join(10_000);
        Invocation r = result.get();
        assertThat(ranOn)
                .as("watch --from 0 below compactedRevision %d ran instead of failing: %s", compacted, r)
                .isFalse();
        assertThat(r.code()).as("%s", r).isEqualTo(1);
        assertThat(r.err().lines()).as("%s", r).hasSize(1);
        assertThat(r.err()).contains("compacted").contains("--from " + compacted);
    }
}
