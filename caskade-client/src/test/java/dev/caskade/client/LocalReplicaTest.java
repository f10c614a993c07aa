package dev.caskade.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.Digest;
import dev.caskade.Durability;
import dev.caskade.Entry;
import dev.caskade.ReadOnlyException;
import dev.caskade.WatchEvent;
import dev.caskade.server.Users;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A local replica against a real server: bootstrap under load, resume, reconnect, re-snapshot after compaction. */
class LocalReplicaTest {
    static final Duration WAIT = Duration.ofSeconds(15);

    @TempDir
    Path tmp;

    /** The server's digest of a prefix and the replica's, compared on keys and content (revisions count differently). */
    static void assertSameContent(Digest server, Digest replica) {
        assertThat(replica.keys()).isEqualTo(server.keys());
        assertThat(replica.sha256()).isEqualTo(server.sha256());
    }

    @Test
    void bootstrapsUnderLoadThenFollowsLiveWithoutLossOrRepeat() throws Exception {
        long seed = System.nanoTime();
        Random rnd = new Random(seed);
        try (LocalServer server = new LocalServer(tmp.resolve("server"));
                CaskadeClient client = server.client()) {
            for (int i = 0; i < 50; i++) client.put("a/" + i, "v" + i);
            client.put("b/outside", "x");
            List<Long> applied = new CopyOnWriteArrayList<>();
            AtomicInteger resets = new AtomicInteger();
            long last = 0;
            try (LocalReplica replica = client.replicate("a/", tmp.resolve("replica"))) {
                replica.onChange(new LocalReplica.Listener() {
                    @Override
                    public void commit(WatchEvent.Commit c) {
                        applied.add(c.revision());
                    }

                    @Override
                    public void reset(long revision) {
                        resets.incrementAndGet();
                    }
                });
                for (int i = 0; i < 300; i++) {
                    String k = "a/" + rnd.nextInt(80);
                    last = rnd.nextInt(5) == 0 ? Math.max(last, client.delete(k)) : client.put(k, "w" + i);
                    if (i % 50 == 0) client.put("b/" + i, "ignored");
                }
                assertThat(replica.awaitRevision(last, WAIT))
                        .as("seed %d", seed)
                        .isTrue();
                assertSameContent(client.digest("a/"), replica.digest());
                assertThat(replica.get("b/outside")).isEmpty();
                assertThat(applied).as("in order, each once").isSorted().doesNotHaveDuplicates();
                assertThat(resets.get()).isEqualTo(1);
                assertThat(replica.status().state()).isEqualTo("live");
            }
        }
    }

    /** The replica's store forwards its writes to the server and answers once they are applied locally. */
    @Test
    void writesToTheStoreAreDecidedByTheServerAndReadableLocallyOnReturn() throws Exception {
        try (LocalServer server = new LocalServer(tmp.resolve("server"));
                CaskadeClient client = server.client();
                LocalReplica replica = client.replicate("a/", tmp.resolve("replica"))) {
            assertThat(replica.awaitRevision(0, WAIT)).isTrue();
            await().atMost(WAIT).until(() -> replica.store() != null);
            Caskade store = replica.store();
            for (int i = 0; i < 50; i++) {
                long rev = store.put("a/" + i, "v" + i);
                assertThat(replica.get("a/" + i)).map(Entry::revision).contains(rev);
            }
            long rev = client.put("a/0", "elsewhere");
            assertThat(store.compareAndSet("a/0", rev - 1, "stale")).isFalse();
            assertThat(replica.awaitRevision(rev, WAIT)).isTrue();
            assertThat(store.compareAndSet("a/0", rev, "mine")).isTrue();
            assertThat(server.db.get("a/0")).map(Entry::valueString).contains("mine");
            assertThat(store.delete("a/1")).isPositive();
            assertThat(replica.get("a/1")).isEmpty();
            assertThat(store.delete("a/absent")).isZero();
            assertThatThrownBy(() -> store.put("b/1", "x"))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("outside the prefix");
            assertThat(server.db.get("b/1")).isEmpty();
        }
        try (LocalServer server = new LocalServer(tmp.resolve("server2"));
                CaskadeClient client = server.client();
                LocalReplica replica = client.replicate(
                        "", tmp.resolve("read-only"), ReplicaOptions.defaults().withReadOnly(true))) {
            client.put("k", "v");
            await().atMost(WAIT).until(() -> replica.get("k").isPresent());
            assertThatThrownBy(() -> replica.store().put("k", "w")).isInstanceOf(ReadOnlyException.class);
            assertThat(server.db.get("k")).map(Entry::valueString).contains("v");
        }
    }

