package dev.caskade.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import dev.caskade.Batch;
import dev.caskade.WatchEvent;
import dev.caskade.server.Access;
import dev.caskade.server.HttpOptions;
import dev.caskade.server.HttpServer;
import dev.caskade.server.Rule;
import dev.caskade.server.User;
import dev.caskade.server.Users;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** A node that leaves and comes back: it resumes from its store's revision, or re-bootstraps from a peer. */
@Timeout(60)
class ClusterRejoinTest {
    static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir
    Path tmp;

    RedisProcess redis;

    @BeforeEach
    void start() {
        redis = RedisProcess.start(tmp.resolve("redis"));
    }

    @AfterEach
    void stop() {
        if (redis != null) redis.close();
    }

    /** Records the revisions a node applies, and its resets. */
    static final class Applied implements ClusterNode.Listener {
        final List<Long> revisions = Collections.synchronizedList(new ArrayList<>());
        final List<Long> resets = Collections.synchronizedList(new ArrayList<>());

        @Override
        public void commit(WatchEvent.Commit c) {
            revisions.add(c.revision());
        }

        @Override
        public void reset(long revision) {
            resets.add(revision);
        }
    }

    @Test
    void aReopenedNodeCatchesUpWithNoGapAndNoDuplicate() throws Exception {
        ClusterOptions options = ClusterOptions.parse(redis.url("rejoin"));
        Path bDir = tmp.resolve("b");
        try (ClusterNode a = ClusterNode.open(tmp.resolve("a"), options.withNodeId("a"))) {
            AtomicBoolean stop = new AtomicBoolean();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            Thread writer = Thread.ofPlatform().start(() -> {
                try {
                    for (int i = 0; i < 100_000 && !stop.get(); i++) {
                        if (i % 5 == 0)
                            a.store()
                                    .commit(Batch.create()
                                            .put("k" + i % 50, "b" + i)
                                            .delete("k" + (i + 7) % 50));
                        else a.store().put("k" + i % 50, "v" + i);
                    }
                } catch (Throwable t) {
                    failure.set(t);
                }
            });
            long reopenedAt = 0; // where the last run stopped: its reader may apply before open() returns
            for (int round = 0; round < 3; round++) {
                Applied applied = new Applied();
                ClusterNode b = ClusterNode.open(bDir, options.withNodeId("b"), applied);
                try {
                    Thread.sleep(300 + round * 200L);
                    assertThat(b.awaitRevision(a.revision(), WAIT)).isTrue();
                } finally {
                    b.close();
                }
                // closed now: what it applied continues its reopened store's revision, one by one
                assertThat(applied.resets).isEmpty();
                assertThat(applied.revisions).as("round %d", round).isNotEmpty();
                for (int i = 0; i < applied.revisions.size(); i++)
                    assertThat(applied.revisions.get(i))
                            .as("round %d: commit #%d after reopening at %d", round, i, reopenedAt)
                            .isEqualTo(reopenedAt + 1 + i);
                reopenedAt = b.revision(); // the reader stopped with close()
                Thread.sleep(200); // a writes while b is away
            }
            stop.set(true);
            writer.join(10_000);
            assertThat(failure.get()).isNull();
            Applied last = new Applied();
            try (ClusterNode b = ClusterNode.open(bDir, options.withNodeId("b"), last)) {
                long from = reopenedAt;
                assertThat(b.awaitRevision(a.revision(), WAIT)).isTrue();
                assertThat(b.revision()).isEqualTo(a.revision());
                assertThat(b.store().digest(new byte[0])).isEqualTo(a.store().digest(new byte[0]));
                for (int i = 0; i < last.revisions.size(); i++)
                    assertThat(last.revisions.get(i)).isEqualTo(from + 1 + i);
            }
        }
    }

