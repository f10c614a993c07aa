package dev.caskade.server;

import static java.nio.charset.StandardCharsets.ISO_8859_1;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.ThrowableProxyUtil;
import ch.qos.logback.core.read.ListAppender;
import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.Durability;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * Random and mutated HTTP requests for every route on raw sockets: each gets a well-formed status line (never a
 * 5xx) or a closed connection within a bounded time, nothing is logged at WARN or above, a well-behaved JDK
 * client keeps doing round trips throughout, and the store verifies clean afterwards.
 *
 * <p>Reproduce with {@code -Dcaskade.fuzz.seed=<seed>}; run longer with {@code -Dcaskade.fuzz.millis=<ms>}.
 * With several fuzzing threads the interleaving differs between runs, but each thread's inputs do not.
 */
class HttpFuzzTest {
    private static final int FUZZERS = 3;
    private static final int MAX_CASES = 1500;
    private static final long DEFAULT_MILLIS = 6000;
    /** How long a request may stay unanswered before we send EOF (it may be incomplete on purpose). */
    private static final long PATIENCE_MILLIS = 250;
    /** After EOF the server must answer or close within this. */
    private static final long ANSWER_MILLIS = 5000;

    private static final Pattern STATUS_LINE = Pattern.compile("HTTP/1\\.[01] ([1-5]\\d\\d)(?: [^\\r\\n]*)?");
    /** {@code -Dcaskade.fuzz.verbose=true} prints every request with its outcome. */
    private static final boolean VERBOSE = Boolean.getBoolean("caskade.fuzz.verbose");

    private static final String WS_KEY = "dGhlIHNhbXBsZSBub25jZQ==";

    private record Outcome(String kind, int status, String detail) {}

