package dev.caskade.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.caskade.CaskadeOptions;
import dev.caskade.Entry;
import dev.caskade.Loader;
import dev.caskade.Snapshot;
import dev.caskade.server.HttpOptions;
import dev.caskade.server.HttpServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A node the stream has left behind, with no peer to load a snapshot from, loads its {@link Bootstrap} source (a
 * backup): a store of any node at a revision the stream continues from. A backup older than the stream's start is
 * refused, clearly, and the node keeps serving its reads and tries again.
 */
@Timeout(60)
class ClusterBootstrapTest {
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

    /** A backup of {@code source}'s current state, as a source that counts its loads. */
    static final class Backup {
        final AtomicReference<ClusterNode> source = new AtomicReference<>();
        final AtomicReference<Snapshot> frozen = new AtomicReference<>(); // when set: this old state instead
        final AtomicInteger loads = new AtomicInteger();
        final Bootstrap bootstrap;

        Backup(String url, ClusterNode source) {
            this.source.set(source);
            this.bootstrap = Bootstrap.named(url, (dir, atLeast) -> {
                loads.incrementAndGet();
                Snapshot old = frozen.get();
                if (old != null) return copy(old, dir);
                try (Snapshot now = this.source.get().store().snapshot()) {
                    return copy(now, dir);
                }
            });
        }

        private static long copy(Snapshot snap, Path dir) {
            try (Loader l = Loader.create(dir, CaskadeOptions.defaults(), snap.revision(), System.currentTimeMillis());
                    Stream<Entry> all = snap.scan("")) {
                all.forEach(e -> l.add(e.key(), e.value(), e.revision(), e.expiresAt()));
                l.finish();
            }
            return snap.revision();
        }
    }

    /** The stream's first revision: above {@code past + 1} once it was trimmed past a node at {@code past}. */
    private static long streamStart(ClusterOptions options) {
        try (ClusterBus bus = new ClusterBus(options)) {
            return bus.first();
        }
    }

    private static void writeManyOn(ClusterNode a, int count) {
        for (int i = 0; i < count; i++) {
            if (i % 3 == 0) a.store().put("t" + i, "ttl", Duration.ofHours(1));
            else a.store().put("k" + i % 500, "v" + i);
        }
        a.store().delete("k1");
    }

    @Test
    void aNodeAwayPastRetentionWithNoPeerLoadsTheBackupAndConverges() throws Exception {
        ClusterOptions options = ClusterOptions.parse(redis.url("backed")).withRetention(100);
        Path bDir = tmp.resolve("b");
        try (ClusterNode a = ClusterNode.open(tmp.resolve("a"), options.withNodeId("a"))) {
            Backup backup = new Backup("s3://bucket/backed", a);
            for (int i = 0; i < 50; i++) a.store().put("k" + i, "first");
            try (ClusterNode b = ClusterNode.open(bDir, options.withNodeId("b"))) {
                assertThat(b.awaitRevision(a.revision(), WAIT)).isTrue();
            }
            writeManyOn(a, 3000);
            assertThat(streamStart(options)).as("trimmed past b").isGreaterThan(51);
            // a serves no HTTP: no node can give b a snapshot, only the backup
            ClusterRejoinTest.Applied applied = new ClusterRejoinTest.Applied();
            try (ClusterNode b =
                    ClusterNode.open(bDir, options.withNodeId("b").withBootstrap(backup.bootstrap), applied)) {
                assertThat(b.awaitRevision(a.revision(), WAIT))
                        .as("b catches up: %s", b.status())
                        .isTrue();
                assertThat(applied.resets).hasSize(1);
                assertThat(b.status().bootstraps()).isEqualTo(1);
                assertThat(backup.loads.get()).isEqualTo(1);
                assertThat(b.store().digest(new byte[0])).isEqualTo(a.store().digest(new byte[0]));
                assertThat(b.store().get("k1")).isEmpty();
                assertThat(Files.exists(bDir.resolve("store.new"))).isFalse();
                // and it keeps following the stream after the backup
                long r = a.store().put("after", "yes");
                assertThat(b.awaitRevision(r, WAIT)).isTrue();
                assertThat(b.store().get("after").orElseThrow().valueString()).isEqualTo("yes");
                assertThat(b.store().put("from-b", "1")).isPositive();
                assertThat(a.awaitRevision(b.revision(), WAIT)).isTrue();
                assertThat(a.store().get("from-b")).isPresent();
            }
            // a brand-new, empty node joining a cluster whose stream no longer starts at 1 takes the same path
            try (ClusterNode c =
                    ClusterNode.open(tmp.resolve("c"), options.withNodeId("c").withBootstrap(backup.bootstrap))) {
                assertThat(c.awaitRevision(a.revision(), WAIT))
                        .as("c catches up: %s", c.status())
                        .isTrue();
                assertThat(c.status().bootstraps()).isEqualTo(1);
                assertThat(backup.loads.get()).isEqualTo(2);
                assertThat(c.store().digest(new byte[0])).isEqualTo(a.store().digest(new byte[0]));
            }
        }
    }