    @Test
    void resumesAfterItsOwnRestartAndAfterTheServersRestart() throws Exception {
        Path serverDir = tmp.resolve("server");
        Path replicaDir = tmp.resolve("replica");
        CaskadeOptions opts = CaskadeOptions.defaults().withDurability(Durability.NONE);
        int port;
        try (LocalServer server = new LocalServer(serverDir, opts, Users.NONE, 0);
                CaskadeClient client = server.client()) {
            port = server.http.port();
            for (int i = 0; i < 20; i++) client.put("k" + i, "v" + i);
            try (LocalReplica replica = LocalReplica.open(client, "", replicaDir)) {
                assertThat(replica.awaitRevision(20, WAIT)).isTrue();
            }
            // writes while the replica is closed arrive after it reopens: from its revision, no snapshot
            for (int i = 0; i < 20; i++) client.put("k" + i, "again" + i);
            List<Long> applied = new CopyOnWriteArrayList<>();
            try (LocalReplica replica = LocalReplica.open(client, "", replicaDir)) {
                replica.onChange(c -> applied.add(c.revision()));
                assertThat(replica.awaitRevision(40, WAIT)).isTrue();
                assertThat(replica.status().snapshots()).isZero();
                assertSameContent(client.digest(""), replica.digest());
            }
            assertThat(applied).isSorted().doesNotHaveDuplicates().allMatch(r -> r > 20);
        }
        // both restarted: the server on its port and data, the replica on its directory
        try (LocalServer server = new LocalServer(serverDir, opts, Users.NONE, port);
                CaskadeClient client = server.client();
                LocalReplica replica = LocalReplica.open(client, "", replicaDir)) {
            long rev = client.put("after", "restart");
            assertThat(rev).isEqualTo(41);
            assertThat(replica.awaitRevision(rev, WAIT)).isTrue();
            assertThat(replica.status().snapshots()).isZero();
            assertThat(replica.get("after").orElseThrow().valueString()).isEqualTo("restart");
            assertSameContent(client.digest(""), replica.digest());
        }
    }

    @Test
    void reconnectsWhenTheServerComesBackOnTheSamePort() throws Exception {
        Path serverDir = tmp.resolve("server");
        CaskadeOptions opts = CaskadeOptions.defaults().withDurability(Durability.NONE);
        LocalServer first = new LocalServer(serverDir, opts, Users.NONE, 0);
        int port = first.http.port();
        CaskadeClient client = CaskadeClient.connect(
                first.uri(),
                ClientOptions.defaults()
                        .withConnectTimeout(Duration.ofSeconds(2))
                        .withRequestTimeout(Duration.ofSeconds(5)));
        try (client;
                LocalReplica replica = LocalReplica.open(client, "", tmp.resolve("replica"))) {
            long rev = client.put("a", "1");
            assertThat(replica.awaitRevision(rev, WAIT)).isTrue();
            first.close();
            Thread.sleep(300);
            assertThat(replica.get("a")).isPresent(); // reads keep working from the local copy
            try (LocalServer second = new LocalServer(serverDir, opts, Users.NONE, port)) {
                assertThat(second.http.port()).isEqualTo(port);
                long rev2 = client.put("b", "2");
                assertThat(replica.awaitRevision(rev2, WAIT)).isTrue();
                assertThat(replica.status().reconnects()).isPositive();
                assertSameContent(client.digest(""), replica.digest());
            }
        }
    }

    @Test
    void aReplicaBehindTheServersHistoryLoadsAFreshSnapshotAndConverges() throws Exception {
        CaskadeOptions small = CaskadeOptions.defaults()
                .withDurability(Durability.NONE)
                .withSegmentBytes(4096)
                .withHistory(Duration.ZERO, 0)
                .withMerge(0.01, 1, 0, Duration.ZERO);
        Path replicaDir = tmp.resolve("replica");
        try (LocalServer server = new LocalServer(tmp.resolve("server"), small, Users.NONE, 0);
                CaskadeClient client = server.client()) {
            for (int i = 0; i < 10; i++) client.put("k" + i, "v" + i);
            try (LocalReplica replica = LocalReplica.open(client, "", replicaDir)) {
                assertThat(replica.awaitRevision(10, WAIT)).isTrue();
            }
            long last = 0;
            for (int i = 0; i < 300; i++) last = client.put("k" + (i % 10), "w" + i + "-".repeat(60));
            assertThat(server.db.merge()).isTrue();
            assertThat(server.db.compactedRevision()).isGreaterThan(10);
            AtomicInteger resets = new AtomicInteger();
            try (LocalReplica replica = LocalReplica.open(client, "", replicaDir)) {
                replica.onChange(new LocalReplica.Listener() {
                    @Override
                    public void commit(WatchEvent.Commit c) {}

                    @Override
                    public void reset(long revision) {
                        resets.incrementAndGet();
                    }
                });
                assertThat(replica.awaitRevision(last, WAIT)).isTrue();
                assertThat(replica.status().snapshots()).isEqualTo(1);
                assertThat(resets.get()).isEqualTo(1);
                assertSameContent(client.digest(""), replica.digest());
            }
        }
    }
}
