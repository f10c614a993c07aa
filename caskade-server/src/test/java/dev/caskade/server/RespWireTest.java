package dev.caskade.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import redis.clients.jedis.Jedis;

/** The exact bytes on the wire: RESP2 vs RESP3 encodings, errors, malformed frames, and atomicity under races. */
class RespWireTest {
    @TempDir
    Path dir;

    RespFixture fx;

    @BeforeEach
    void start() {
        fx = new RespFixture(dir);
    }

    @AfterEach
    void stop() {
        fx.close();
    }

    private static String cmd(String... args) {
        StringBuilder sb = new StringBuilder("*").append(args.length).append("\r\n");
        for (String a : args) {
            sb.append('$')
                    .append(a.getBytes(StandardCharsets.UTF_8).length)
                    .append("\r\n")
                    .append(a)
                    .append("\r\n");
        }
        return sb.toString();
    }

    @Test
    void resp2AndResp3Encodings() {
        String r2 = fx.raw(cmd("GET", "nope") + cmd("HELLO", "2") + cmd("COMMAND", "DOCS"), 300);
        assertThat(r2).startsWith("$-1\r\n*14\r\n$6\r\nserver\r\n").endsWith("*0\r\n");
        String r3 = fx.raw(cmd("HELLO", "3") + cmd("GET", "nope") + cmd("CONFIG", "GET", "appendonly"), 300);
        assertThat(r3).startsWith("%7\r\n$6\r\nserver\r\n").contains("$5\r\nproto\r\n:3\r\n");
        assertThat(r3).endsWith("_\r\n%1\r\n$10\r\nappendonly\r\n$2\r\nno\r\n");
        assertThat(fx.raw(cmd("HELLO", "4"), 300)).isEqualTo("-NOPROTO unsupported protocol version\r\n");
    }

    @Test
    void inlineCommandsAndPipelining() {
        assertThat(fx.raw("PING\r\nSET a 1\r\nGET a\r\nECHO hi\r\n", 300))
                .isEqualTo("+PONG\r\n+OK\r\n$1\r\n1\r\n$2\r\nhi\r\n");
    }

    @Test
    void transactionsAbortAndFailWithRedisWording() {
        assertThat(fx.raw(cmd("MULTI") + cmd("SET", "k") + cmd("SET", "k", "v") + cmd("EXEC") + cmd("GET", "k"), 300))
                .isEqualTo("+OK\r\n-ERR wrong number of arguments for 'set' command\r\n+QUEUED\r\n"
                        + "-EXECABORT Transaction discarded because of previous errors.\r\n$-1\r\n");
        // a runtime error inside EXEC does not stop the other commands, as in Redis
        assertThat(fx.raw(
                        cmd("SET", "s", "x") + cmd("MULTI") + cmd("INCR", "s") + cmd("SET", "t", "1") + cmd("EXEC"),
                        300))
                .isEqualTo(
                        "+OK\r\n+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n-ERR value is not an integer or out of range\r\n+OK\r\n");
        assertThat(fx.raw(cmd("EXEC") + cmd("DISCARD") + cmd("MULTI") + cmd("MULTI"), 300))
                .isEqualTo(
                        "-ERR EXEC without MULTI\r\n-ERR DISCARD without MULTI\r\n+OK\r\n-ERR MULTI calls can not be nested\r\n");
    }

    @Test
    void caskadeExtensions() {
        String r = fx.raw(
                cmd("SET", "k", "v")
                        + cmd("CASKADE.REVISION")
                        + cmd("CASKADE.GET", "k")
                        + cmd("CASKADE.CAS", "k", "99", "x")
                        + cmd("CASKADE.CAS", "k", "1", "x")
                        + cmd("GET", "k")
                        + cmd("CASKADE.GET", "nope"),
                300);
        assertThat(r).isEqualTo("+OK\r\n:1\r\n*2\r\n$1\r\nv\r\n:1\r\n:0\r\n:1\r\n$1\r\nx\r\n$-1\r\n");
        String info = fx.raw(cmd("INFO"), 300);
        assertThat(info)
                .contains(
                        "caskade_revision:2",
                        "caskade_compacted_revision:0",
                        "caskade_pins_dropped:0",
                        "db0:keys=1,expires=0,avg_ttl=0",
                        "# Replication",
                        "# Clients");
    }