    @Test
    void aBackupOlderThanTheStreamIsRefusedAndTheNodeKeepsServingAndRetries() throws Exception {
        ClusterOptions options = ClusterOptions.parse(redis.url("stale")).withRetention(100);
        Path bDir = tmp.resolve("b");
        try (ClusterNode a = ClusterNode.open(tmp.resolve("a"), options.withNodeId("a"))) {
            Backup backup = new Backup("s3://bucket/stale", a);
            for (int i = 0; i < 50; i++) a.store().put("k" + i, "first");
            try (ClusterNode b = ClusterNode.open(bDir, options.withNodeId("b"))) {
                assertThat(b.awaitRevision(a.revision(), WAIT)).isTrue();
            }
            try (Snapshot old = a.store().snapshot()) {
                backup.frozen.set(old); // the backup stopped being shipped at revision 50
                writeManyOn(a, 3000);
                long first = streamStart(options);
                assertThat(first).isGreaterThan(51);
                try (ClusterNode b =
                        ClusterNode.open(bDir, options.withNodeId("b").withBootstrap(backup.bootstrap))) {
                    await().atMost(WAIT)
                            .pollInterval(Duration.ofMillis(50))
                            .until(() -> backup.loads.get() >= 2); // refused, then tried again
                    ClusterNode.Status s = b.status();
                    assertThat(s.state()).isEqualTo("bootstrapping");
                    assertThat(s.lastError())
                            .contains(
                                    "no peer has registered an HTTP URL",
                                    "the backup at s3://bucket/stale is at revision 50, the stream starts at " + first,
                                    "serving reads, retrying");
                    assertThat(s.bootstraps()).isZero();
                    assertThat(b.revision()).isEqualTo(50);
                    assertThat(b.store().get("k7").orElseThrow().valueString()).isEqualTo("first");
                    // a fresh backup: the next try takes it
                    backup.frozen.set(null);
                    assertThat(b.awaitRevision(a.revision(), WAIT))
                            .as("b catches up: %s", b.status())
                            .isTrue();
                    assertThat(b.status().bootstraps()).isEqualTo(1);
                    assertThat(b.store().digest(new byte[0]))
                            .isEqualTo(a.store().digest(new byte[0]));
                    await().atMost(WAIT).until(() -> "live".equals(b.status().state()));
                    assertThat(b.status().lastError()).isNull();
                }
            }
        }
    }

    @Test
    void aPeerComesBeforeTheBackup() throws Exception {
        ClusterOptions options = ClusterOptions.parse(redis.url("peer-first")).withRetention(100);
        try (ClusterNode a = ClusterNode.open(tmp.resolve("a"), options.withNodeId("a"));
                HttpServer http =
                        HttpServer.start(a.store(), HttpOptions.defaults().withAddress("127.0.0.1", 0))) {
            a.advertise("http://127.0.0.1:" + http.port());
            Backup backup = new Backup("s3://bucket/peer-first", a);
            writeManyOn(a, 600);
            assertThat(streamStart(options)).isGreaterThan(1);
            await().atMost(WAIT).until(() -> {
                String registration = nodes(options).get("a");
                return registration != null && registration.contains("\"http\":\"");
            });
            try (ClusterNode c =
                    ClusterNode.open(tmp.resolve("c"), options.withNodeId("c").withBootstrap(backup.bootstrap))) {
                assertThat(c.awaitRevision(a.revision(), WAIT))
                        .as("c catches up: %s", c.status())
                        .isTrue();
                assertThat(c.status().bootstraps()).isEqualTo(1);
                assertThat(backup.loads.get())
                        .as("the peer's snapshot was enough")
                        .isZero();
                assertThat(c.store().digest(new byte[0])).isEqualTo(a.store().digest(new byte[0]));
            }
        }
    }

    private static java.util.Map<String, String> nodes(ClusterOptions options) {
        try (ClusterBus bus = new ClusterBus(options)) {
            return bus.nodes();
        }
    }
}
