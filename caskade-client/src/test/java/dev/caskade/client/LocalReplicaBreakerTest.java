package dev.caskade.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.caskade.CaskadeOptions;
import dev.caskade.Durability;
import dev.caskade.WatchEvent;
import dev.caskade.server.Users;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The replica's circuit breaker, its status fields and its idle timeout, against a real server and raw sockets. */
class LocalReplicaBreakerTest {
    static final Duration WAIT = Duration.ofSeconds(10);

    @TempDir
    Path tmp;

    /** Counts connections on a port; with {@code answer}, holds each one after a 200 SSE head, else drops it. */
    static final class Listening implements AutoCloseable {
        final ServerSocket socket;
        final AtomicInteger accepts = new AtomicInteger();
        final List<Socket> held = new CopyOnWriteArrayList<>();
        final Thread thread;

        Listening(int port, boolean answer) throws IOException {
            socket = new ServerSocket();
            socket.setReuseAddress(true);
            socket.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
            thread = Thread.ofVirtual().start(() -> {
                while (!socket.isClosed()) {
                    try {
                        Socket s = socket.accept();
                        accepts.incrementAndGet(); // before the client can see anything of it
                        if (!answer) {
                            s.close();
                            continue;
                        }
                        held.add(s);
                        readHead(s.getInputStream());
                        s.getOutputStream()
                                .write(("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                                + "Transfer-Encoding: chunked\r\n\r\n")
                                        .getBytes(StandardCharsets.US_ASCII));
                        s.getOutputStream().flush(); // and then: nothing, ever
                    } catch (IOException e) {
                        // closed
                    }
                }
            });
        }

        int port() {
            return socket.getLocalPort();
        }

        private static void readHead(InputStream in) throws IOException {
            int matched = 0;
            byte[] end = {'\r', '\n', '\r', '\n'};
            for (int b; matched < 4 && (b = in.read()) >= 0; )
                matched = b == end[matched] ? matched + 1 : (b == '\r' ? 1 : 0);
        }

        @Override
        public void close() throws IOException {
            socket.close();
            for (Socket s : held) s.close();
        }
    }

    @Test
    void theBreakerOpensWhileTheServerIsGoneMakesNoAttemptsWhileOpenAndClosesWhenItReturns() throws Exception {
        Path serverDir = tmp.resolve("server");
        CaskadeOptions opts = CaskadeOptions.defaults().withDurability(Durability.NONE);
        LocalServer first = new LocalServer(serverDir, opts, Users.NONE, 0);
        int port = first.http.port();
        Duration openWait = Duration.ofMillis(1_000);
        ReplicaOptions options = ReplicaOptions.defaults()
                .withBackoff(Duration.ofMillis(10), Duration.ofMillis(40))
                .withBreaker(4, 50f, 2, openWait, 1);
        List<Long> seen = new CopyOnWriteArrayList<>();
        AtomicInteger resets = new AtomicInteger();
        LocalReplica.Listener listener = new LocalReplica.Listener() {
            @Override
            public void commit(WatchEvent.Commit c) {
                seen.add(c.revision());
            }

            @Override
            public void reset(long revision) {
                resets.incrementAndGet();
            }
        };
        long before = first.client().put("a", "1"); // a commit before the replica: in its first snapshot
        CaskadeClient client = CaskadeClient.connect(
                first.uri(),
                ClientOptions.defaults()
                        .withConnectTimeout(Duration.ofSeconds(1))
                        .withRequestTimeout(Duration.ofSeconds(2)));
        try (client;
                LocalReplica replica = LocalReplica.open(client, "", tmp.resolve("replica"), options, listener)) {
            assertThat(replica.awaitRevision(before, WAIT)).isTrue();
            assertThat(resets.get()).as("the listener saw the first snapshot").isEqualTo(1);
            assertThat(replica.status().breaker()).isEqualTo(LocalReplica.Breaker.CLOSED);
            first.close();
            try (Listening gone = new Listening(port, false)) { // accepts and drops: every opening fails
                await().atMost(WAIT).until(() -> replica.status().breaker() == LocalReplica.Breaker.OPEN);
                int attempts = gone.accepts.get(); // may be 0: refused connections may have opened it already
                Thread.sleep(openWait.toMillis() * 6 / 10);
                assertThat(gone.accepts.get()).as("no connection while open").isEqualTo(attempts);
                assertThat(replica.status().breaker()).isEqualTo(LocalReplica.Breaker.OPEN);
                assertThat(replica.status().state()).isEqualTo("reconnecting");
                assertThat(replica.status().lastError()).isNotNull();
                // after the wait one probe goes through, fails, and the breaker opens again
                await().atMost(WAIT).until(() -> gone.accepts.get() > attempts);
                await().atMost(WAIT).until(() -> replica.status().breaker() == LocalReplica.Breaker.OPEN);
            }
            assertThat(replica.get("a")).isPresent(); // reads go on locally all along
            try (LocalServer second = new LocalServer(serverDir, opts, Users.NONE, port)) {
                assertThat(second.http.port()).isEqualTo(port);
                long rev = client.put("b", "2");
                assertThat(replica.awaitRevision(rev, WAIT)).isTrue();
                assertThat(replica.status().breaker()).isEqualTo(LocalReplica.Breaker.CLOSED);
                assertThat(replica.status().state()).isEqualTo("live");
                assertThat(replica.status().reconnects()).isPositive();
                assertThat(seen).containsExactly(rev);
            }
        }
    }

