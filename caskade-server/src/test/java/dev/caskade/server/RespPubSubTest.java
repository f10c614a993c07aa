package dev.caskade.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.caskade.Batch;
import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.Durability;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import redis.clients.jedis.DefaultJedisClientConfig;
import redis.clients.jedis.HostAndPort;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.JedisPubSub;
import redis.clients.jedis.RedisProtocol;

/** Pub/sub, keyspace notifications, CONFIG SET and CASKADE.WATCH over RESP, with real clients and raw frames. */
class RespPubSubTest {
    private static final Duration WAIT = Duration.ofSeconds(5);

    @TempDir
    Path dir;

    Caskade db;
    RespServer server;

    private void start(RespOptions options) {
        start(options, Durability.NONE);
    }

    private void start(RespOptions options, Durability durability) {
        db = Caskade.open(
                dir, CaskadeOptions.defaults().withDurability(durability).withReapInterval(Duration.ofMillis(20)));
        server = RespServer.start(db, options.withBindAddress("127.0.0.1").withPort(0));
    }

    private void start() {
        start(RespOptions.defaults());
    }

    @AfterEach
    void stop() {
        if (server != null) server.close();
        if (db != null) db.close();
    }

    private Jedis jedis(RedisProtocol protocol) {
        return new Jedis(
                new HostAndPort("127.0.0.1", server.port()),
                DefaultJedisClientConfig.builder()
                        .protocol(protocol)
                        .timeoutMillis(5000)
                        .build());
    }

    private RespSocket socket() {
        return new RespSocket(server.port());
    }

    private static RespSocket.Push push(Object... items) {
        return new RespSocket.Push(List.of(items));
    }

    /** Jedis's JedisPubSub on its own thread, collecting what it is told. */
    private static final class Listener extends JedisPubSub {
        final BlockingQueue<String> events = new LinkedBlockingQueue<>();

        @Override
        public void onMessage(String channel, String message) {
            events.add("message " + channel + " " + message);
        }

        @Override
        public void onPMessage(String pattern, String channel, String message) {
            events.add("pmessage " + pattern + " " + channel + " " + message);
        }

        @Override
        public void onSubscribe(String channel, int count) {
            events.add("subscribe " + channel + " " + count);
        }

        @Override
        public void onPSubscribe(String pattern, int count) {
            events.add("psubscribe " + pattern + " " + count);
        }

        @Override
        public void onUnsubscribe(String channel, int count) {
            events.add("unsubscribe " + channel + " " + count);
        }

        @Override
        public void onPUnsubscribe(String pattern, int count) {
            events.add("punsubscribe " + pattern + " " + count);
        }

