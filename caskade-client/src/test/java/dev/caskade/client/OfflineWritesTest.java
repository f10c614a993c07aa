package dev.caskade.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.caskade.CaskadeOptions;
import dev.caskade.Durability;
import dev.caskade.Entry;
import dev.caskade.server.Users;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Offline writes of a {@link LocalReplica}: queued in a durable outbox while the server is away, kept across a
 * SIGKILL, sent in order and applied exactly once (idempotency keys) even when the process dies between the send and
 * the ack; a lost compare-and-set reaches the conflict callback; local echo; a torn outbox tail.
 */
@Timeout(60)
class OfflineWritesTest {
    static final Duration WAIT = Duration.ofSeconds(15);
    static final CaskadeOptions STORE = CaskadeOptions.defaults().withDurability(Durability.NONE);
    /** Quick retries, and a breaker that does not keep a replica away from a server that came back. */
    static final ReplicaOptions FAST = ReplicaOptions.defaults()
            .withBackoff(Duration.ofMillis(20), Duration.ofMillis(200))
            .withBreaker(10, 100f, 10, Duration.ofMillis(200), 1);

    @TempDir
    Path tmp;

    private static ClientOptions offline() {
        return ClientOptions.defaults().withOfflineWrites(true);
    }

    /** A port nothing listens on now, where a server can be started later (its directory made meanwhile). */
    private int freePort() {
        try (LocalServer s = new LocalServer(tmp.resolve("probe-" + System.nanoTime()))) {
            return s.http.port();
        }
    }

