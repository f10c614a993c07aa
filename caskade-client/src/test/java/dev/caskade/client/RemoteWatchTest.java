package dev.caskade.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.caskade.CaskadeOptions;
import dev.caskade.Change;
import dev.caskade.ChangeType;
import dev.caskade.Durability;
import dev.caskade.Entry;
import dev.caskade.server.Users;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RemoteWatchTest {
    private static final Duration WAIT = Duration.ofSeconds(10);

    @TempDir
    Path dir;

    LocalServer server;
    CaskadeClient client;
    final BlockingQueue<RemoteEvent> events = new LinkedBlockingQueue<>();

    @BeforeEach
    void start() {
        server = new LocalServer(dir);
        client = server.client();
    }

    @AfterEach
    void stop() {
        client.close();
        server.close();
    }

    RemoteEvent next() throws InterruptedException {
        RemoteEvent e = events.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS);
        if (e == null) throw new AssertionError("no event within " + WAIT);
        return e;
    }

    RemoteEvent.Commit nextCommit() throws InterruptedException {
        RemoteEvent e = next();
        assertThat(e).isInstanceOf(RemoteEvent.Commit.class);
        return (RemoteEvent.Commit) e;
    }

    @Test
    void snapshotChunksThenLiveCommitsInOrder() throws Exception {
        for (int i = 0; i < 7; i++) server.db.put("w/" + i, "v" + i);
        server.db.put("x/outside", "no");
        long at = server.db.revision();
        try (RemoteWatch w = client.watch("w/", 0, true, events::add)) {
            // LocalServer sends 3 keys per snapshot event
            List<Entry> snapshot = new ArrayList<>();
            List<Integer> sizes = new ArrayList<>();
            for (boolean last = false; !last; ) {
                RemoteEvent.Snapshot s = (RemoteEvent.Snapshot) next();
                assertThat(s.revision()).isEqualTo(at);
                snapshot.addAll(s.items());
                sizes.add(s.items().size());
                last = s.last();
            }
            assertThat(sizes).containsExactly(3, 3, 1);
            try (Stream<Entry> s = server.db.scan("w/")) {
                assertThat(snapshot).containsExactlyElementsOf(s.toList());
            }
            assertThat(w.lastRevision()).isEqualTo(at);

            long r1 = client.put("w/new", "n");
            client.put("x/ignored", "no");
            long r2 = client.delete("w/0");
            byte[] binaryKey = {'w', '/', (byte) 0xff, 0};
            byte[] binaryValue = {0, (byte) 0x80, (byte) 0xff};
            long r3 = client.put(binaryKey, binaryValue, Duration.ofSeconds(60));

            RemoteEvent.Commit c1 = nextCommit();
            assertThat(c1.revision()).isEqualTo(r1);
            assertThat(c1.commit().changes())
                    .containsExactly(new Change(ChangeType.PUT, bytes("w/new"), bytes("n"), 0));
            RemoteEvent.Commit c2 = nextCommit();
            assertThat(c2.revision()).isEqualTo(r2);
            assertThat(c2.commit().changes())
                    .containsExactly(new Change(ChangeType.DELETE, bytes("w/0"), new byte[0], 0));
            RemoteEvent.Commit c3 = nextCommit();
            assertThat(c3.revision()).isEqualTo(r3);
            Change put = c3.commit().changes().getFirst();
            assertThat(put.key()).isEqualTo(binaryKey);
            assertThat(put.value()).isEqualTo(binaryValue);
            long expiresAt = server.db.get(binaryKey).orElseThrow().expiresAt();
            assertThat(put.expiresAt())
                    .as("expiresAt, where the server sends it")
                    .isIn(0L, expiresAt);
            assertThat(c3.commit().timestamp()).isPositive();
            assertThat(w.lastRevision()).isEqualTo(r3);
            assertThat(events).isEmpty();
        }
        assertThat(next()).isEqualTo(new RemoteEvent.Ended(null));
    }

    @Test
    void fromARevisionGivesHistoryThenLive() throws Exception {
        long first = server.db.put("h/a", "1");
        server.db.put("h/b", "2");
        server.db.put("other", "x");
        server.db.put("h/a", "3");
        RemoteWatch w = client.watch("h/", first, false, events::add);
        try {
            // it starts at the requested revision; the reader thread may already have delivered history
            assertThat(w.lastRevision()).isBetween(first, first + 3);
            assertThat(nextCommit().revision()).isEqualTo(first + 1);
            assertThat(nextCommit().revision()).isEqualTo(first + 3);
            long live = client.put("h/c", "4");
            RemoteEvent.Commit c = nextCommit();
            assertThat(c.revision()).isEqualTo(live);
            assertThat(c.commit().changes().getFirst().valueString()).isEqualTo("4");
            assertThat(w.lastRevision()).isEqualTo(live);
            assertThat(w.isOpen()).isTrue();
            w.close();
            assertThat(w.isOpen()).isFalse();
            assertThat(next()).isEqualTo(new RemoteEvent.Ended(null));
            client.put("h/d", "after close");
            assertThat(events.poll(300, TimeUnit.MILLISECONDS))
                    .as("nothing after Ended")
                    .isNull();
        } finally {
            w.close();
        }
        assertThatThrownBy(() -> client.watch("h/", 3, true, events::add))
                .as("a snapshot starts at its own revision")
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void aStoppedServerEndsTheWatchWithACause() throws Exception {
        try (RemoteWatch w = client.watch("", 0, false, events::add)) {
            long rev = client.put("k", "v");
            assertThat(nextCommit().revision()).isEqualTo(rev);
            server.http.close();
            RemoteEvent end = next();
            assertThat(end)
                    .isInstanceOfSatisfying(
                            RemoteEvent.Ended.class, e -> assertThat(e.cause()).isInstanceOf(ClientException.class));
            assertThat(w.isOpen()).isFalse();
            assertThat(w.lastRevision()).isEqualTo(rev);
        }
    }

    @Test
    void aThrowingListenerEndsItsWatch() throws Exception {
        IllegalStateException boom = new IllegalStateException("boom");
        try (RemoteWatch w = client.watch("", 0, false, e -> {
            events.add(e);
            if (e instanceof RemoteEvent.Commit) throw boom;
        })) {
            client.put("k", "v");
            nextCommit();
            assertThat(next()).isEqualTo(new RemoteEvent.Ended(boom));
            assertThat(w.isOpen()).isFalse();
        }
    }

    @Test
    void belowTheRetainedHistoryIsCompacted(@TempDir Path other) throws Exception {
        CaskadeOptions small = CaskadeOptions.defaults()
                .withDurability(Durability.NONE)
                .withSegmentBytes(4096)
                .withHistory(Duration.ZERO, 0);
        try (LocalServer s = new LocalServer(other, small, Users.NONE);
                CaskadeClient c = s.client()) {
            byte[] value = new byte[200];
            for (int i = 0; i < 200; i++) s.db.put(("k" + (i % 5)).getBytes(StandardCharsets.UTF_8), value);
            assertThat(s.db.merge()).isTrue();
            assertThat(s.db.compactedRevision()).isPositive();
            long oldest;
            try (RemoteWatch w = c.watch("", 0, false, events::add)) {
                RemoteEvent e = next();
                assertThat(e).isInstanceOf(RemoteEvent.Compacted.class);
                oldest = ((RemoteEvent.Compacted) e).oldest();
                assertThat(oldest).isGreaterThanOrEqualTo(s.db.compactedRevision());
                assertThat(next())
                        .isInstanceOfSatisfying(
                                RemoteEvent.Ended.class,
                                end -> assertThat(end.cause()).hasMessageContaining("compacted"));
                assertThat(w.isOpen()).isFalse();
            }
            try (RemoteWatch w = c.watch("", oldest, false, events::add)) {
                long rev = c.put("k0", "again");
                RemoteEvent.Commit last = nextCommit();
                while (last.revision() < rev) last = nextCommit();
                assertThat(last.revision()).isEqualTo(rev);
                assertThat(w.lastRevision()).isEqualTo(rev);
            }
        }
    }

    /** The SSE grammar beyond what Caskade's server writes: CRLF and CR line ends, multi-line data, comments. */
    @Test
    void parsesCrlfMultiLineDataCommentsAndUnknownEvents() throws Exception {
        String stream = ": hello\r\n\r\n"
                + "retry: 1000\r\n"
                + "id: 5\r\nevent: commit\r\ndata: {\"revision\":5,\"timestamp\":9,\r\n"
                + "data:\"changes\":[{\"type\":\"put\",\"key\":\"a\",\"value\":\"x\",\"expiresAt\":77}]}\r\n\r\n"
                + "event: novelty\ndata: {}\n\n"
                + "data: {\"no\":\"event name\"}\n\n"
                + "id: 6\revent: commit\rdata: {\"revision\":6,\"timestamp\":10,\"changes\":"
                + "[{\"type\":\"delete\",\"key_base64\":\"/w==\"}]}\r\r"
                + "event: overflow\ndata: {\"resume\":6}\n\n"
                + "event: commit\ndata: {\"revision\":7,\"changes\":[]}\n"; // cut off: dropped
        CountDownLatch served = new CountDownLatch(1);
        com.sun.net.httpserver.HttpServer raw =
                com.sun.net.httpserver.HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        raw.createContext("/v1/watch", exchange -> {
            exchange.getResponseHeaders().set("Content-Type", "text/event-stream");
            exchange.sendResponseHeaders(200, 0);
            try (OutputStream out = exchange.getResponseBody()) {
                byte[] bytes = stream.getBytes(StandardCharsets.UTF_8);
                for (int i = 0; i < bytes.length; i += 7) { // in small pieces: lines split across reads
                    out.write(bytes, i, Math.min(7, bytes.length - i));
                    out.flush();
                }
            }
            served.countDown();
        });
        raw.start();
        try (CaskadeClient c = CaskadeClient.connect(
                        URI.create("http://127.0.0.1:" + raw.getAddress().getPort()), ClientOptions.defaults());
                RemoteWatch w = c.watch("", 4, false, events::add)) {
            RemoteEvent.Commit c5 = nextCommit();
            assertThat(c5.revision()).isEqualTo(5);
            assertThat(c5.commit().timestamp()).isEqualTo(9);
            assertThat(c5.commit().changes()).containsExactly(new Change(ChangeType.PUT, bytes("a"), bytes("x"), 77));
            RemoteEvent.Commit c6 = nextCommit();
            assertThat(c6.commit().changes())
                    .containsExactly(new Change(ChangeType.DELETE, new byte[] {(byte) 0xff}, new byte[0], 0));
            assertThat(next()).isEqualTo(new RemoteEvent.Overflow(6));
            RemoteEvent end = next();
            assertThat(end)
                    .isInstanceOfSatisfying(
                            RemoteEvent.Ended.class,
                            e -> assertThat(e.cause())
                                    .isInstanceOf(ClientException.class)
                                    .hasMessageContaining("overflowed"));
            assertThat(w.lastRevision()).isEqualTo(6);
            assertThat(served.await(WAIT.toMillis(), TimeUnit.MILLISECONDS)).isTrue();
        } finally {
            raw.stop(0);
        }
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