    @Test
    void randomAndMutatedRequests(@TempDir Path dir) throws Exception {
        long seed = Long.getLong("caskade.fuzz.seed", System.nanoTime());
        long millis = Long.getLong("caskade.fuzz.millis", DEFAULT_MILLIS);
        System.out.println("HttpFuzzTest seed: " + seed + " (-Dcaskade.fuzz.seed=" + seed + ")");
        Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        ListAppender<ILoggingEvent> log = new ListAppender<>();
        log.start();
        root.addAppender(log);
        List<String> problems = Collections.synchronizedList(new ArrayList<>());
        Map<String, AtomicInteger> outcomes = new ConcurrentHashMap<>();
        AtomicInteger cases = new AtomicInteger();
        AtomicInteger healthyRounds = new AtomicInteger();
        try {
            try (HttpFixture fx = new HttpFixture(
                    dir,
                    CaskadeOptions.defaults().withDurability(Durability.NONE),
                    o -> o.withMaxRequestBytes(256 * 1024)
                            .withTimeouts(Duration.ofSeconds(30), Duration.ofSeconds(2)))) {
                fx.put("/v1/kv/fuzz/a", "seeded"); // something for GET, If-Match and the watches to find
                // warm up every route first, so that a slow first answer is not cut short by our EOF
                Random warm = new Random(seed);
                for (int i = 0; i < 40; i++) exchange(fx.server.port(), valid(warm));
                long deadline = System.nanoTime() + Duration.ofMillis(millis).toNanos();
                AtomicBoolean fuzzing = new AtomicBoolean(true);
                Thread healthy = Thread.ofVirtual().start(() -> {
                    for (int i = 0; fuzzing.get() && i < 100_000; i++) {
                        try {
                            String value = "v" + i + "-" + seed;
                            HttpResponse<byte[]> put = fx.put("/v1/kv/healthy/" + i, value);
                            HttpResponse<byte[]> get = fx.get("/v1/kv/healthy/" + i);
                            if (put.statusCode() != 200
                                    || get.statusCode() != 200
                                    || !HttpFixture.text(get).equals(value)) {
                                problems.add("healthy client round " + i + ": PUT " + put.statusCode() + ", GET "
                                        + get.statusCode() + " " + HttpFixture.text(get));
                                return;
                            }
                            healthyRounds.incrementAndGet();
                        } catch (RuntimeException e) {
                            problems.add("healthy client round " + i + " failed: " + e);
                            return;
                        }
                    }
                });
                List<Thread> fuzzers = new ArrayList<>();
                for (int f = 0; f < FUZZERS; f++) {
                    Random rnd = new Random(seed + f);
                    int fuzzer = f;
                    fuzzers.add(Thread.ofVirtual().start(() -> {
                        for (int n = 0; System.nanoTime() < deadline && cases.incrementAndGet() <= MAX_CASES; n++) {
                            byte[] request = new byte[0];
                            Outcome o;
                            try {
                                request = request(rnd);
                                o = exchange(fx.server.port(), request);
                            } catch (IOException | RuntimeException e) {
                                o = new Outcome("error", 0, e.toString());
                            }
                            outcomes.computeIfAbsent(
                                            o.kind() + (o.status() > 0 ? " " + o.status() : ""),
                                            k -> new AtomicInteger())
                                    .incrementAndGet();
                            if (VERBOSE)
                                System.out.println("fuzz " + fuzzer + "/" + n + " " + o.kind() + " " + o.status()
                                        + " <- " + printable(request, 160));
                            if (!o.kind().equals("answered") && !o.kind().equals("closed") || o.status() >= 500) {
                                problems.add("fuzzer " + fuzzer + " case " + n + ": " + o.kind() + " " + o.status()
                                        + " " + o.detail() + "\n    for: " + printable(request));
                            }
                        }
                    }));
                }
                for (Thread t : fuzzers) t.join();
                fuzzing.set(false);
                healthy.join(HttpFixture.TIMEOUT.toMillis() * 2);
                assertThat(healthy.isAlive())
                        .as("seed %d: the healthy client hangs", seed)
                        .isFalse();

                // still serving after all that
                assertThat(fx.get("/healthz").statusCode()).isEqualTo(200);
                assertThat(fx.put("/v1/kv/after", "fuzz").statusCode()).isEqualTo(200);
                assertThat(HttpFixture.text(fx.get("/v1/kv/after"))).isEqualTo("fuzz");
                assertThat(fx.db.get("healthy/0").map(e -> e.valueString()))
                        .as("seed %d", seed)
                        .contains("v0-" + seed);
            }
            System.out.println("HttpFuzzTest: " + Math.min(cases.get(), MAX_CASES) + " requests, " + healthyRounds.get()
                    + " healthy round trips, outcomes " + new TreeMap<>(toCounts(outcomes)));
            for (ILoggingEvent e : log.list) {
                if (e.getLevel().isGreaterOrEqual(Level.WARN)) {
                    problems.add("logged " + e.getLevel() + " " + e.getLoggerName() + ": " + e.getFormattedMessage()
                            + (e.getThrowableProxy() == null
                                    ? ""
                                    : "\n" + ThrowableProxyUtil.asString(e.getThrowableProxy())));
                }
            }
            assertThat(problems).as("seed %d", seed).isEmpty();
            assertThat(cases.get()).as("seed %d", seed).isGreaterThan(100);
            assertThat(healthyRounds.get()).as("seed %d", seed).isGreaterThan(10);
            assertThat(Caskade.verify(dir).ok())
                    .as("seed %d: %s", seed, Caskade.verify(dir))
                    .isTrue();
        } catch (AssertionError | RuntimeException e) {
            System.err.println("HttpFuzzTest seed: " + seed);
            throw e;
        } finally {
            root.detachAppender(log);
        }
    }

    /** Found by this fuzzer: a JSON {@code null} as a transaction is bad input, not a server error (was 500). */
    @Test
    void aTransactionOfJsonNullIs400(@TempDir Path dir) throws IOException {
        try (HttpFixture fx = new HttpFixture(dir)) {
            HttpResponse<byte[]> r = fx.post("/v1/txn", "null");
            assertThat(r.statusCode()).as(HttpFixture.text(r)).isEqualTo(400);
            assertThat(HttpFixture.json(r).get("code").asInt()).isEqualTo(400);
            assertThat(fx.db.revision()).isZero();
        }
    }