    private static void awaitDrained(LocalReplica replica) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (replica.status().pendingWrites() > 0 && System.nanoTime() < deadline) Thread.sleep(10);
        assertThat(replica.status().pendingWrites()).as("the outbox drained").isZero();
    }

    /** The {@code count} puts and the compare-and-set of {@link OfflineWritesChild}, each applied once, in order. */
    private static void assertAppliedOnceInOrder(LocalServer server, String prefix, int count) {
        for (int i = 1; i < count; i++) {
            Entry e = server.db.get(prefix + i).orElseThrow();
            assertThat(e.valueString()).isEqualTo("v" + i);
            assertThat(e.revision()).as("write %d is commit %d", i + 1, i + 1).isEqualTo(i + 1);
        }
        Entry first = server.db.get(prefix + 0).orElseThrow();
        assertThat(first.valueString())
                .as("the compare-and-set found the first put")
                .isEqualTo("cas");
        assertThat(first.revision()).isEqualTo(count + 1);
        assertThat(server.db.revision()).as("one commit per write, none twice").isEqualTo(count + 1);
    }

    @Test
    void writesQueuedWhileTheServerIsDownSurviveSigkillAndAreAppliedOnceInOrder() throws Exception {
        int port = freePort();
        Path dir = tmp.resolve("replica");
        int count = 20;
        try (ChildJvm child = offlineChild("http://127.0.0.1:" + port, dir, "o/", count, 0)) {
            assertThat(child.awaitLine("DONE", WAIT))
                    .as("queued; stderr:\n%s", child.stderr())
                    .isTrue();
            assertThat(child.kill()).isEqualTo(137);
        }
        try (LocalServer server = new LocalServer(tmp.resolve("server"), STORE, Users.NONE, port);
                CaskadeClient client = server.client(offline());
                LocalReplica replica = LocalReplica.open(client, "o/", dir, FAST)) {
            awaitDrained(replica);
            assertAppliedOnceInOrder(server, "o/", count);
            assertThat(replica.awaitRevision(count + 1, WAIT)).isTrue();
            assertThat(replica.get("o/0").orElseThrow().valueString()).isEqualTo("cas");
        }
    }

    @Test
    void aCrashBetweenTheSendAndTheAckStillAppliesTheWriteOnce() throws Exception {
        Path dir = tmp.resolve("replica");
        int count = 4; // and the compare-and-set: 5 writes; the child dies once the server answered the third
        try (LocalServer server = new LocalServer(tmp.resolve("server"), STORE, Users.NONE, 0)) {
            try (ChildJvm child = offlineChild(server.uri().toString(), dir, "h/", count, 3)) {
                assertThat(child.process().waitFor(WAIT.toMillis(), TimeUnit.MILLISECONDS))
                        .as("the child halts; stderr:\n%s", child.stderr())
                        .isTrue();
                assertThat(child.process().exitValue()).isEqualTo(137);
                assertThat(child.lines()).contains("DONE", "HALT 3");
            }
            assertThat(server.db.revision())
                    .as("three writes reached the server")
                    .isEqualTo(3);
            assertThat(java.nio.ByteBuffer.wrap(Files.readAllBytes(dir.resolve("outbox.ack")))
                            .getLong())
                    .as("the third was sent but not acked")
                    .isEqualTo(2);
            try (CaskadeClient client = server.client(offline());
                    LocalReplica replica = LocalReplica.open(client, "h/", dir, FAST)) {
                awaitDrained(replica);
                assertAppliedOnceInOrder(server, "h/", count);
            }
        }
    }

    @Test
    void aLostCompareAndSetReachesTheConflictCallbackAndDirectWritesFailFast() throws Exception {
        try (LocalServer server = new LocalServer(tmp.resolve("server"), STORE, Users.NONE, 0);
                CaskadeClient client = server.client(offline());
                LocalReplica replica = LocalReplica.open(client, "c/", tmp.resolve("replica"), FAST)) {
            long first = server.db.put("c/k", "a");
            long second = server.db.put("c/k", "b");
            List<Conflict> conflicts = new CopyOnWriteArrayList<>();
            CompletableFuture<Long> lost = replica.compareAndSet("c/k", first, "mine");
            assertThat(lost.get(WAIT.toSeconds(), TimeUnit.SECONDS)).isZero();
            replica.onConflict(conflicts::add); // registered late: the conflict was held for it
            assertThat(conflicts).hasSize(1);
            Conflict c = conflicts.getFirst();
            assertThat(c.write().kind()).isEqualTo(OfflineWrite.Kind.COMPARE_AND_SET);
            assertThat(c.write().valueString()).isEqualTo("mine");
            assertThat(c.expectedRevision()).isEqualTo(first);
            assertThat(c.actualRevision()).isEqualTo(second);
            assertThat(server.db.get("c/k").orElseThrow().valueString()).isEqualTo("b");

            long won = replica.compareAndSet("c/k", second, "mine").get(WAIT.toSeconds(), TimeUnit.SECONDS);
            assertThat(won).isEqualTo(server.db.revision());
            assertThat(replica.compareAndSet("c/new", 0, "x").get(WAIT.toSeconds(), TimeUnit.SECONDS))
                    .isPositive();
            assertThat(conflicts).hasSize(1);
        }
        // without offline writes: sent at once, a lost one reported the same way, an absent server throws at once
        int port;
        try (LocalServer server = new LocalServer(tmp.resolve("server2"), STORE, Users.NONE, 0);
                CaskadeClient client = server.client();
                LocalReplica replica = LocalReplica.open(client, "d/", tmp.resolve("direct"), FAST)) {
            port = server.http.port();
            List<Conflict> conflicts = new CopyOnWriteArrayList<>();
            replica.onConflict(conflicts::add);
            long rev = replica.put("d/k", "1").join();
            assertThat(rev).isEqualTo(server.db.revision());
            assertThat(replica.compareAndSet("d/k", rev + 10, "2").join()).isZero();
            assertThat(conflicts)
                    .singleElement()
                    .satisfies(x -> assertThat(x.actualRevision()).isEqualTo(rev));
            assertThat(replica.status().pendingWrites()).isZero();
            assertThat(Files.exists(tmp.resolve("direct").resolve("outbox"))).isFalse();
        }
        try (CaskadeClient client = CaskadeClient.connect(
                        java.net.URI.create("http://127.0.0.1:" + port), ClientOptions.defaults());
                LocalReplica replica = LocalReplica.open(client, "d/", tmp.resolve("direct"), FAST)) {
            long start = System.nanoTime();
            assertThatThrownBy(() -> replica.put("d/k", "3"))
                    .isInstanceOf(ClientException.class)
                    .satisfies(e -> assertThat(((ClientException) e).status()).isZero());
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(5));
        }
    }

    @Test
    void localEchoShowsQueuedWritesAtOnceUntilTheServersCommitIsApplied() throws Exception {
        Path serverDir = tmp.resolve("server");
        Path dir = tmp.resolve("replica");
        ClientOptions echo = offline().withLocalEcho(true);
        int port;
        CompletableFuture<Long> put;
        CompletableFuture<Long> delete;
        CompletableFuture<Long> added;
        CompletableFuture<Long> outside;
        try (LocalServer first = new LocalServer(serverDir, STORE, Users.NONE, 0)) {
            port = first.http.port();
        }
        LocalServer server = new LocalServer(serverDir, STORE, Users.NONE, port);
        try (CaskadeClient client = server.client(echo);
                LocalReplica replica = LocalReplica.open(client, "e/", dir, FAST)) {
            server.db.put("e/a", "old");
            long bootstrapped = server.db.put("e/b", "doomed");
            assertThat(replica.awaitRevision(bootstrapped, WAIT)).isTrue();
            server.close(); // the server goes away

            put = replica.put("e/a", "new");
            delete = replica.delete("e/b");
            added = replica.put("e/c", "added", Duration.ofSeconds(3600));
            outside = replica.put("x/out", "o");
            assertThat(replica.get("e/a").orElseThrow())
                    .satisfies(e -> assertThat(e.valueString()).isEqualTo("new"))
                    .satisfies(e ->
                            assertThat(e.revision()).as("not committed yet").isZero());
            assertThat(replica.get("e/b")).as("a queued delete hides the key").isEmpty();
            assertThat(replica.get("e/c").orElseThrow().expiresAt()).isPositive();
            try (Stream<Entry> s = replica.scan("e/")) {
                assertThat(s.map(e -> e.keyString() + "=" + e.valueString())).containsExactly("e/a=new", "e/c=added");
            }
            assertThat(replica.revision())
                    .as("the store's revision stays the server's")
                    .isEqualTo(bootstrapped);
            assertThat(replica.status().pendingWrites()).isEqualTo(4);
            assertThat(put).isNotDone();

            server = new LocalServer(serverDir, STORE, Users.NONE, port); // back
            long last = outside.get(WAIT.toSeconds(), TimeUnit.SECONDS);
            assertThat(List.of(put.join(), delete.join(), added.join(), last)).isSorted();
            assertThat(replica.awaitRevision(added.join(), WAIT)).isTrue();
            Entry a = replica.get("e/a").orElseThrow();
            assertThat(a.valueString()).isEqualTo("new");
            assertThat(a.revision()).as("now the server's commit").isEqualTo(put.join());
            assertThat(replica.get("e/b")).isEmpty();
            assertThat(replica.get("e/c").orElseThrow().revision()).isEqualTo(added.join());
            assertThat(replica.get("x/out"))
                    .as("outside the prefix: shown only until the server answered")
                    .isEmpty();
            assertThat(server.db.get("x/out").orElseThrow().valueString()).isEqualTo("o");
            assertThat(replica.status().pendingWrites()).isZero();
            assertThat(server.db.revision()).isEqualTo(bootstrapped + 4);
        } finally {
            server.close();
        }
    }

    @Test
    void aTornTailOfTheOutboxIsDroppedOnReopen() throws Exception {
        int port = freePort();
        Path dir = tmp.resolve("replica");
        try (CaskadeClient client = CaskadeClient.connect(java.net.URI.create("http://127.0.0.1:" + port), offline());
                LocalReplica replica = LocalReplica.open(client, "t/", dir, FAST)) {
            for (int i = 0; i < 3; i++) replica.put("t/" + i, "v" + i);
            assertThat(replica.status().pendingWrites()).isEqualTo(3);
        }
        Path outbox = dir.resolve("outbox");
        long size = Files.size(outbox);
        try (FileChannel ch = FileChannel.open(outbox, StandardOpenOption.WRITE)) {
            ch.truncate(size - 3); // the last record, cut short as by a crash in the middle of its write
        }
        try (LocalServer server = new LocalServer(tmp.resolve("server"), STORE, Users.NONE, port);
                CaskadeClient client = server.client(offline())) {
            try (LocalReplica replica = LocalReplica.open(client, "t/", dir, FAST)) {
                awaitDrained(replica);
                assertThat(server.db.revision()).isEqualTo(2);
                assertThat(server.db.get("t/1").orElseThrow().valueString()).isEqualTo("v1");
                assertThat(server.db.get("t/2")).isEmpty();
                // sequences go on after the ack: the next write is new to the server, not a replay
                assertThat(replica.put("t/3", "v3").get(WAIT.toSeconds(), TimeUnit.SECONDS))
                        .isEqualTo(3);
            }
            assertThat(Files.size(outbox)).as("truncated once drained").isZero();
            // damage in the middle, with records after it, is not a torn tail: refused, nothing dropped
            try (LocalReplica replica = LocalReplica.open(client, "t/", dir, FAST)) {
                server.http.close(); // keep the next writes queued
                for (int i = 0; i < 3; i++) replica.put("t/m" + i, "v" + i);
            }
            byte[] bytes = Files.readAllBytes(outbox);
            bytes[12] ^= 1;
            Files.write(outbox, bytes);
            assertThatThrownBy(() -> LocalReplica.open(client, "t/", dir, FAST))
                    .hasMessageContaining("not a torn tail");
        }
    }

    /** {@link OfflineWritesChild} in its own JVM. */
    private static ChildJvm offlineChild(String uri, Path dir, String prefix, int count, long halt) throws IOException {
        return ChildJvm.start(
                OfflineWritesChild.class,
                dir,
                uri,
                dir.toString(),
                prefix,
                Integer.toString(count),
                Long.toString(halt));
    }
}
