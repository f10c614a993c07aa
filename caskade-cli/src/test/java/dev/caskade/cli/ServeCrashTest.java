package dev.caskade.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.caskade.Caskade;
import dev.caskade.Entry;
import dev.caskade.VerifyReport;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kills the real {@code bin/caskade serve} with SIGKILL while 8 clients write to it (SET and MSET over the Redis
 * protocol, PUT over HTTP), restarts it on the same directory, and checks that every acknowledged write is there
 * with the last acknowledged value of its key, that an unacknowledged one is either wholly there or wholly absent,
 * and that an MSET is all or nothing. Each key has one writer, so "last acknowledged" is well defined.
 *
 * <p>The rounds cycle through the durabilities: {@code sync}, {@code none} and {@code interval:20}. A SIGKILL ends
 * the process, not the machine: under every durability a commit is acknowledged only after the OS has its bytes
 * (the fsync of {@code sync} protects against power loss, which this test cannot produce), so nothing acknowledged
 * may be lost in any of them.
 *
 * <p>{@code -Dcaskade.crash.serverKills=N} sets the number of kills (3 here, 50 with {@code -Pcrash});
 * {@code -Dcaskade.crash.seed=S} replays a run (the seed only fixes the kill times and value sizes: the
 * interleaving of the writers is up to the machine).
 */
class ServeCrashTest {
    private static final int RESP_WRITERS = 6;
    private static final int HTTP_WRITERS = 2;
    private static final int KEYS_PER_WRITER = 48;
    private static final int GROUP = 4;
    private static final List<String> DURABILITIES = List.of("sync", "none", "interval:20");
    private static final Pattern BANNER = Pattern.compile("caskade serving .*");

    @TempDir
    Path dir;

    @Test
    void everyAcknowledgedWriteSurvivesSigkill() throws Exception {
        Path root = LauncherTest.repositoryRoot();
        assumeTrue(root != null, "bin/caskade not found above " + System.getProperty("user.dir"));
        int kills = Integer.getInteger("caskade.crash.serverKills", 3);
        long seed = Long.getLong("caskade.crash.seed", System.nanoTime());
        System.out.printf("ServeCrashTest: seed %d (-Dcaskade.crash.seed=%d), %d kills%n", seed, seed, kills);
        Random random = new Random(seed);
        Path data = dir.resolve("store");
        List<Writer> writers = new ArrayList<>();
        for (int t = 0; t < RESP_WRITERS; t++) writers.add(new Writer("r" + t, false, seed + t));
        for (int t = 0; t < HTTP_WRITERS; t++) writers.add(new Writer("h" + t, true, seed + 100 + t));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60L + 30L * kills);

        for (int round = 0; round < kills; round++) {
            assertThat(System.nanoTime() - deadline)
                    .as("seed %d: time budget exhausted in round %d", seed, round)
                    .isNegative();
            String durability = DURABILITIES.get(round % DURABILITIES.size());
            try (Running server = Running.start(root, data, durability)) {
                String context = "seed " + seed + ", round " + round + " (" + durability + ")";
                checkAndSettle(server, writers, context);
                long acksBefore = acks(writers);
                List<Thread> threads = new ArrayList<>();
                for (Writer w : writers) threads.add(Thread.ofPlatform().start(() -> w.run(server)));
                // the kill comes a random time after the first acknowledgement, however slow the start
                long waitUntil = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (acks(writers) == acksBefore && System.nanoTime() - waitUntil < 0) Thread.sleep(1);
                long runMillis = 300 + random.nextInt(1_200);
                Thread.sleep(runMillis);
                server.kill();
                for (Thread t : threads) {
                    t.join(20_000);
                    assertThat(t.isAlive()).as("%s: a writer is stuck", context).isFalse();
                }
                for (Writer w : writers) {
                    assertThat(w.unexpected)
                            .as("%s: writer %s", context, w.name)
                            .isNull();
                }
                long acked = acks(writers) - acksBefore;
                System.out.printf(
                        "ServeCrashTest: round %d (%s) killed after %d ms, %d writes acknowledged%n",
                        round, durability, runMillis, acked);
                assertThat(acked)
                        .as("%s: writes were acknowledged before the kill", context)
                        .isPositive();
            }
        }