    /**
     * Found by this fuzzer: bad percent-encoding in the query string gets a 400, as it does in the path; it used
     * to close the connection without an answer.
     */
    @Test
    void badPercentEncodingInTheQueryIs400(@TempDir Path dir) throws IOException {
        try (HttpFixture fx = new HttpFixture(dir)) {
            for (String target :
                    List.of("/v1/kv?prefix=%", "/v1/kv?prefix=%G1", "/v1/watch?prefix=%4", "/v1/digest?prefix=%zz")) {
                Outcome o = exchange(
                        fx.server.port(), ("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n").getBytes(ISO_8859_1));
                assertThat(o).as(target).isEqualTo(new Outcome("answered", 400, "HTTP/1.1 400 Bad Request"));
            }
            assertThat(fx.get("/healthz").statusCode()).isEqualTo(200);
        }
    }

    private static Map<String, Integer> toCounts(Map<String, AtomicInteger> m) {
        Map<String, Integer> out = new TreeMap<>();
        m.forEach((k, v) -> out.put(k, v.get()));
        return out;
    }

    /**
     * Sends {@code request} and waits for the first status line. A request that stays unanswered for a moment
     * may be incomplete on purpose, so then we send EOF, after which the server must answer or close.
     */
    private static Outcome exchange(int port, byte[] request) throws IOException {
        try (Socket s = new Socket("127.0.0.1", port)) {
            InputStream in = s.getInputStream();
            ByteArrayOutputStream got = new ByteArrayOutputStream();
            try {
                s.getOutputStream().write(request);
                s.getOutputStream().flush();
            } catch (IOException closedEarly) {
                // it hung up mid-request (too large, malformed): what it wrote before may still be readable
            }
            long start = System.nanoTime();
            String read = readLine(s, in, got, start + PATIENCE_MILLIS * 1_000_000);
            if (read.equals("timeout")) {
                try {
                    s.shutdownOutput();
                } catch (IOException alreadyClosed) {
                    // a close is on the way
                }
                read = readLine(s, in, got, System.nanoTime() + ANSWER_MILLIS * 1_000_000);
            }
            String text = got.toString(ISO_8859_1);
            switch (read) {
                case "timeout" -> {
                    return new Outcome(
                            "hang", 0, "no answer and no close within " + ANSWER_MILLIS + " ms; got: " + text);
                }
                case "eof" -> {
                    if (got.size() == 0) return new Outcome("closed", 0, "");
                    return new Outcome("malformed", 0, "a partial line before the close: " + text);
                }
                default -> {
                    String line = text.substring(0, text.indexOf("\r\n"));
                    Matcher m = STATUS_LINE.matcher(line);
                    if (!m.matches()) return new Outcome("malformed", 0, "status line: " + line);
                    int status = Integer.parseInt(m.group(1));
                    if (status >= 500) {
                        // the body says why: read what follows for a moment for the report
                        readLine(s, in, got, System.nanoTime() + 200_000_000L, true);
                        return new Outcome("answered", status, got.toString(ISO_8859_1));
                    }
                    return new Outcome("answered", status, line);
                }
            }
        }
    }

    private static String readLine(Socket s, InputStream in, ByteArrayOutputStream got, long deadline)
            throws IOException {
        return readLine(s, in, got, deadline, false);
    }

    /** Reads until {@code got} holds a CRLF ("line"), EOF or reset ("eof"), or the deadline ("timeout"). */
    private static String readLine(Socket s, InputStream in, ByteArrayOutputStream got, long deadline, boolean all)
            throws IOException {
        byte[] buf = new byte[8192];
        while (true) {
            if (!all && got.toString(ISO_8859_1).contains("\r\n")) return "line";
            long left = (deadline - System.nanoTime()) / 1_000_000;
            if (left <= 0) return "timeout";
            s.setSoTimeout((int) Math.max(1, left));
            int n;
            try {
                n = in.read(buf);
            } catch (SocketTimeoutException e) {
                continue;
            } catch (IOException reset) {
                n = -1;
            }
            if (n < 0) return !all && got.toString(ISO_8859_1).contains("\r\n") ? "line" : "eof";
            got.write(buf, 0, n);
        }
    }