    @Test
    void aNodeAwayPastRetentionReloadsAPeersSnapshotOverHttp() throws Exception {
        ClusterOptions options = ClusterOptions.parse(redis.url("retained")).withRetention(100);
        Path bDir = tmp.resolve("b");
        try (ClusterNode a = ClusterNode.open(tmp.resolve("a"), options.withNodeId("a"));
                HttpServer http =
                        HttpServer.start(a.store(), HttpOptions.defaults().withAddress("127.0.0.1", 0))) {
            a.advertise("http://127.0.0.1:" + http.port());
            for (int i = 0; i < 50; i++) a.store().put("k" + i, "first");
            try (ClusterNode b = ClusterNode.open(bDir, options.withNodeId("b"))) {
                assertThat(b.awaitRevision(a.revision(), WAIT)).isTrue();
            }
            for (int i = 0; i < 3000; i++) {
                if (i % 3 == 0) a.store().put("t" + i, "ttl", Duration.ofHours(1));
                else a.store().put("k" + i % 500, "v" + i);
            }
            a.store().delete("k1");
            Applied applied = new Applied();
            try (ClusterNode b = ClusterNode.open(bDir, options.withNodeId("b"), applied)) {
                assertThat(b.awaitRevision(a.revision(), WAIT))
                        .as("b catches up: %s", b.status())
                        .isTrue();
                assertThat(applied.resets).hasSize(1);
                assertThat(b.status().bootstraps()).isEqualTo(1);
                assertThat(b.store().digest(new byte[0])).isEqualTo(a.store().digest(new byte[0]));
                assertThat(b.store().get("k1")).isEmpty();
                // and it keeps following the stream after the snapshot
                long r = a.store().put("after", "yes");
                assertThat(b.awaitRevision(r, WAIT)).isTrue();
                assertThat(b.store().get("after").orElseThrow().valueString()).isEqualTo("yes");
                assertThat(b.store().put("from-b", "1")).isPositive();
                assertThat(a.awaitRevision(b.revision(), WAIT)).isTrue();
                assertThat(a.store().get("from-b")).isPresent();
            }
        }
    }

    @Test
    void aPeerThatRequiresUsersServesItsSnapshotToANodeWithCredentials() throws Exception {
        ClusterOptions options = ClusterOptions.parse(redis.url("guarded")).withRetention(100);
        Users users = Users.of(List.of(new User(
                "peer",
                dev.caskade.server.Credential.password("s3cret", 1000),
                null,
                List.of(Rule.of("", Access.READ)))));
        Path bDir = tmp.resolve("b");
        try (ClusterNode a = ClusterNode.open(tmp.resolve("a"), options.withNodeId("a"));
                HttpServer http =
                        HttpServer.start(a.store(), HttpOptions.defaults().withAddress("127.0.0.1", 0), users, null)) {
            a.advertise("http://127.0.0.1:" + http.port());
            a.store().put("k", "first");
            try (ClusterNode b = ClusterNode.open(bDir, options.withNodeId("b"))) {
                assertThat(b.awaitRevision(a.revision(), WAIT)).isTrue();
            }
            for (int i = 0; i < 2000; i++) a.store().put("k" + i % 300, "v" + i);
            // without credentials the peer says 401: the node reports it and keeps serving what it has
            try (ClusterNode b = ClusterNode.open(bDir, options.withNodeId("b"))) {
                org.awaitility.Awaitility.await()
                        .atMost(WAIT)
                        .untilAsserted(() -> assertThat(b.status().lastError()).contains("cannot catch up", "401"));
                assertThat(b.store().get("k").orElseThrow().valueString()).isEqualTo("first");
            }
            ClusterOptions withAuth =
                    options.withNodeId("b").withPeerAuth(ClusterOptions.PeerAuth.user("peer", "s3cret"));
            assertThat(withAuth.toString()).doesNotContain("s3cret");
            try (ClusterNode b = ClusterNode.open(bDir, withAuth)) {
                assertThat(b.awaitRevision(a.revision(), WAIT))
                        .as("b loads a's snapshot with credentials: %s", b.status())
                        .isTrue();
                assertThat(b.status().bootstraps()).isEqualTo(1);
                assertThat(b.store().digest(new byte[0])).isEqualTo(a.store().digest(new byte[0]));
            }
        }
    }
}