    @Test
    void statusTellsServerRevisionLagAndLastApplyAndKeepAlivesKeepAnIdleStreamUp() throws Exception {
        ReplicaOptions options = ReplicaOptions.defaults()
                .withIdleTimeout(Duration.ofMillis(500)) // the test server's keep-alive comes every 100 ms
                .withRevisionRefresh(Duration.ofMillis(100));
        try (LocalServer server = new LocalServer(tmp.resolve("server"));
                CaskadeClient client = server.client();
                LocalReplica replica = LocalReplica.open(client, "a/", tmp.resolve("replica"), options)) {
            Instant start = Instant.now();
            long r1 = client.put("a/1", "x");
            assertThat(replica.awaitRevision(r1, WAIT)).isTrue();
            LocalReplica.Status s = replica.status();
            assertThat(s.revision()).isEqualTo(r1);
            assertThat(s.serverRevision()).isGreaterThanOrEqualTo(r1);
            assertThat(s.lastAppliedAt()).isAfterOrEqualTo(start.minusMillis(5));
            assertThat(s.breaker()).isEqualTo(LocalReplica.Breaker.CLOSED);

            // a commit outside the prefix: the stream never shows it, the periodic GET /v1/status does
            long r2 = client.put("b/1", "y");
            await().atMost(WAIT).until(() -> replica.status().serverRevision() == r2);
            assertThat(replica.status().lagRevisions()).isEqualTo(r2 - r1);
            assertThat(replica.status().revision()).isEqualTo(r1);

            Thread.sleep(1_000); // twice the idle timeout with no commit: only keep-alives arrive
            assertThat(replica.status().reconnects())
                    .as("keep-alives count as life")
                    .isZero();
            assertThat(replica.status().lastError()).isNull();
            assertThat(replica.status().state()).isEqualTo("live");

            long r3 = client.put("a/2", "z");
            assertThat(replica.awaitRevision(r3, WAIT)).isTrue();
            assertThat(replica.status().lagRevisions()).isZero();
            assertThat(replica.status().serverRevision()).isEqualTo(r3);
        }
    }

    @Test
    void aStreamThatFallsSilentIsClosedAndOpenedAgainAfterTheIdleTimeout() throws Exception {
        ReplicaOptions options = ReplicaOptions.defaults()
                .withBackoff(Duration.ofMillis(10), Duration.ofMillis(20))
                .withIdleTimeout(Duration.ofMillis(300));
        try (Listening silent = new Listening(0, true);
                CaskadeClient client = CaskadeClient.connect(
                        URI.create("http://127.0.0.1:" + silent.port()),
                        ClientOptions.defaults().withRequestTimeout(Duration.ofSeconds(2)));
                LocalReplica replica = LocalReplica.open(client, "", tmp.resolve("replica"), options)) {
            long t0 = System.nanoTime();
            await().atMost(WAIT).until(() -> silent.accepts.get() >= 3);
            long elapsedMs = (System.nanoTime() - t0) / 1_000_000;
            assertThat(elapsedMs).as("each stream lives about the idle timeout").isGreaterThanOrEqualTo(2 * 300 - 50);
            assertThat(replica.status().reconnects()).isGreaterThanOrEqualTo(2);
            assertThat(replica.status().lastError()).contains("silent");
            assertThat(replica.revision()).isZero();
        }
    }

    @Test
    void optionsAreValidated() {
        ReplicaOptions d = ReplicaOptions.defaults();
        assertThat(d.idleTimeout()).isEqualTo(Duration.ofSeconds(45));
        assertThatThrownBy(() -> d.withBackoff(Duration.ofSeconds(2), Duration.ofSeconds(1)))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> d.withBreaker(4, 50f, 5, Duration.ofSeconds(1), 1))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> d.withBreaker(4, 0f, 2, Duration.ofSeconds(1), 1))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> d.withIdleTimeout(Duration.ZERO)).isInstanceOf(IllegalArgumentException.class);
    }
}