    // ---- generation

    /** A valid request of a random route, then (mostly) mutated. */
    private static byte[] request(Random rnd) {
        int kind = rnd.nextInt(20);
        return switch (kind) {
            case 0 -> valid(rnd);
            case 1 -> flip(rnd, valid(rnd));
            case 2 -> insert(rnd, valid(rnd));
            case 3 -> delete(rnd, valid(rnd));
            case 4 -> {
                byte[] b = valid(rnd);
                yield Arrays.copyOf(b, rnd.nextInt(b.length + 1));
            }
            case 5 -> duplicateHeader(rnd, valid(rnd));
            case 6 -> contentLength(rnd);
            case 7 -> chunked(rnd);
            case 8 -> badPercent(rnd);
            case 9 -> badUtf8(rnd);
            case 10 -> badJson(rnd);
            case 11 -> longLines(rnd);
            case 12 -> bareLf(valid(rnd));
            case 13 -> oddProtocol(rnd);
            case 14 -> {
                byte[] b = new byte[1 + rnd.nextInt(256)];
                rnd.nextBytes(b);
                yield b;
            }
            case 15 -> concat(valid(rnd), flip(rnd, valid(rnd)));
            case 16 -> badParams(rnd);
            case 17 -> badHeaders(rnd);
            case 18 -> webSocket(rnd);
            default -> flip(rnd, insert(rnd, valid(rnd)));
        };
    }

    private static byte[] valid(Random rnd) {
        String key = pick(rnd, "fuzz/a", "fuzz/b", "fuzz/%C3%A9t%C3%A9", "fuzz/sp%20ace", "fuzz/" + rnd.nextInt(50));
        return switch (rnd.nextInt(13)) {
            case 0 -> http("GET", "/v1/kv/" + key, List.of(), null);
            case 1 -> http("PUT", "/v1/kv/" + key, List.of(), value(rnd));
            case 2 -> http("PUT", "/v1/kv/" + key + "?ttl=" + (1 + rnd.nextInt(100)), List.of(), value(rnd));
            case 3 ->
                http(
                        "PUT",
                        "/v1/kv/" + key,
                        List.of(rnd.nextBoolean() ? "If-Match: \"" + rnd.nextInt(5) + "\"" : "If-None-Match: *"),
                        value(rnd));
            case 4 -> http("DELETE", "/v1/kv/" + key, List.of(), null);
            case 5 ->
                http(
                        "GET",
                        "/v1/kv?prefix=fuzz/&limit=" + (1 + rnd.nextInt(10))
                                + (rnd.nextBoolean() ? "&after=fuzz/a" : ""),
                        List.of(),
                        null);
            case 6 -> http("POST", "/v1/txn", List.of("Content-Type: application/json"), txn(rnd).getBytes(UTF_8));
            case 7 ->
                http(
                        "GET",
                        "/v1/watch?prefix=fuzz/" + pick(rnd, "&from=0", "&snapshot=true", "", "&from=1"),
                        List.of("Accept: text/event-stream"),
                        null);
            case 8 -> http("GET", "/v1/digest?prefix=" + pick(rnd, "fuzz/", "", "%FF"), List.of(), null);
            case 9 -> http("GET", "/v1/status", List.of(), null);
            case 10 -> http("GET", "/metrics", List.of(), null);
            case 11 -> http("GET", pick(rnd, "/healthz", "/readyz", "/", "/v1/nowhere"), List.of(), null);
            default -> webSocket(rnd);
        };
    }

    private static byte[] value(Random rnd) {
        byte[] v = new byte[rnd.nextInt(40)];
        rnd.nextBytes(v);
        return rnd.nextBoolean() ? v : ("value-" + rnd.nextInt(1000)).getBytes(UTF_8);
    }