    @Test
    void malformedFrameGetsAnErrorAndTheConnectionCloses() throws IOException {
        for (String bad :
                List.of("*1\r\n$x\r\n", "*2147483647\r\n", "*1\r\n$2147483647\r\n", "*1\r\n:12\r\n", "$3\r\nfoo\r\n")) {
            try (Socket s = new Socket("127.0.0.1", fx.port())) {
                s.getOutputStream().write(bad.getBytes(StandardCharsets.UTF_8));
                String reply = RespFixture.readUntilQuiet(s, 2000);
                assertThat(reply).as("reply to %s", bad).startsWith("-ERR");
            }
        }
        try (Jedis j = new Jedis("127.0.0.1", fx.port())) {
            assertThat(j.ping()).isEqualTo("PONG");
        }
    }

    @Test
    void concurrentIncrementsAreAtomic() throws Exception {
        int threads = 4, perThread = 250;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                done.add(pool.submit(() -> {
                    try (Jedis j = new Jedis("127.0.0.1", fx.port())) {
                        for (int i = 0; i < perThread; i++) {
                            j.incr("counter");
                            j.append("log", "x");
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) f.get(30, TimeUnit.SECONDS);
        } finally {
            pool.shutdownNow();
        }
        try (Jedis j = new Jedis("127.0.0.1", fx.port())) {
            assertThat(j.get("counter")).isEqualTo(Integer.toString(threads * perThread));
            assertThat(j.strlen("log")).isEqualTo(threads * perThread);
        }
    }

    @Test
    void maxClientsRefusesTheExtraConnection(@TempDir Path other) throws IOException {
        try (RespFixture small = new RespFixture(other, RespOptions.defaults().withMaxClients(1));
                Socket first = new Socket("127.0.0.1", small.port())) {
            first.getOutputStream().write(cmd("PING").getBytes(StandardCharsets.UTF_8));
            assertThat(RespFixture.readUntilQuiet(first, 300)).isEqualTo("+PONG\r\n");
            assertThat(small.raw("", 1000)).isEqualTo("-ERR max number of clients reached\r\n");
        }
    }

    @Test
    void oversizedBulkAndIdleClientsAreCutOff(@TempDir Path other) throws IOException {
        RespOptions tight =
                RespOptions.defaults().withMaxRequestBytes(8).withIdleTimeout(java.time.Duration.ofMillis(300));
        try (RespFixture small = new RespFixture(other, tight)) {
            assertThat(small.raw(cmd("SET", "k", "123456789"), 1000))
                    .startsWith("-ERR Protocol error: invalid bulk length");
            assertThat(small.raw(cmd("SET", "k", "12345678") + cmd("GET", "k"), 200))
                    .isEqualTo("+OK\r\n$8\r\n12345678\r\n");
            try (Socket idle = new Socket("127.0.0.1", small.port())) {
                idle.setSoTimeout(5000);
                long t0 = System.nanoTime();
                assertThat(idle.getInputStream().read()).isEqualTo(-1); // closed by the server
                assertThat(System.nanoTime() - t0).isGreaterThan(200_000_000L);
            }
        }
    }

    @Test
    void expiryOptionsAndRanges() {
        String r = fx.raw(
                cmd("SET", "k", "Hello World")
                        + cmd("GETRANGE", "k", "-5", "-1")
                        + cmd("GETRANGE", "k", "0", "100")
                        + cmd("EXPIRE", "k", "100", "XX")
                        + cmd("EXPIRE", "k", "100", "NX")
                        + cmd("EXPIRE", "k", "50", "GT")
                        + cmd("EXPIRE", "k", "200", "GT")
                        + cmd("EXPIRE", "k", "300", "LT")
                        + cmd("TTL", "k")
                        + cmd("EXPIRE", "k", "10", "NX", "XX")
                        + cmd("EXPIRE", "k", "x")
                        + cmd("PERSIST", "k")
                        + cmd("TTL", "k"),
                300);
        assertThat(r)
                .isEqualTo("+OK\r\n$5\r\nWorld\r\n$11\r\nHello World\r\n:0\r\n:1\r\n:0\r\n:1\r\n:0\r\n:200\r\n"
                        + "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n"
                        + "-ERR value is not an integer or out of range\r\n:1\r\n:-1\r\n");
        long at = System.currentTimeMillis() / 1000 + 1000;
        String s = fx.raw(
                cmd("SET", "e", "v", "EXAT", Long.toString(at))
                        + cmd("EXPIRETIME", "e")
                        + cmd("GETEX", "e", "PERSIST")
                        + cmd("PEXPIRETIME", "e")
                        + cmd("SET", "e", "v", "EX", "0")
                        + cmd("SET", "e", "v", "EX", "1", "KEEPTTL")
                        + cmd("COPY", "e", "f")
                        + cmd("COPY", "e", "f")
                        + cmd("COPY", "e", "f", "REPLACE")
                        + cmd("RENAMENX", "e", "f")
                        + cmd("INCRBYFLOAT", "g", "10.5")
                        + cmd("INCRBYFLOAT", "g", "0.1")
                        + cmd("INCRBYFLOAT", "g", "abc"),
                300);
        assertThat(s)
                .isEqualTo("+OK\r\n:" + at + "\r\n$1\r\nv\r\n:-1\r\n-ERR invalid expire time in 'set' command\r\n"
                        + "-ERR syntax error\r\n:1\r\n:0\r\n:1\r\n:0\r\n$4\r\n10.5\r\n$4\r\n10.6\r\n"
                        + "-ERR value is not a valid float\r\n");
    }

    @Test
    void readsAnsweredOnTheEventLoopNeverOvertakeQueuedWrites(@TempDir Path other) throws Exception {
        // under SYNC writes run off the event loop and reads may be answered on it: commands sent one by one,
        // with jittered gaps so reads arrive while a write's reply is still on its way, must keep their order
        long seed = System.nanoTime();
        java.util.Random random = new java.util.Random(seed);
        try (RespFixture durable =
                        new RespFixture(other, RespOptions.defaults(), dev.caskade.Durability.parse("sync"));
                java.net.Socket s = new java.net.Socket("127.0.0.1", durable.port())) {
            s.setTcpNoDelay(true);
            java.io.OutputStream out = s.getOutputStream();
            StringBuilder expected = new StringBuilder();
            int rounds = 200;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            for (int i = 1; i <= rounds && System.nanoTime() < deadline; i++) {
                out.write(cmd("INCR", "n").getBytes(java.nio.charset.StandardCharsets.UTF_8));
                out.flush();
                if (random.nextBoolean()) java.util.concurrent.locks.LockSupport.parkNanos(random.nextInt(300_000));
                out.write(cmd("GET", "n").getBytes(java.nio.charset.StandardCharsets.UTF_8));
                out.flush();
                expected.append(':')
                        .append(i)
                        .append("\r\n$")
                        .append(Integer.toString(i).length())
                        .append("\r\n");
                expected.append(i).append("\r\n");
                if (random.nextInt(4) == 0) java.util.concurrent.locks.LockSupport.parkNanos(random.nextInt(300_000));
            }
            s.setSoTimeout(10_000);
            byte[] want = expected.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8);
            byte[] got = s.getInputStream().readNBytes(want.length);
            assertThat(new String(got, java.nio.charset.StandardCharsets.UTF_8))
                    .as("seed %d", seed)
                    .isEqualTo(expected.toString());
        }
    }

    @Test
    void syncDurabilityKeepsOrderAndAtomicity(@TempDir Path other) throws Exception {
        try (RespFixture durable =
                new RespFixture(other, RespOptions.defaults(), dev.caskade.Durability.parse("sync"))) {
            // pipelined commands run off the event loop under SYNC, but their replies keep the request order
            StringBuilder pipeline = new StringBuilder();
            StringBuilder expected = new StringBuilder();
            for (int i = 1; i <= 50; i++) {
                pipeline.append(cmd("INCR", "n")).append(cmd("GET", "n"));
                expected.append(':')
                        .append(i)
                        .append("\r\n$")
                        .append(Integer.toString(i).length())
                        .append("\r\n")
                        .append(i)
                        .append("\r\n");
            }
            assertThat(durable.raw(pipeline.toString(), 500)).isEqualTo(expected.toString());
            ExecutorService pool = Executors.newFixedThreadPool(4);
            try {
                List<Future<?>> done = new ArrayList<>();
                for (int t = 0; t < 4; t++) {
                    done.add(pool.submit(() -> {
                        try (Jedis j = new Jedis("127.0.0.1", durable.port())) {
                            for (int i = 0; i < 50; i++) j.incr("c");
                        }
                        return null;
                    }));
                }
                for (Future<?> f : done) f.get(30, TimeUnit.SECONDS);
            } finally {
                pool.shutdownNow();
            }
            try (Jedis j = new Jedis("127.0.0.1", durable.port())) {
                assertThat(j.get("c")).isEqualTo("200");
            }
        }
    }

    @Test
    void aSubscribeConfirmationNeverOvertakesAReplyHeldForItsFsync(@TempDir Path other) {
        try (RespFixture durable =
                new RespFixture(other, RespOptions.defaults(), dev.caskade.Durability.parse("sync"))) {
            for (int round = 0; round < 20; round++) {
                String ch = "ch" + round;
                assertThat(durable.raw(cmd("SET", "a", "1") + cmd("INCR", "n") + cmd("SUBSCRIBE", ch), 300))
                        .isEqualTo("+OK\r\n:" + (round + 1) + "\r\n*3\r\n$9\r\nsubscribe\r\n$" + ch.length() + "\r\n"
                                + ch + "\r\n:1\r\n");
            }
        }
    }
}