        String next() throws InterruptedException {
            String e = events.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS);
            assertThat(e).as("an event within " + WAIT).isNotNull();
            return e;
        }
    }

    @ParameterizedTest
    @EnumSource(RedisProtocol.class)
    void jedisSubscribesPublishesAndCounts(RedisProtocol protocol) throws Exception {
        start();
        Listener listener = new Listener();
        try (Jedis sub = jedis(protocol);
                Jedis pub = jedis(RedisProtocol.RESP2)) {
            assertThat(sub.clientInfo()).contains(" resp=" + (protocol == RedisProtocol.RESP3 ? 3 : 2) + " ");
            Thread t = Thread.ofVirtual().start(() -> sub.subscribe(listener, "news"));
            assertThat(listener.next()).isEqualTo("subscribe news 1");
            listener.psubscribe("n*");
            assertThat(listener.next()).isEqualTo("psubscribe n* 2");

            assertThat(pub.publish("news", "hello")).isEqualTo(2);
            assertThat(List.of(listener.next(), listener.next()))
                    .containsExactlyInAnyOrder("message news hello", "pmessage n* news hello");
            assertThat(pub.publish("nope", "x")).isEqualTo(1); // only the pattern
            assertThat(listener.next()).isEqualTo("pmessage n* nope x");
            assertThat(pub.publish("other", "x")).isZero();

            assertThat(pub.pubsubChannels()).containsExactly("news");
            assertThat(pub.pubsubChannels("z*")).isEmpty();
            assertThat(pub.pubsubNumSub("news", "other"))
                    .containsEntry("news", 1L)
                    .containsEntry("other", 0L);
            assertThat(pub.pubsubNumPat()).isEqualTo(1);
            assertThat(pub.clientList()).contains("flags=P", "sub=1 psub=1");
            assertThat(pub.info("stats")).contains("pubsub_channels:1", "pubsub_patterns:1");
            assertThat(pub.info("clients")).contains("pubsub_clients:1");

            listener.unsubscribe();
            assertThat(listener.next()).isEqualTo("unsubscribe news 1");
            listener.punsubscribe();
            assertThat(listener.next()).isEqualTo("punsubscribe n* 0");
            t.join(WAIT.toMillis());
            assertThat(t.isAlive())
                    .as("subscribe() returns once nothing is subscribed")
                    .isFalse();
            assertThat(pub.pubsubNumPat()).isZero();
            assertThat(pub.pubsubChannels()).isEmpty();
            // the connection left subscribed mode and is an ordinary one again
            assertThat(sub.set("k", "v")).isEqualTo("OK");
        }
    }

    @Test
    void lettuceResp3PubSub() throws Exception {
        start();
        var client = io.lettuce.core.RedisClient.create(io.lettuce.core.RedisURI.builder()
                .withHost("127.0.0.1")
                .withPort(server.port())
                .withTimeout(WAIT)
                .build());
        try (var subConn = client.connectPubSub();
                var conn = client.connect()) {
            BlockingQueue<String> got = new LinkedBlockingQueue<>();
            subConn.addListener(new io.lettuce.core.pubsub.RedisPubSubAdapter<String, String>() {
                @Override
                public void message(String channel, String message) {
                    got.add(channel + "=" + message);
                }

                @Override
                public void message(String pattern, String channel, String message) {
                    got.add(pattern + ":" + channel + "=" + message);
                }
            });
            subConn.sync().subscribe("c1", "c2");
            subConn.sync().psubscribe("c*");
            // RESP3: a subscribed connection still runs ordinary commands
            assertThat(subConn.sync().set("k", "v")).isEqualTo("OK");
            assertThat(subConn.sync().get("k")).isEqualTo("v");
            assertThat(conn.sync().publish("c2", "hi")).isEqualTo(2);
            List<String> two = new ArrayList<>();
            for (int i = 0; i < 2; i++) two.add(got.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS));
            assertThat(two).containsExactlyInAnyOrder("c2=hi", "c*:c2=hi");
            assertThat(conn.sync().pubsubNumsub("c1", "c2"))
                    .containsEntry("c1", 1L)
                    .containsEntry("c2", 1L);
            subConn.sync().unsubscribe("c1");
            subConn.sync().punsubscribe("c*");
            assertThat(conn.sync().publish("c1", "gone")).isZero();
            assertThat(conn.sync().publish("c2", "still")).isEqualTo(1);
            assertThat(got.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS)).isEqualTo("c2=still");
        } finally {
            client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
        }
    }

    @Test
    void redisCliSubscribes() throws Exception {
        java.nio.file.Path cli = java.nio.file.Path.of("/usr/bin/redis-cli");
        org.junit.jupiter.api.Assumptions.assumeTrue(
                java.nio.file.Files.isExecutable(cli), "redis-cli is not installed (apt redis-tools); skipping");
        start();
        Process p = new ProcessBuilder(
                        cli.toString(), "-h", "127.0.0.1", "-p", Integer.toString(server.port()), "SUBSCRIBE", "ch")
                .redirectErrorStream(true)
                .start();
        try (var out = new java.io.BufferedReader(
                        new java.io.InputStreamReader(p.getInputStream(), java.nio.charset.StandardCharsets.UTF_8));
                Jedis pub = jedis(RedisProtocol.RESP2)) {
            BlockingQueue<String> lines = new LinkedBlockingQueue<>();
            Thread reader = Thread.ofVirtual().start(() -> out.lines().forEach(lines::add));
            List<String> confirmation = new ArrayList<>();
            for (int i = 0; i < 3; i++) confirmation.add(lines.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS));
            assertThat(confirmation).containsExactly("subscribe", "ch", "1");
            assertThat(pub.publish("ch", "hello cli")).isEqualTo(1);
            List<String> message = new ArrayList<>();
            for (int i = 0; i < 3; i++) message.add(lines.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS));
            assertThat(message).containsExactly("message", "ch", "hello cli");
            p.destroy();
            reader.join(WAIT.toMillis());
        } finally {
            p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        }
    }

    @Test
    void resp2SubscribedModeAllowsOnlyPubSubCommands() {
        start();
        try (RespSocket s = socket();
                RespSocket other = socket()) {
            assertThat(s.call("SUBSCRIBE", "a", "b")).isEqualTo(List.of("subscribe", "a", 1L));
            assertThat(s.read()).isEqualTo(List.of("subscribe", "b", 2L));
            assertThat(s.call("GET", "x"))
                    .isEqualTo(new RespSocket.Err("ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE"
                            + " / PING / QUIT / RESET are allowed in this context"));
            assertThat(s.call("NOSUCH")).isInstanceOf(RespSocket.Err.class);
            assertThat(s.call("PING")).isEqualTo(List.of("pong", ""));
            assertThat(s.call("PING", "hi")).isEqualTo(List.of("pong", "hi"));
            assertThat(other.call("PUBLISH", "b", "m1")).isEqualTo(1L);
            assertThat(s.read()).isEqualTo(List.of("message", "b", "m1"));
            assertThat(s.call("UNSUBSCRIBE")).isEqualTo(List.of("unsubscribe", "a", 1L));
            assertThat(s.read()).isEqualTo(List.of("unsubscribe", "b", 0L));
            assertThat(s.call("GET", "x")).isNull(); // out of subscribed mode
            assertThat(s.call("UNSUBSCRIBE")).isEqualTo(java.util.Arrays.asList("unsubscribe", null, 0L));
            assertThat(s.call("PUNSUBSCRIBE")).isEqualTo(java.util.Arrays.asList("punsubscribe", null, 0L));
            assertThat(s.call("UNSUBSCRIBE", "never")).isEqualTo(List.of("unsubscribe", "never", 0L));

            // RESET leaves subscribed mode without confirmations
            assertThat(s.call("PSUBSCRIBE", "p*")).isEqualTo(List.of("psubscribe", "p*", 1L));
            assertThat(s.call("RESET")).isEqualTo("RESET");
            assertThat(s.call("GET", "x")).isNull();
            assertThat(other.call("PUBLISH", "pq", "m")).isEqualTo(0L);

            // a transaction cannot hold a subscription; PUBLISH in one is sent once, after the commit
            assertThat(s.call("MULTI")).isEqualTo("OK");
            assertThat(s.call("SUBSCRIBE", "c"))
                    .isEqualTo(new RespSocket.Err("ERR Command not allowed inside a transaction"));
            assertThat(s.call("DISCARD")).isEqualTo("OK");
            assertThat(other.call("SUBSCRIBE", "c")).isEqualTo(List.of("subscribe", "c", 1L));
            assertThat(s.call("MULTI")).isEqualTo("OK");
            assertThat(s.call("SET", "k", "v")).isEqualTo("QUEUED");
            assertThat(s.call("PUBLISH", "c", "after")).isEqualTo("QUEUED");
            assertThat(s.call("EXEC")).isEqualTo(List.of("OK", 1L));
            assertThat(other.read()).isEqualTo(List.of("message", "c", "after"));
            assertThat(other.poll(200)).isSameAs(RespSocket.NOTHING);
        }
    }

    @Test
    void resp3SubscriptionsArePushesAndOtherCommandsStillRun() {
        start();
        try (RespSocket s = socket();
                RespSocket other = socket()) {
            assertThat(s.call("HELLO", "3")).isInstanceOf(Map.class);
            assertThat(s.call("SUBSCRIBE", "a")).isEqualTo(push("subscribe", "a", 1L));
            assertThat(s.call("GET", "x")).isNull();
            assertThat(s.call("PING")).isEqualTo("PONG");
            assertThat(other.call("PUBLISH", "a", "m")).isEqualTo(1L);
            assertThat(s.read()).isEqualTo(push("message", "a", "m"));
            assertThat(s.call("UNSUBSCRIBE", "a")).isEqualTo(push("unsubscribe", "a", 0L));
            assertThat(s.call("UNSUBSCRIBE"))
                    .isEqualTo(new RespSocket.Push(java.util.Arrays.asList("unsubscribe", null, 0L)));
        }
        // the exact bytes of a RESP3 confirmation
        RespFixtureRaw raw = new RespFixtureRaw(server.port());
        assertThat(raw.send("HELLO 3\r\nSUBSCRIBE ch\r\n")).endsWith(">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n");
    }

    /** Inline commands on a fresh connection, everything answered within 300 ms of quiet. */
    private record RespFixtureRaw(int port) {
        String send(String inline) {
            try (java.net.Socket s = new java.net.Socket("127.0.0.1", port)) {
                s.getOutputStream().write(inline.getBytes(java.nio.charset.StandardCharsets.UTF_8));
                return RespFixture.readUntilQuiet(s, 300);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }
    }

    @Test
    void subscriptionsPerConnectionAreLimited() {
        start(RespOptions.defaults().withMaxSubscriptions(3));
        try (RespSocket s = socket()) {
            s.call("HELLO", "3");
            s.send("SUBSCRIBE", "a", "b");
            assertThat(List.of(s.read(), s.read())).hasSize(2);
            RespSocket.Err tooMany = new RespSocket.Err(
                    "ERR too many subscriptions on this connection (limit 3 channels, patterns and watches)");
            assertThat(s.call("SUBSCRIBE", "c", "d")).isEqualTo(tooMany); // all or nothing
            assertThat(s.call("SUBSCRIBE", "a")).isEqualTo(push("subscribe", "a", 2L)); // already held: free
            assertThat(s.call("CASKADE.WATCH", "x/", "0")).isEqualTo("OK");
            assertThat(s.call("PSUBSCRIBE", "p*")).isEqualTo(tooMany);
            assertThat(s.call("CASKADE.WATCH", "y/", "0")).isEqualTo(tooMany);
            assertThat(s.call("CASKADE.UNWATCH", "x/")).isEqualTo(1L);
            assertThat(s.call("PSUBSCRIBE", "p*")).isEqualTo(push("psubscribe", "p*", 3L));
        }
    }

    @Test
    void connectionCloseReleasesSubscriptionsAndWatches() throws Exception {
        start();
        try (Jedis j = jedis(RedisProtocol.RESP2)) {
            try (RespSocket s = socket()) {
                s.call("HELLO", "3");
                s.call("SUBSCRIBE", "a");
                s.call("PSUBSCRIBE", "b*");
                assertThat(s.call("CASKADE.WATCH", "", "0")).isEqualTo("OK");
                assertThat(db.stats().watches()).isEqualTo(1);
            }
            await().atMost(WAIT).untilAsserted(() -> {
                assertThat(j.pubsubChannels()).isEmpty();
                assertThat(j.pubsubNumPat()).isZero();
                assertThat(db.stats().watches()).isZero();
            });
        }
    }

    /** Under SYNC, commands run off the event loop, which must not change what order frames arrive in. */
    enum Mode {
        NONE,
        SYNC
    }

    @ParameterizedTest
    @EnumSource(Mode.class)
    void noMessageFollowsItsUnsubscribeAndNoneComesBeforeItsSubscribe(Mode mode) throws Exception {
        start(RespOptions.defaults(), mode == Mode.SYNC ? Durability.SYNC : Durability.NONE);
        java.util.concurrent.atomic.AtomicBoolean running = new java.util.concurrent.atomic.AtomicBoolean(true);
        try (RespSocket s = socket();
                RespSocket w = socket()) {
            s.call("HELLO", "3");
            w.call("HELLO", "3");
            // a publisher and a writer that never stop while the subscriptions come and go
            Thread publisher = Thread.ofVirtual().start(() -> {
                try (Jedis pub = jedis(RedisProtocol.RESP2)) {
                    for (int i = 0; running.get() && i < 1_000_000; i++) pub.publish("ch", "m" + i);
                }
            });
            db.put("w/0", "first"); // history for the first watch
            Thread writer = Thread.ofVirtual().start(() -> {
                for (int i = 0; running.get() && i < 1_000_000; i++) {
                    db.put("w/" + (i % 10), "v" + i);
                    // at most ~10,000 commits a second: a watch must not overflow here, which is tested elsewhere
                    if (i % 10 == 0) java.util.concurrent.locks.LockSupport.parkNanos(1_000_000);
                }
            });
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            int messages = 0, commits = 0; // counted for a failure's message
            for (int round = 0; round < 30 && System.nanoTime() < deadline; round++) {
                // pub/sub: messages only between the confirmations
                assertThat(s.call("SUBSCRIBE", "ch")).isEqualTo(push("subscribe", "ch", 1L));
                // one message first, so more are in flight when UNSUBSCRIBE arrives
                assertThat(((RespSocket.Push) s.read()).items().get(0)).isEqualTo("message");
                messages++;
                s.send("UNSUBSCRIBE", "ch");
                Object f;
                while (!((f = s.read()) instanceof RespSocket.Push p
                        && p.items().get(0).equals("unsubscribe"))) {
                    assertThat(f).isInstanceOf(RespSocket.Push.class);
                    assertThat(((RespSocket.Push) f).items().get(0)).isEqualTo("message");
                    messages++;
                }
                // watches: commits only between +OK and the UNWATCH reply
                long from = Math.max(0, db.revision() - 20);
                assertThat(w.call("CASKADE.WATCH", "w/", Long.toString(from))).isEqualTo("OK");
                assertThat(((RespSocket.Push) w.read()).items().get(0)).isEqualTo("caskade.watch");
                commits++;
                w.send("CASKADE.UNWATCH");
                while (!((f = w.read()) instanceof Long)) {
                    assertThat(f).isInstanceOf(RespSocket.Push.class);
                    assertThat(((RespSocket.Push) f).items().get(0)).isEqualTo("caskade.watch");
                    commits++;
                }
                assertThat(f).isEqualTo(1L);
            }
            // after the last UNSUBSCRIBE/UNWATCH: silence, whatever is still published or written
            assertThat(s.poll(100)).as("after %d messages", messages).isSameAs(RespSocket.NOTHING);
            assertThat(w.poll(100)).as("after %d commits", commits).isSameAs(RespSocket.NOTHING);
            running.set(false);
            publisher.join(WAIT.toMillis());
            writer.join(WAIT.toMillis());
        } finally {
            running.set(false);
        }
    }

    // ---- keyspace notifications

    @Test
    void keyspaceNotificationsFromEveryWritePath() throws Exception {
        start();
        try (RespSocket s = socket();
                Jedis j = jedis(RedisProtocol.RESP2);
                HttpServer http = HttpServer.start(db, HttpOptions.defaults().withAddress("127.0.0.1", 0))) {
            assertThat(db.stats().watches()).as("off by default: no feed").isZero();
            assertThat(j.configSet("notify-keyspace-events", "KEA")).isEqualTo("OK");
            assertThat(j.configGet("notify-keyspace-events")).containsEntry("notify-keyspace-events", "AKE");
            assertThat(db.stats().watches()).isEqualTo(1);
            assertThat(s.call("PSUBSCRIBE", "__key*__:*")).isEqualTo(List.of("psubscribe", "__key*__:*", 1L));

            j.set("k", "v");
            expectEvent(s, "k", "set");
            j.incr("n"); // the change feed's name for any write, not "incrby"
            expectEvent(s, "n", "set");
            j.del("k");
            expectEvent(s, "k", "del");
            j.set("t", "v", redis.clients.jedis.params.SetParams.setParams().px(50));
            expectEvent(s, "t", "set");
            expectEvent(s, "t", "expired"); // the reaper's expiry, from the change feed
            db.put("embedded", "v");
            expectEvent(s, "embedded", "set");
            HttpResponse<String> r = HttpClient.newHttpClient()
                    .send(
                            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + http.port() + "/v1/kv/web"))
                                    .PUT(HttpRequest.BodyPublishers.ofString("v"))
                                    .build(),
                            HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).isEqualTo(200);
            expectEvent(s, "web", "set");
            // one commit with two keys: each announced, in commit order
            db.commit(Batch.create().put("b1", "x").delete("embedded"));
            expectEvent(s, "b1", "set");
            expectEvent(s, "embedded", "del");

            // flags filter: keyspace only, generic only: a set says nothing, a del is announced once
            assertThat(j.configSet("notify-keyspace-events", "Kg")).isEqualTo("OK");
            j.set("quiet", "v");
            j.del("quiet");
            assertThat(s.read()).isEqualTo(List.of("pmessage", "__key*__:*", "__keyspace@0__:quiet", "del"));
            assertThat(s.poll(300)).isSameAs(RespSocket.NOTHING);

            // off again: the feed is gone
            assertThat(j.configSet("notify-keyspace-events", "")).isEqualTo("OK");
            // the stream waits a while for the client to drain anything, then gives up
            await().atMost(WAIT).until(() -> db.stats().watches() == 0);
            j.set("silent", "v");
            assertThat(s.poll(300)).isSameAs(RespSocket.NOTHING);
            // classes Caskade never produces need no feed either
            assertThat(j.configSet("notify-keyspace-events", "Klh")).isEqualTo("OK");
            assertThat(db.stats().watches()).isZero();
        }
    }

    @Test
    void keyspaceFeedThatFallsBehindResumesWithoutLossOrRepeat() throws Exception {
        // a watch buffer of one commit: the notifier's watch overflows over and over during the burst below
        db = Caskade.open(
                dir, CaskadeOptions.defaults().withDurability(Durability.NONE).withWatchBuffer(1));
        server = RespServer.start(db, RespOptions.defaults().withPort(0));
        try (RespSocket s = socket()) {
            s.call("CONFIG", "SET", "notify-keyspace-events", "E$");
            assertThat(s.call("SUBSCRIBE", "__keyevent@0__:set"))
                    .isEqualTo(List.of("subscribe", "__keyevent@0__:set", 1L));
            int n = 3000;
            for (int i = 0; i < n; i++) db.put("k" + i, "v");
            for (int i = 0; i < n; i++) {
                assertThat(s.read()).as("event %d", i).isEqualTo(List.of("message", "__keyevent@0__:set", "k" + i));
            }
            assertThat(s.poll(200)).isSameAs(RespSocket.NOTHING);
            assertThat(db.stats().watches())
                    .as("one feed, however often it restarted")
                    .isEqualTo(1);
        }
    }

    private static void expectEvent(RespSocket s, String key, String event) {
        assertThat(s.read()).isEqualTo(List.of("pmessage", "__key*__:*", "__keyspace@0__:" + key, event));
        assertThat(s.read()).isEqualTo(List.of("pmessage", "__key*__:*", "__keyevent@0__:" + event, key));
    }

    // ---- CONFIG

    @Test
    void configSetChangesWhatCanChangeAndRefusesTheRest() throws Exception {
        start();
        try (Jedis j = jedis(RedisProtocol.RESP2)) {
            assertThat(j.configSet("maxclients", "2", "caskade-max-subscriptions", "7"))
                    .isEqualTo("OK");
            assertThat(j.configGet("maxclients")).containsEntry("maxclients", "2");
            assertThat(j.configGet("caskade-max-*")).containsEntry("caskade-max-subscriptions", "7");
            assertThat(server.options().maxSubscriptions()).isEqualTo(7);
            assertThat(j.configGet("notify-keyspace-events")).containsEntry("notify-keyspace-events", "");
            for (String[] spelling : new String[][] {{"Ex$", "$xE"}, {"AKEm", "AKEm"}, {"gK", "gK"}, {"", ""}}) {
                assertThat(j.configSet("notify-keyspace-events", spelling[0])).isEqualTo("OK");
                assertThat(j.configGet("NOTIFY-keyspace-events")).containsEntry("notify-keyspace-events", spelling[1]);
            }
            try (RespSocket s = socket()) {
                assertThat(s.call("CONFIG", "SET", "nosuch", "1"))
                        .isEqualTo(new RespSocket.Err(
                                "ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'"));
                assertThat(s.call("CONFIG", "SET", "notify-keyspace-events", "KQ"))
                        .isEqualTo(new RespSocket.Err("ERR CONFIG SET failed (possibly related to argument "
                                + "'notify-keyspace-events') - Invalid event class character. Use 'Ag$lshzxeKEtmdn'."));
                assertThat(s.call("CONFIG", "SET", "maxclients", "many"))
                        .isEqualTo(new RespSocket.Err("ERR CONFIG SET failed (possibly related to argument "
                                + "'maxclients') - argument couldn't be parsed into an integer"));
                assertThat(s.call("CONFIG", "SET", "maxclients", "0")).isInstanceOf(RespSocket.Err.class);
                assertThat(s.call("CONFIG", "SET", "save", "900 1"))
                        .isEqualTo(new RespSocket.Err("ERR CONFIG SET failed (possibly related to argument "
                                + "'save') - can't set immutable config"));
                assertThat(s.call("CONFIG", "SET", "timeout", "1", "timeout", "2"))
                        .isEqualTo(new RespSocket.Err("ERR CONFIG SET failed (possibly related to argument "
                                + "'timeout') - duplicate parameter"));
                assertThat(s.call("CONFIG", "SET", "maxclients"))
                        .isEqualTo(new RespSocket.Err("ERR wrong number of arguments for 'config|set' command"));
                // all or nothing
                assertThat(s.call("CONFIG", "SET", "maxclients", "50", "appendonly", "yes"))
                        .isInstanceOf(RespSocket.Err.class);
                assertThat(s.call("CONFIG", "GET", "maxclients")).isEqualTo(List.of("maxclients", "2"));
                // maxclients is in force: j and s are two clients already
                try (RespSocket third = socket()) {
                    assertThat(third.read()).isEqualTo(new RespSocket.Err("ERR max number of clients reached"));
                }
            }
            // timeout applies to connections already open; a subscriber is exempt, as in Redis
            assertThat(j.configSet("maxclients", "100", "timeout", "1")).isEqualTo("OK");
            try (RespSocket idle = socket();
                    RespSocket subscriber = socket()) {
                assertThat(subscriber.call("SUBSCRIBE", "x")).isEqualTo(List.of("subscribe", "x", 1L));
                assertThat(idle.call("PING")).isEqualTo("PONG");
                long t0 = System.nanoTime();
                assertThatThrownBy(() -> idle.poll(4000)).hasCauseInstanceOf(java.io.EOFException.class);
                assertThat(System.nanoTime() - t0).isLessThan(TimeUnit.MILLISECONDS.toNanos(3500));
                try (RespSocket publisher = socket()) {
                    assertThat(publisher.call("PUBLISH", "x", "alive")).isEqualTo(1L);
                }
                assertThat(subscriber.read()).isEqualTo(List.of("message", "x", "alive"));
            }
        }
    }

    // ---- CASKADE.WATCH

    /** The changes of a commit push, as "type key value" strings. */
    @SuppressWarnings("unchecked")
    private static List<String> changes(RespSocket.Push p) {
        List<String> out = new ArrayList<>();
        for (Object c : (List<Object>) p.items().get(4)) {
            List<Object> ch = (List<Object>) c;
            out.add(ch.get(0) + " " + ch.get(1) + " " + ch.get(2));
        }
        return out;
    }

    @Test
    void caskadeWatchDeliversHistoryThenLiveExactlyOnceInOrder() {
        start();
        long r1 = db.put("a/1", "x");
        db.put("b/1", "x");
        long r3 = db.put("a/2", "y");
        long r4 = db.delete("a/1");
        try (RespSocket s = socket()) {
            assertThat(s.call("CASKADE.WATCH", "a/", "0"))
                    .isEqualTo(new RespSocket.Err(
                            "ERR CASKADE.WATCH streams RESP3 pushes: switch the connection with" + " HELLO 3 first"));
            s.call("HELLO", "3");
            assertThat(s.call("CASKADE.WATCH", "a/", Long.toString(r1))).isEqualTo("OK");
            // history after r1 under a/: r3 and r4 (not b/1)
            RespSocket.Push p3 = (RespSocket.Push) s.read();
            assertThat(p3.items().subList(0, 3)).isEqualTo(List.of("caskade.watch", "a/", r3));
            assertThat((Long) p3.items().get(3)).isPositive(); // commit timestamp, epoch ms
            assertThat(changes(p3)).containsExactly("put a/2 y");
            RespSocket.Push p4 = (RespSocket.Push) s.read();
            assertThat(p4.items().get(2)).isEqualTo(r4);
            assertThat(changes(p4)).containsExactly("delete a/1 ");
            // then live, filtered to the prefix, one push per commit
            db.put("b/2", "x");
            long r6 = db.commit(Batch.create().put("a/3", "z").put("b/3", "z").put("a/4", "w", Duration.ofHours(1)));
            RespSocket.Push p6 = (RespSocket.Push) s.read();
            assertThat(p6.items().get(2)).isEqualTo(r6);
            assertThat(changes(p6)).containsExactly("put a/3 z", "put a/4 w");
            @SuppressWarnings("unchecked")
            List<Object> ttl = (List<Object>) ((List<Object>) p6.items().get(4)).get(1);
            assertThat((Long) ttl.get(3)).isGreaterThan(System.currentTimeMillis());
            // a subscribed RESP3 connection keeps running commands, its replies between the pushes
            assertThat(s.call("GET", "a/3")).isEqualTo("z");
            assertThat(s.call("CASKADE.WATCH", "a/", "0"))
                    .isEqualTo(new RespSocket.Err(
                            "ERR this connection already watches that prefix; CASKADE.UNWATCH" + " it first"));
            assertThat(s.call("HELLO", "2")).isInstanceOf(RespSocket.Err.class);
            assertThat(s.call("CASKADE.UNWATCH")).isEqualTo(1L);
            db.put("a/5", "gone");
            assertThat(s.poll(300)).isSameAs(RespSocket.NOTHING);
            assertThat(s.call("CASKADE.UNWATCH", "a/")).isEqualTo(0L);
        }
    }

    @Test
    void caskadeWatchBelowRetainedHistoryIsRefused() {
        db = Caskade.open(
                dir,
                CaskadeOptions.defaults()
                        .withDurability(Durability.NONE)
                        .withSegmentBytes(4096)
                        .withHistory(Duration.ZERO, 0));
        server = RespServer.start(db, RespOptions.defaults().withPort(0));
        for (int i = 0; i < 200; i++) db.put("k" + (i % 5), "v".repeat(100));
        assertThat(db.merge()).isTrue();
        long oldest = db.compactedRevision();
        assertThat(oldest).isPositive();
        try (RespSocket s = socket()) {
            s.call("HELLO", "3");
            assertThat(s.call("CASKADE.WATCH", "k", "0"))
                    .isEqualTo(new RespSocket.Err("ERR compacted: oldest revision " + oldest));
            assertThat(s.call("CASKADE.WATCH", "k", Long.toString(oldest))).isEqualTo("OK");
        }
    }

    @Test
    void caskadeWatchWithLettuce() throws Exception {
        start();
        long r1 = db.put("w/1", "one");
        var client = io.lettuce.core.RedisClient.create(io.lettuce.core.RedisURI.builder()
                .withHost("127.0.0.1")
                .withPort(server.port())
                .withTimeout(WAIT)
                .build());
        try (var conn = client.connect()) {
            BlockingQueue<io.lettuce.core.api.push.PushMessage> pushes = new LinkedBlockingQueue<>();
            conn.addListener(pushes::add);
            var codec = io.lettuce.core.codec.StringCodec.UTF8;
            String ok = conn.sync()
                    .dispatch(
                            () -> "CASKADE.WATCH".getBytes(java.nio.charset.StandardCharsets.US_ASCII),
                            new io.lettuce.core.output.StatusOutput<>(codec),
                            new io.lettuce.core.protocol.CommandArgs<>(codec)
                                    .add("w/")
                                    .add(0));
            assertThat(ok).isEqualTo("OK");
            long r2 = db.put("w/2", "two");
            List<Long> revisions = new ArrayList<>();
            for (int i = 0; i < 2; i++) {
                var m = pushes.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS);
                assertThat(m).isNotNull();
                assertThat(m.getType()).isEqualTo("caskade.watch");
                revisions.add((Long) m.getContent().get(2));
            }
            assertThat(revisions).containsExactly(r1, r2);
            assertThat(conn.sync().get("w/2")).isEqualTo("two");
        } finally {
            client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
        }
    }

    // ---- slow consumers

    @Test
    void slowSubscriberIsDisconnectedWithoutSlowingPublishers() throws Exception {
        start(RespOptions.defaults().withMaxPushBytes(1024 * 1024));
        String big = "m".repeat(64 * 1024);
        try (RespSocket slow = socket();
                RespSocket fast = socket();
                Jedis pub = jedis(RedisProtocol.RESP2);
                Jedis other = jedis(RedisProtocol.RESP2)) {
            assertThat(slow.call("SUBSCRIBE", "big")).isEqualTo(List.of("subscribe", "big", 1L));
            assertThat(fast.call("SUBSCRIBE", "big")).isEqualTo(List.of("subscribe", "big", 1L));
            // the fast subscriber reads everything as it comes
            BlockingQueue<Object> fastGot = new LinkedBlockingQueue<>();
            Thread reader = Thread.ofVirtual().start(() -> {
                try {
                    while (true) fastGot.add(fast.read());
                } catch (RuntimeException closed) {
                    // the test is over
                }
            });
            int sent = 0;
            long slowest = 0;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            long receivers = 2;
            while (receivers == 2 && sent < 2000 && System.nanoTime() < deadline) {
                long t0 = System.nanoTime();
                receivers = pub.publish("big", big);
                slowest = Math.max(slowest, System.nanoTime() - t0);
                sent++;
            }
            assertThat(receivers)
                    .as("the slow subscriber was dropped after %d messages", sent)
                    .isEqualTo(1);
            assertThat(slowest).as("no publish waited for the slow subscriber").isLessThan(TimeUnit.SECONDS.toNanos(2));
            long t0 = System.nanoTime();
            assertThat(other.set("k", "v")).isEqualTo("OK");
            assertThat(System.nanoTime() - t0).isLessThan(TimeUnit.SECONDS.toNanos(2));
            // the dropped connection is released on its own event loop, a moment after PUBLISH stopped counting it
            // (Redis too frees such a client asynchronously)
            await().atMost(WAIT)
                    .untilAsserted(() -> assertThat(pub.pubsubNumSub("big")).containsEntry("big", 1L));
            // the fast one got every message, in order
            for (int i = 0; i < sent; i++) {
                Object m = fastGot.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS);
                assertThat(m).as("message %d of %d", i, sent).isEqualTo(List.of("message", "big", big));
            }
            // the slow one reads what was sent before the cut, then the end of the connection
            int total = sent;
            assertThatThrownBy(() -> {
                        for (int i = 0; i <= total; i++) slow.read();
                    })
                    .isInstanceOf(java.io.UncheckedIOException.class);
            fast.socket.close(); // ends the reader thread
            reader.join(WAIT.toMillis());
        }
    }

    @Test
    void slowWatchStreamEndsWithTheRevisionToResumeFrom() {
        start(RespOptions.defaults().withMaxPushBytes(64 * 1024));
        String value = "v".repeat(8 * 1024);
        try (RespSocket s = socket()) {
            s.call("HELLO", "3");
            assertThat(s.call("CASKADE.WATCH", "", "0")).isEqualTo("OK");
            // the client reads nothing while 1000 commits of 8 KiB are made (more than socket buffers hold)
            int commits = 1000;
            for (int i = 1; i <= commits; i++) db.put("k" + i, value);
            // the stream waits a while for the client to drain anything, then gives up
            await().atMost(WAIT).until(() -> db.stats().watches() == 0);
            // what it then reads: commits 1..n without a gap, then the end with n as the resume point
            long expected = 1;
            Object f;
            while ((f = s.read()) instanceof RespSocket.Push p
                    && p.items().get(0).equals("caskade.watch")) {
                assertThat(p.items().get(2)).isEqualTo(expected);
                expected++;
            }
            long resumeFrom = expected - 1;
            assertThat(resumeFrom).isLessThan(commits);
            assertThat(f).isEqualTo(push("caskade.watch.end", "", resumeFrom, "overflow"));
            // the connection stays usable, and a watch from the resume point continues without a gap
            assertThat(s.call("PING")).isEqualTo("PONG");
            assertThat(s.call("CASKADE.WATCH", "", Long.toString(resumeFrom))).isEqualTo("OK");
            for (long r = resumeFrom + 1; r <= commits; r++) {
                RespSocket.Push p = (RespSocket.Push) s.read();
                assertThat(p.items().subList(0, 3)).isEqualTo(List.of("caskade.watch", "", r));
            }
        }
    }
}
