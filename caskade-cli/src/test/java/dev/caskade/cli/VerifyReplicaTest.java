package dev.caskade.cli;

import static dev.caskade.cli.Invocation.run;
import static org.assertj.core.api.Assertions.assertThat;

import dev.caskade.Caskade;
import dev.caskade.Change;
import dev.caskade.ChangeType;
import dev.caskade.Durability;
import dev.caskade.client.CaskadeClient;
import dev.caskade.client.ClientOptions;
import dev.caskade.client.LocalReplica;
import dev.caskade.server.Server;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@code verify --server URL --replica DIR}: a local replica of a prefix against an in-process server. */
@Timeout(60)
class VerifyReplicaTest {
    static final Duration WAIT = Duration.ofSeconds(15);

    @TempDir
    Path dir;

    Server server;
    String url;
    CaskadeClient client;
    Path replicaDir;

    @BeforeEach
    void start() {
        server = Server.start(new Server.Options(dir.resolve("server"), "127.0.0.1", 0, 0, Durability.NONE, false));
        url = "http://127.0.0.1:" + server.httpPort();
        client = CaskadeClient.connect(URI.create(url), ClientOptions.defaults());
        replicaDir = dir.resolve("replica");
        for (int i = 0; i < 40; i++) server.store().put("app/" + i, "v" + i);
        server.store().put("other/x", "not replicated");
    }

    @AfterEach
    void stop() {
        if (client != null) client.close();
        if (server != null) server.close();
    }

    /** Runs a replica until it has the server's last revision, then closes it. */
    private long syncReplica() throws InterruptedException {
        long target = server.store().revision();
        try (LocalReplica replica = LocalReplica.open(client, "app/", replicaDir)) {
            assertThat(replica.awaitRevision(target, WAIT)).isTrue();
            return replica.revision();
        }
    }

    @Test
    void aCaughtUpReplicaIsOkEvenWhenTheServerMovedOnOutsideItsPrefix() throws Exception {
        long at = syncReplica();
        server.store().put("other/y", "later, outside the prefix");

        Invocation text = run("verify", "--server", url, "--replica", replicaDir.toString(), "--prefix", "app/");
        assertThat(text.code()).as("%s", text).isZero();
        assertThat(text.err()).isEmpty();
        assertThat(text.out())
                .contains("server   revision " + server.store().revision() + "  keys 40  sha256 ")
                .contains("replica  revision " + at + "  keys 40  sha256 ")
                .endsWith("ok\n");

        Invocation json =
                run("verify", "--server", url, "--replica", replicaDir.toString(), "--prefix", "app/", "--json");
        assertThat(json.code()).as("%s", json).isZero();
        assertThat(json.out())
                .startsWith("{\"ok\":true,\"prefix\":\"app/\",\"server\":{\"revision\":"
                        + server.store().revision() + ",\"keys\":40,\"sha256\":\"")
                .contains(",\"replica\":{\"revision\":" + at + ",\"keys\":40,");

        // the whole store is not what the replica holds
        Invocation all = run("verify", "--server", url, "--replica", replicaDir.toString(), "--wait", "300ms");
        assertThat(all.code()).as("%s", all).isEqualTo(Main.DAMAGED);
        assertThat(all.out()).contains("keys 42").endsWith("mismatch\n");
    }

    @Test
    void aReplicaBehindIsAMismatchUntilItCatchesUpWithinTheWait() throws Exception {
        long replicaAt = syncReplica();
        server.store().put("app/new", "the replica is not running");
        long serverAt = server.store().revision();

        long t0 = System.nanoTime();
        Invocation behind =
                run("verify", "--server", url, "--replica", replicaDir.toString(), "--prefix", "app/", "--wait", "1s");
        assertThat(behind.code()).as("%s", behind).isEqualTo(Main.DAMAGED);
        assertThat(behind.out()).contains("keys 41").contains("keys 40").endsWith("mismatch\n");
        assertThat(behind.err())
                .contains("differs")
                .contains("the server at " + serverAt)
                .contains("replica is at revision " + replicaAt);
        assertThat(Duration.ofNanos(System.nanoTime() - t0))
                .as("bounded by --wait")
                .isLessThan(Duration.ofSeconds(5));

        // running, the replica catches up while verify waits
        try (LocalReplica replica = LocalReplica.open(client, "app/", replicaDir)) {
            Invocation ok = run("verify", "--server", url, "--replica", replicaDir.toString(), "--prefix", "app/");
            assertThat(ok.code()).as("%s", ok).isZero();
            assertThat(ok.out()).contains("replica  revision " + serverAt).endsWith("ok\n");
            assertThat(replica.revision()).isEqualTo(serverAt);
        }
    }

    @Test
    void aDifferentReplicaIsAMismatchAtOnce() throws Exception {
        syncReplica();
        // the replica's store written behind its back: a revision past the server's, so it is not behind
        try (Caskade db = Caskade.open(replicaDir.resolve("store"))) {
            db.apply(server.store().revision() + 5, System.currentTimeMillis(), List.of(change("app/3")));
        }
        long t0 = System.nanoTime();
        Invocation json =
                run("verify", "--server", url, "--replica", replicaDir.toString(), "--prefix", "app/", "--json");
        assertThat(json.code()).as("%s", json).isEqualTo(Main.DAMAGED);
        assertThat(json.out()).startsWith("{\"ok\":false,").contains("\"keys\":40");
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).as("no waiting").isLessThan(Duration.ofSeconds(2));
    }

    private static Change change(String key) {
        return new Change(
                ChangeType.PUT, key.getBytes(StandardCharsets.UTF_8), "tampered".getBytes(StandardCharsets.UTF_8), 0);
    }

    @Test
    void unreachableServerMissingReplicaAndBadUsage() throws Exception {
        syncReplica();
        int closedPort;
        try (ServerSocket s = new ServerSocket(0)) {
            closedPort = s.getLocalPort();
        }
        Invocation down = run(
                "verify", "--server", "http://127.0.0.1:" + closedPort, "--replica", replicaDir.toString(), "--json");
        assertThat(down.code()).as("%s", down).isEqualTo(Main.FAILED);
        assertThat(down.out()).isEmpty();
        assertThat(down.err()).startsWith("caskade: cannot reach");

        Invocation missing =
                run("verify", "--server", url, "--replica", dir.resolve("nope").toString());
        assertThat(missing.code()).as("%s", missing).isEqualTo(Main.FAILED);
        assertThat(missing.err()).contains("no replica at");

        assertThat(run("verify", "--replica", replicaDir.toString()).code()).isEqualTo(Main.USAGE);
        assertThat(run("verify", "--server", url).code()).isEqualTo(Main.USAGE);
        assertThat(run("verify", "--server", url, "--replica", replicaDir.toString(), "--from", "/tmp/x")
                        .code())
                .isEqualTo(Main.USAGE);
    }
}