        // the last restart: check through the server, stop it gracefully, then check the directory itself
        try (Running server = Running.start(root, data, "sync")) {
            checkAndSettle(server, writers, "seed " + seed + ", final restart");
            server.terminate();
        }
        long kept = 0;
        long lost = 0;
        for (Writer w : writers) {
            kept += w.inFlightKept;
            lost += w.inFlightLost;
        }
        System.out.printf(
                "ServeCrashTest: unacknowledged writes in flight at the kills: %d keys found written, %d not%n",
                kept, lost);
        VerifyReport report = Caskade.verify(data);
        assertThat(report.ok()).as("seed %d: verify %s", seed, report).isTrue();
        Map<String, String> expected = new HashMap<>();
        for (Writer w : writers) expected.putAll(w.expectedValues());
        Map<String, String> actual = new HashMap<>();
        try (Caskade db = Caskade.open(data);
                Stream<Entry> all = db.scan("")) {
            all.forEach(e -> actual.put(e.keyString(), e.valueString()));
        }
        assertThat(actual)
                .as("seed %d: the store holds exactly the settled writes", seed)
                .isEqualTo(expected);
    }

    private static long acks(List<Writer> writers) {
        long n = 0;
        for (Writer w : writers) n += w.acks;
        return n;
    }

    /** Reads every key through the restarted server and checks it against what was acknowledged. */
    private static void checkAndSettle(Running server, List<Writer> writers, String context) throws IOException {
        try (Resp resp = Resp.connect(server.respPort)) {
            for (Writer w : writers) {
                List<String> keys = w.allKeys();
                List<String> values = new ArrayList<>();
                for (int i = 0; i < keys.size(); i += 64) {
                    List<String> chunk = keys.subList(i, Math.min(keys.size(), i + 64));
                    List<String> args = new ArrayList<>(List.of("MGET"));
                    args.addAll(chunk);
                    Object reply = resp.call(args);
                    assertThat(reply).as("%s: MGET reply", context).isInstanceOf(List.class);
                    for (Object o : (List<?>) reply) values.add((String) o);
                }
                w.settle(keys, values, context);
            }
        }
    }

    /**
     * One client and the keys only it writes: {@code NAME/kI} by single writes, and for Redis-protocol writers the
     * group {@code NAME/gI} written by MSET. A value is {@code s<seq>:} followed by a padding that the sequence
     * number fixes, so a value read back is either exactly one that was written, or wrong.
     */
    private static final class Writer {
        final String name;
        final boolean http;
        final Random random;
        /** Settled state: the value each key holds for sure (null = absent); updated only by settle(). */
        final Map<String, Long> settled = new LinkedHashMap<>();
        /** Written (attempted) but not acknowledged when the server died: each may or may not be there. */
        final Map<String, Long> inFlight = new HashMap<>();

        long seq;
        /** Written by the writer's thread only; volatile so that the test thread can watch it grow. */
        volatile long acks;
        /** Keys whose unacknowledged write turned out to be there after the restart, or not: both happen. */
        long inFlightKept;

        long inFlightLost;
        volatile Throwable unexpected;

        Writer(String name, boolean http, long seed) {
            this.name = name;
            this.http = http;
            this.random = new Random(seed);
            for (int i = 0; i < KEYS_PER_WRITER; i++) settled.put(name + "/k" + i, null);
            if (!http) for (int i = 0; i < GROUP; i++) settled.put(name + "/g" + i, null);
        }

        List<String> allKeys() {
            return List.copyOf(settled.keySet());
        }

        Map<String, String> expectedValues() {
            Map<String, String> m = new HashMap<>();
            settled.forEach((k, s) -> {
                if (s != null) m.put(k, value(s));
            });
            return m;
        }

        static String value(long seq) {
            return "s" + seq + ":" + "v".repeat((int) (seq * 7919 % 301));
        }

        static long seqOf(String value, String context, String key) {
            int colon = value.indexOf(':');
            assertThat(value)
                    .as("%s: %s holds a value nobody wrote", context, key)
                    .startsWith("s")
                    .matches("s\\d+:v*");
            long s = Long.parseLong(value.substring(1, colon));
            assertThat(value).as("%s: %s holds a damaged value", context, key).isEqualTo(value(s));
            return s;
        }

        /** Writes until the server goes away; every acknowledged write becomes the key's settled value. */
        void run(Running server) {
            try {
                if (http) runHttp(server.httpPort);
                else runResp(server.respPort);
            } catch (IOException expected) {
                // the server was killed: the write in flight, if any, stays in inFlight
            } catch (Throwable t) {
                unexpected = t;
            }
        }

        private void runResp(int port) throws IOException {
            try (Resp resp = Resp.connect(port)) {
                for (int n = 0; n < 1_000_000; n++) {
                    long s = ++seq;
                    if (random.nextInt(8) == 0) {
                        List<String> args = new ArrayList<>(List.of("MSET"));
                        for (int i = 0; i < GROUP; i++) {
                            String key = name + "/g" + i;
                            args.add(key);
                            args.add(value(s));
                            inFlight.put(key, s);
                        }
                        Object reply = resp.call(args);
                        assertThat(reply).as("MSET reply").isEqualTo("OK");
                        for (int i = 0; i < GROUP; i++) acknowledge(name + "/g" + i, s);
                    } else {
                        String key = name + "/k" + random.nextInt(KEYS_PER_WRITER);
                        inFlight.put(key, s);
                        Object reply = resp.call(List.of("SET", key, value(s)));
                        assertThat(reply).as("SET reply").isEqualTo("OK");
                        acknowledge(key, s);
                    }
                    acks++;
                }
            }
        }

        private void runHttp(int port) throws IOException, InterruptedException {
            try (HttpClient client = HttpClient.newBuilder()
                    .connectTimeout(Duration.ofSeconds(5))
                    .build()) {
                for (int n = 0; n < 1_000_000; n++) {
                    long s = ++seq;
                    String key = name + "/k" + random.nextInt(KEYS_PER_WRITER);
                    inFlight.put(key, s);
                    HttpResponse<String> put = client.send(
                            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/kv/" + key))
                                    .timeout(Duration.ofSeconds(10))
                                    .PUT(HttpRequest.BodyPublishers.ofString(value(s)))
                                    .build(),
                            HttpResponse.BodyHandlers.ofString());
                    assertThat(put.statusCode())
                            .as("PUT %s: %s", key, put.body())
                            .isEqualTo(200);
                    acknowledge(key, s);
                    acks++;
                }
            }
        }

        private void acknowledge(String key, long s) {
            inFlight.remove(key);
            settled.put(key, s);
        }

        /**
         * Checks what the restarted server holds: each key has its settled value or, if a write to it was in flight
         * at the kill, that write's value; the MSET group is all one or all the other. Then makes what was read the
         * settled state, so that a write that was in flight and survived must survive every later kill too.
         */
        void settle(List<String> keys, List<String> values, String context) {
            Map<String, Long> read = new HashMap<>();
            for (int i = 0; i < keys.size(); i++) {
                String key = keys.get(i);
                String v = values.get(i);
                Long got = v == null ? null : seqOf(v, context, key);
                Long was = settled.get(key);
                Long maybe = inFlight.get(key);
                assertThat(java.util.Objects.equals(got, was) || (maybe != null && maybe.equals(got)))
                        .as(
                                "%s: %s holds %s, but the last acknowledged write was %s and the one in flight %s",
                                context, key, got, was, maybe)
                        .isTrue();
                read.put(key, got);
                if (maybe != null && !maybe.equals(was)) {
                    if (maybe.equals(got)) inFlightKept++;
                    else inFlightLost++;
                }
            }
            if (!http) {
                List<Long> group = new ArrayList<>();
                for (int i = 0; i < GROUP; i++) group.add(read.get(name + "/g" + i));
                assertThat(Collections.frequency(group, group.get(0)))
                        .as("%s: MSET of %s is all or nothing, found %s", context, name, group)
                        .isEqualTo(GROUP);
            }
            settled.putAll(read);
            inFlight.clear();
        }
    }

    /** A running {@code bin/caskade serve}, its ports, and the JVM's own pid. */
    private static final class Running implements AutoCloseable {
        final Process process;
        final int respPort;
        final int httpPort;
        final ConcurrentLinkedDeque<String> log;

        private Running(Process process, int respPort, int httpPort, ConcurrentLinkedDeque<String> log) {
            this.process = process;
            this.respPort = respPort;
            this.httpPort = httpPort;
            this.log = log;
        }

        static Running start(Path root, Path data, String durability) throws Exception {
            ProcessBuilder pb = new ProcessBuilder(
                            root.resolve("bin/caskade").toString(),
                            "serve",
                            "--data",
                            data.toString(),
                            "--resp-port",
                            "0",
                            "--http-port",
                            "0",
                            "--durability",
                            durability)
                    .directory(data.getParent().toFile())
                    .redirectErrorStream(true)
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
            Map<String, String> env = pb.environment();
            env.put("CASKADE_CLASSPATH", LauncherTest.classPath());
            env.put("JAVA_HOME", System.getProperty("java.home"));
            env.put("CASKADE_JAVA_OPTS", "-Xmx256m -XX:TieredStopAtLevel=1");
            for (String v : List.of("CASKADE_DATA", "CASKADE_RESP_PORT", "CASKADE_HTTP_PORT", "CASKADE_DURABILITY"))
                env.remove(v);
            Process p = pb.start();
            ConcurrentLinkedDeque<String> log = new ConcurrentLinkedDeque<>();
            BlockingQueue<String> banner = new LinkedBlockingQueue<>();
            Thread.ofVirtual().start(() -> {
                try (BufferedReader r =
                        new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                    for (String line; (line = r.readLine()) != null; ) {
                        log.add(line);
                        if (log.size() > 200) log.poll();
                        if (BANNER.matcher(line).matches()) banner.add(line);
                    }
                } catch (IOException e) {
                    log.add("read failed: " + e);
                }
                banner.add("(output ended)");
            });
            try {
                String line = banner.poll(60, TimeUnit.SECONDS);
                assertThat(line).as("startup line; output: %s", log).isNotNull().startsWith("caskade serving");
                // serve.json of the killed server may still be there: the banner says the new one is written
                String json = Files.readString(data.resolve("serve.json"));
                assertThat(longField(json, "pid"))
                        .as("serve.json names the JVM we will kill (bin/caskade must exec java)")
                        .isEqualTo(p.pid());
                return new Running(p, (int) longField(json, "respPort"), (int) longField(json, "httpPort"), log);
            } catch (Throwable t) {
                p.destroyForcibly();
                throw t;
            }
        }

        /** SIGKILL to the JVM itself. */
        void kill() throws InterruptedException {
            process.destroyForcibly();
            assertThat(process.waitFor(30, TimeUnit.SECONDS))
                    .as("dies on SIGKILL")
                    .isTrue();
            assertThat(process.exitValue()).as("exit status of a SIGKILL").isEqualTo(128 + 9);
        }

        /** SIGTERM: the graceful stop. */
        void terminate() throws Exception {
            new ProcessBuilder("kill", "-TERM", Long.toString(process.pid()))
                    .start()
                    .waitFor(10, TimeUnit.SECONDS);
            assertThat(process.waitFor(30, TimeUnit.SECONDS))
                    .as("stops on SIGTERM")
                    .isTrue();
            // the JVM's status after a SIGTERM whose shutdown hook ran: 128 + 15
            assertThat(process.exitValue()).as("output: %s", log).isIn(0, 128 + 15);
        }

        @Override
        public void close() {
            if (process.isAlive()) process.destroyForcibly();
            // the next round reopens the directory: the dead JVM must have let go of its lock
            process.onExit().orTimeout(30, TimeUnit.SECONDS).join();
        }

        private static long longField(String json, String name) {
            Matcher m = Pattern.compile("\"" + name + "\"\\s*:\\s*(\\d+)").matcher(json);
            assertThat(m.find()).as("%s in %s", name, json).isTrue();
            return Long.parseLong(m.group(1));
        }
    }

    /** Just enough of a Redis-protocol client: commands out as arrays of bulk strings, RESP2 replies in. */
    private static final class Resp implements AutoCloseable {
        private final Socket socket;
        private final OutputStream out;
        private final InputStream in;

        private Resp(Socket socket) throws IOException {
            this.socket = socket;
            this.out = new BufferedOutputStream(socket.getOutputStream());
            this.in = new BufferedInputStream(socket.getInputStream());
        }

        static Resp connect(int port) throws IOException {
            Socket s = new Socket();
            try {
                s.connect(new InetSocketAddress("127.0.0.1", port), 5_000);
                s.setSoTimeout(10_000);
                s.setTcpNoDelay(true);
                return new Resp(s);
            } catch (IOException e) {
                s.close();
                throw e;
            }
        }

        Object call(List<String> args) throws IOException {
            out.write(('*' + Integer.toString(args.size()) + "\r\n").getBytes(StandardCharsets.US_ASCII));
            for (String a : args) {
                byte[] b = a.getBytes(StandardCharsets.UTF_8);
                out.write(('$' + Integer.toString(b.length) + "\r\n").getBytes(StandardCharsets.US_ASCII));
                out.write(b);
                out.write('\r');
                out.write('\n');
            }
            out.flush();
            return reply();
        }

        private Object reply() throws IOException {
            int type = in.read();
            if (type < 0) throw new EOFException("connection closed");
            String line = line();
            return switch (type) {
                case '+' -> line;
                case '-' -> throw new AssertionError("error reply: " + line);
                case ':' -> Long.parseLong(line);
                case '$' -> {
                    int n = Integer.parseInt(line);
                    if (n < 0) yield null;
                    byte[] b = in.readNBytes(n + 2);
                    if (b.length < n + 2) throw new EOFException("connection closed in a bulk string");
                    yield new String(b, 0, n, StandardCharsets.UTF_8);
                }
                case '*' -> {
                    int n = Integer.parseInt(line);
                    List<Object> items = new ArrayList<>();
                    for (int i = 0; i < n; i++) items.add(reply());
                    yield items;
                }
                default -> throw new AssertionError("unexpected reply type " + (char) type);
            };
        }

        private String line() throws IOException {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            for (int c; (c = in.read()) != '\r'; ) {
                if (c < 0) throw new EOFException("connection closed in a reply");
                b.write(c);
            }
            if (in.read() != '\n') throw new IOException("bad line end");
            return b.toString(StandardCharsets.UTF_8);
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }
}