    private static String txn(Random rnd) {
        return "{\"compare\":[{\"key\":\"fuzz/a\",\"revision\":" + rnd.nextInt(4) + "}],"
                + "\"success\":[{\"op\":\"put\",\"key\":\"fuzz/t\",\"value\":\"yes\"},"
                + "{\"op\":\"put\",\"key\":\"fuzz/b64\",\"value_base64\":\"AAEC\",\"ttl\":60}],"
                + "\"failure\":[{\"op\":\"delete\",\"key\":\"fuzz/t\"}]}";
    }

    /** A request with Host and, given a body, Content-Length. */
    private static byte[] http(String method, String target, List<String> headers, byte[] body) {
        StringBuilder sb = new StringBuilder();
        sb.append(method).append(' ').append(target).append(" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        for (String h : headers) sb.append(h).append("\r\n");
        if (body != null) sb.append("Content-Length: ").append(body.length).append("\r\n");
        sb.append("\r\n");
        return concat(sb.toString().getBytes(ISO_8859_1), body == null ? new byte[0] : body);
    }

    private static byte[] webSocket(Random rnd) {
        List<String> h = new ArrayList<>(List.of(
                "Upgrade: websocket",
                "Connection: Upgrade",
                "Sec-WebSocket-Key: " + WS_KEY,
                "Sec-WebSocket-Version: " + pick(rnd, "13", "13", "8", "")));
        if (rnd.nextInt(4) == 0) h.remove(rnd.nextInt(h.size()));
        byte[] req = http("GET", "/v1/ws", h, null);
        // sometimes a frame (or garbage) right behind the handshake
        return switch (rnd.nextInt(3)) {
            case 0 -> req;
            case 1 -> {
                byte[] junk = new byte[1 + rnd.nextInt(32)];
                rnd.nextBytes(junk);
                yield concat(req, junk);
            }
            default ->
                concat(
                        req,
                        new byte[] {(byte) 0x81, (byte) 0x85, 1, 2, 3, 4, 'h' ^ 1, 'e' ^ 2, 'l' ^ 3, 'l' ^ 4, 'o' ^ 1});
        };
    }

    private static byte[] flip(Random rnd, byte[] b) {
        if (b.length == 0) return b;
        int flips = 1 + rnd.nextInt(4);
        for (int i = 0; i < flips; i++) b[rnd.nextInt(b.length)] = (byte) rnd.nextInt(256);
        return b;
    }

    private static byte[] insert(Random rnd, byte[] b) {
        int at = rnd.nextInt(b.length + 1);
        byte[] extra = switch (rnd.nextInt(3)) {
            case 0 -> new byte[] {(byte) rnd.nextInt(256)};
            case 1 ->
                pick(rnd, "\r\n", "\r\n\r\n", ":", " ", "\0", "%", "\n", "\r").getBytes(ISO_8859_1);
            default -> {
                byte[] r = new byte[1 + rnd.nextInt(16)];
                rnd.nextBytes(r);
                yield r;
            }
        };
        return concat(concat(Arrays.copyOf(b, at), extra), Arrays.copyOfRange(b, at, b.length));
    }

    private static byte[] delete(Random rnd, byte[] b) {
        if (b.length == 0) return b;
        int from = rnd.nextInt(b.length);
        int to = Math.min(b.length, from + 1 + rnd.nextInt(8));
        return concat(Arrays.copyOf(b, from), Arrays.copyOfRange(b, to, b.length));
    }

    private static byte[] duplicateHeader(Random rnd, byte[] b) {
        String s = new String(b, ISO_8859_1);
        String dup = pick(
                rnd,
                "Host: other",
                "Content-Length: 3",
                "Content-Length: 0",
                "Transfer-Encoding: chunked",
                "If-Match: \"1\"",
                "If-None-Match: *",
                "Last-Event-ID: 1",
                "Connection: close",
                "Upgrade: websocket");
        int at = s.indexOf("\r\n");
        if (at < 0) return b;
        return (s.substring(0, at + 2) + dup + "\r\n" + s.substring(at + 2)).getBytes(ISO_8859_1);
    }

    private static byte[] contentLength(Random rnd) {
        String cl = pick(
                rnd,
                "-1",
                "99999999999999999999",
                "2147483648",
                "262145",
                "1048576",
                "1e3",
                "0x10",
                " 5 ",
                "5, 5",
                "5, 6",
                "",
                "+5",
                "100");
        String body = pick(rnd, "hello", "", "x".repeat(200));
        return ("PUT /v1/kv/fuzz/cl HTTP/1.1\r\nHost: x\r\nContent-Length: " + cl + "\r\n\r\n" + body)
                .getBytes(ISO_8859_1);
    }

    private static byte[] chunked(Random rnd) {
        String chunks = pick(
                rnd,
                "5\r\nhello\r\n0\r\n\r\n", // valid
                "zz\r\nhello\r\n0\r\n\r\n",
                "FFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n",
                "7fffffff\r\nhello\r\n0\r\n\r\n",
                "-5\r\nhello\r\n0\r\n\r\n",
                "5\r\nhelloEXTRA\r\n0\r\n\r\n",
                "5;ext=\"x\r\nhello\r\n0\r\n\r\n",
                "5\r\nhel",
                "0\r\nTrailer: x\r\nBad trailer\r\n\r\n",
                "\r\n\r\n",
                "5\nhello\n0\n\n");
        String te = pick(rnd, "chunked", "chunked, chunked", "gzip, chunked", "chunked, gzip", "Chunked", "identity");
        String cl = rnd.nextBoolean() ? "Content-Length: 5\r\n" : "";
        String target = rnd.nextBoolean() ? "/v1/kv/fuzz/chunked" : "/v1/txn";
        String method = target.equals("/v1/txn") ? "POST" : "PUT";
        return (method + " " + target + " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + te + "\r\n" + cl + "\r\n"
                        + chunks)
                .getBytes(ISO_8859_1);
    }

    private static byte[] badPercent(Random rnd) {
        String bad = pick(rnd, "%", "%4", "%G1", "%%", "%zz", "%00", "%C3%28", "%FF%FE", "%2F%2F", "%u0041", "%");
        return switch (rnd.nextInt(4)) {
            case 0 -> http("GET", "/v1/kv/fuzz/" + bad, List.of(), null);
            case 1 -> http("PUT", "/v1/kv/" + bad + "x", List.of(), "v".getBytes(UTF_8));
            case 2 -> http("GET", "/v1/kv?prefix=" + bad + "&limit=3", List.of(), null);
            default -> http("GET", "/v1/watch?prefix=" + bad + "&from=0" + bad, List.of(), null);
        };
    }

    private static byte[] badUtf8(Random rnd) {
        byte[] bad = pick(
                rnd,
                new byte[] {(byte) 0xC3, (byte) 0x28},
                new byte[] {(byte) 0xFF},
                new byte[] {(byte) 0xED, (byte) 0xA0, (byte) 0x80}, // a surrogate
                new byte[] {(byte) 0xF0, (byte) 0x9F},
                new byte[] {(byte) 0xC0, (byte) 0x80});
        return switch (rnd.nextInt(4)) {
            case 0 ->
                concat(
                        concat("GET /v1/kv/fuzz/".getBytes(ISO_8859_1), bad),
                        " HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(ISO_8859_1));
            case 1 ->
                concat(
                        concat("GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Bad: ".getBytes(ISO_8859_1), bad),
                        "\r\n\r\n".getBytes(ISO_8859_1));
            case 2 -> {
                byte[] json = concat(
                        concat("{\"success\":[{\"op\":\"put\",\"key\":\"fuzz/".getBytes(UTF_8), bad),
                        "\",\"value\":\"v\"}]}".getBytes(UTF_8));
                yield http("POST", "/v1/txn", List.of(), json);
            }
            default ->
                concat(
                        concat("GET /v1/watch?prefix=".getBytes(ISO_8859_1), bad),
                        " HTTP/1.1\r\nHost: x\r\nLast-Event-ID: \u00ff1\r\n\r\n".getBytes(ISO_8859_1));
        };
    }

    private static byte[] badJson(Random rnd) {
        String json = switch (rnd.nextInt(20)) {
            case 0 -> "";
            case 1 -> "null";
            case 2 -> "[]";
            case 3 -> "42";
            case 4 -> "\"text\"";
            case 5 -> "{";
            case 6 -> txn(rnd).substring(0, rnd.nextInt(txn(rnd).length()));
            case 7 -> "[".repeat(5000) + "]".repeat(5000);
            case 8 -> "{\"compare\":" + "[".repeat(3000) + "]".repeat(3000) + "}";
            case 9 -> "{\"a\":".repeat(2000) + "1" + "}".repeat(2000);
            case 10 -> "{\"compare\":[null],\"success\":[null]}";
            case 11 -> "{\"compare\":[{\"key\":null,\"revision\":0}]}";
            case 12 -> "{\"compare\":[{\"key\":\"\",\"revision\":0}]}";
            case 13 -> "{\"compare\":[{\"key\":\"k\",\"revision\":-1}]}";
            case 14 -> "{\"compare\":[{\"key\":\"k\",\"revision\":99999999999999999999999}]}";
            case 15 -> "{\"success\":[{\"op\":\"put\",\"key\":\"\",\"value\":\"v\"}]}";
            case 16 ->
                "{\"success\":[{\"op\":\"put\",\"key\":\"k\",\"value\":\"v\",\"ttl\":"
                        + pick(rnd, "-1", "0", "1e30", "null", "\"x\"") + "}]}";
            case 17 -> "{\"success\":[{\"op\":\"frobnicate\",\"key\":\"k\"}],\"failure\":{}}";
            case 18 -> "{\"success\":[{\"op\":\"put\",\"key\":\"k\",\"value_base64\":\"!!!\"}],\"extra\":1}";
            default -> "{\"compare\":[],\"success\":[],\"failure\":[]," + "\"x\":\"" + "\\u00".repeat(3) + "\"}";
        };
        return http("POST", "/v1/txn", List.of("Content-Type: application/json"), json.getBytes(UTF_8));
    }

    private static byte[] longLines(Random rnd) {
        String big = "x".repeat(64 * 1024 + rnd.nextInt(16 * 1024));
        return switch (rnd.nextInt(4)) {
            case 0 -> ("GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Long: " + big + "\r\n\r\n").getBytes(ISO_8859_1);
            case 1 -> ("GET /v1/kv/" + big + " HTTP/1.1\r\nHost: x\r\n\r\n").getBytes(ISO_8859_1);
            case 2 -> {
                StringBuilder sb = new StringBuilder("GET /v1/status HTTP/1.1\r\nHost: x\r\n");
                for (int i = 0; i < 3000; i++) sb.append("X-H").append(i).append(": v\r\n");
                yield sb.append("\r\n").toString().getBytes(ISO_8859_1);
            }
            default -> http("GET", "/v1/kv/fuzz/" + "k".repeat(2000 + rnd.nextInt(8000)), List.of(), null);
        };
    }

    private static byte[] bareLf(byte[] b) {
        return new String(b, ISO_8859_1).replace("\r\n", "\n").getBytes(ISO_8859_1);
    }

    private static byte[] oddProtocol(Random rnd) {
        return pick(
                        rnd,
                        "GET /v1/status\r\n",
                        "GET /v1/status\r\n\r\n",
                        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
                        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\4\0\0\0\0\0",
                        "GET /v1/status HTTP/1.0\r\n\r\n",
                        "GET /v1/status HTTP/2\r\n\r\n",
                        "GET /v1/status HTTP/1.1\r\n\r\n", // no Host
                        "GET http://127.0.0.1/v1/status HTTP/1.1\r\nHost: x\r\n\r\n",
                        "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
                        "CONNECT 127.0.0.1:80 HTTP/1.1\r\nHost: x\r\n\r\n",
                        "TRACE /v1/status HTTP/1.1\r\nHost: x\r\n\r\n",
                        "HEAD /v1/kv/fuzz/a HTTP/1.1\r\nHost: x\r\n\r\n",
                        "get /v1/status HTTP/1.1\r\nHost: x\r\n\r\n",
                        "GET /v1/status HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n",
                        "PUT /v1/kv/fuzz/e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
                        "PUT /v1/kv/fuzz/e HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nContent-Length: 3\r\n\r\nabc",
                        "GET /v1/status HTTP/1.1\r\nHost: x\r\n Folded: header\r\n\r\n",
                        "GET /v1/status HTTP/1.1\r\nHost : x\r\n\r\n",
                        "GET /v1/status HTTP/1.1\r\n\r\n\r\n\r\n",
                        "\r\n\r\nGET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n",
                        "GET /v1/status?x HTTP/1.1 extra\r\nHost: x\r\n\r\n",
                        "GET  /v1/status  HTTP/1.1\r\nHost: x\r\n\r\n",
                        "GET /v1/kv/ HTTP/1.1\r\nHost: x\r\n\r\n",
                        "GET /v1/kv/#frag HTTP/1.1\r\nHost: x\r\n\r\n",
                        "POST /v1/kv/fuzz/a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
                        "\u0016\u0003\u0001\u0000\u00a5\u0001\u0000\u0000\u00a1\u0003\u0003") // a TLS ClientHello start
                .getBytes(ISO_8859_1);
    }

    private static byte[] badParams(Random rnd) {
        String q = pick(
                rnd,
                "/v1/kv?limit=0",
                "/v1/kv?limit=-1",
                "/v1/kv?limit=99999999999999999999",
                "/v1/kv?limit=abc",
                "/v1/kv?prefix&limit&after",
                "/v1/kv?after=%FF%FF%FF&prefix=%FF",
                "/v1/kv?&&&=&=x&prefix=a=b",
                "/v1/watch?from=-1",
                "/v1/watch?from=abc",
                "/v1/watch?from=9223372036854775807",
                "/v1/watch?from=99999999999999",
                "/v1/watch?snapshot=maybe",
                "/v1/watch?snapshot=true&from=3",
                "/v1/digest?prefix=%",
                "/v1/kv/fuzz/t?ttl=0",
                "/v1/kv/fuzz/t?ttl=-5",
                "/v1/kv/fuzz/t?ttl=99999999999",
                "/v1/kv/fuzz/t?ttl=" + Long.MAX_VALUE);
        String method = q.contains("ttl") ? "PUT" : "GET";
        List<String> h = q.startsWith("/v1/watch")
                ? List.of("Last-Event-ID: " + pick(rnd, "", "-5", "abc", "99999999999999999999", " 2 ", "1"))
                : List.of();
        return http(method, q, h, method.equals("PUT") ? "v".getBytes(UTF_8) : null);
    }

    private static byte[] badHeaders(Random rnd) {
        String h = pick(
                rnd,
                "If-Match: \"abc\"",
                "If-Match: \"-1\"",
                "If-Match: \"0\"",
                "If-Match: W/\"1\"",
                "If-Match: \"",
                "If-Match: *",
                "If-Match: \"99999999999999999999\"",
                "If-None-Match: \"1\"",
                "Authorization: Basic !!!",
                "Authorization: Bearer",
                "Authorization: ",
                "Content-Type: application/json; charset=\u00ff",
                "Connection: keep-alive, upgrade, close",
                "Transfer-Encoding: ",
                "Content-Encoding: gzip");
        String method = pick(rnd, "PUT", "DELETE", "GET");
        return http(method, "/v1/kv/fuzz/a", List.of(h), method.equals("PUT") ? "v".getBytes(UTF_8) : null);
    }

    @SafeVarargs
    private static <T> T pick(Random rnd, T... options) {
        return options[rnd.nextInt(options.length)];
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private static String printable(byte[] b) {
        return printable(b, 600);
    }

    private static String printable(byte[] b, int max) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < b.length; i++) {
            if (sb.length() > max) {
                sb.append("... (").append(b.length).append(" bytes)");
                break;
            }
            int x = b[i] & 0xff;
            if (x == '\r') sb.append("\\r");
            else if (x == '\n') sb.append("\\n");
            else if (x >= 32 && x < 127) sb.append((char) x);
            else sb.append(String.format("\\x%02x", x));
        }
        return sb.toString();
    }
}
