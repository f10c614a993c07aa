package dev.caskade.client;

import dev.caskade.Digest;
import dev.caskade.Entry;
import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import tools.jackson.core.JsonGenerator;

/**
 * A Caskade server reached over its HTTP API v1 (docs/server.md) with the JDK's HTTP client. Thread-safe: share one
 * per server. Keys and values are bytes (the String overloads use UTF-8). Every failure is an unchecked
 * {@link ClientException}: {@link AuthException} for 401 and 403, status 0 when the server could not be reached.
 *
 * <pre>{@code
 * try (CaskadeClient c = CaskadeClient.connect(URI.create("http://127.0.0.1:8479"), ClientOptions.defaults())) {
 *     long rev = c.put("user/1", "alice");
 *     c.compareAndSet("user/1", rev, "bob");
 * }
 * }</pre>
 */
public final class CaskadeClient implements AutoCloseable {
    private static final String JSON = "application/json";
    private static final byte[] NONE = new byte[0];
    private static final String IDEMPOTENCY_KEY = "Idempotency-Key";

    private final String base;
    private final ClientOptions options;
    private final String authorization;
    private final HttpClient http;
    private final Set<RemoteWatch> watches = ConcurrentHashMap.newKeySet();

    private CaskadeClient(String base, ClientOptions options) {
        this.base = base;
        this.options = options;
        this.authorization = authorization(options);
        HttpClient.Builder b = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1) // the server speaks HTTP/1.1; no h2c upgrade dance
                .connectTimeout(options.connectTimeout())
                .followRedirects(HttpClient.Redirect.NEVER);
        if (options.sslContext() != null) b.sslContext(options.sslContext());
        this.http = b.build();
    }

    /**
     * A client for the server at {@code base} ({@code http://host:port} or {@code https://...}, optionally with a
     * path prefix). Nothing is sent yet: the first request connects.
     */
    public static CaskadeClient connect(URI base, ClientOptions options) {
        Objects.requireNonNull(base, "base");
        Objects.requireNonNull(options, "options");
        String scheme = base.getScheme();
        if (!"http".equalsIgnoreCase(scheme) && !"https".equalsIgnoreCase(scheme))
            throw new IllegalArgumentException("the server URL must be http:// or https://: " + base);
        if (base.getHost() == null) throw new IllegalArgumentException("no host in the server URL: " + base);
        if (base.getRawQuery() != null || base.getRawFragment() != null)
            throw new IllegalArgumentException("the server URL takes no query or fragment: " + base);
        String path = base.getRawPath() == null ? "" : base.getRawPath();
        while (path.endsWith("/")) path = path.substring(0, path.length() - 1);
        return new CaskadeClient(
                scheme.toLowerCase(java.util.Locale.ROOT) + "://" + base.getRawAuthority() + path, options);
    }

    public ClientOptions options() {
        return options;
    }

    /** The server's URL as requests use it (no trailing slash). */
    public String base() {
        return base;
    }

    // ---- keys

    public Optional<Entry> get(String key) {
        return get(utf8(key));
    }

    /**
     * The key's value and revision (from the ETag); {@code expiresAt} from the {@code Caskade-Expires-At} header
     * when the server sends it, else 0.
     */
    public Optional<Entry> get(byte[] key) {
        String url = kv(key);
        HttpResponse<byte[]> r = send(request(url).GET(), url);
        if (absent(r)) return Optional.empty();
        ok(r, url);
        long revision = r.headers().firstValue("ETag").map(CaskadeClient::etag).orElse(0L);
        long expiresAt = r.headers()
                .firstValue("Caskade-Expires-At")
                .map(CaskadeClient::parseLongOrZero)
                .orElse(0L);
        return Optional.of(new Entry(key.clone(), r.body(), revision, expiresAt));
    }

    public long put(String key, String value) {
        return put(utf8(key), utf8(value));
    }

    /** Puts {@code value} under {@code key}; returns the commit's revision. */
    public long put(byte[] key, byte[] value) {
        return write(kv(key), value, null);
    }

    public long put(String key, String value, Duration ttl) {
        return put(utf8(key), utf8(value), ttl);
    }

    /** Puts with a time to live, in whole seconds (the HTTP API takes seconds; anything else is refused). */
    public long put(byte[] key, byte[] value, Duration ttl) {
        return write(kv(key) + "?ttl=" + seconds(Objects.requireNonNull(ttl, "ttl")), value, null);
    }

    public long delete(String key) {
        return delete(utf8(key));
    }

    /** Deletes {@code key}; returns the revision of the delete, or 0 when the key was absent (nothing written). */
    public long delete(byte[] key) {
        String url = kv(key);
        HttpResponse<byte[]> r = send(request(url).DELETE(), url);
        if (absent(r)) return 0;
        return Json.object(ok(r, url).body()).number("revision");
    }

    public boolean compareAndSet(String key, long expectedRevision, String value) {
        return compareAndSet(utf8(key), expectedRevision, utf8(value));
    }

    /**
     * Puts {@code value} only if the key is at {@code expectedRevision} (0: only if it is absent); false, with
     * nothing written, when it is not.
     */
    public boolean compareAndSet(byte[] key, long expectedRevision, byte[] value) {
        if (expectedRevision < 0) throw new IllegalArgumentException("expectedRevision must not be negative");
        String[] condition = expectedRevision == 0
                ? new String[] {"If-None-Match", "*"}
                : new String[] {"If-Match", etag(expectedRevision)};
        try {
            write(kv(key), value, condition);
            return true;
        } catch (ClientException e) {
            if (e.status() == 412) return false;
            throw e;
        }
    }

    private long write(String url, byte[] value, String[] condition) {
        return write(url, value, condition, null);
    }

    private long write(String url, byte[] value, String[] condition, String idempotencyKey) {
        HttpRequest.Builder b = request(url).PUT(HttpRequest.BodyPublishers.ofByteArray(value));
        if (condition != null) b.header(condition[0], condition[1]);
        if (idempotencyKey != null) b.header(IDEMPOTENCY_KEY, idempotencyKey);
        return Json.object(ok(send(b, url), url).body()).number("revision");
    }

    // ---- writes with an Idempotency-Key (the outbox; null: none): a repeat of a key is answered, not applied again

    /** {@link #put(byte[], byte[], Duration)} ({@code ttl} null: none) sent with {@code Idempotency-Key}. */
    long put(byte[] key, byte[] value, Duration ttl, String idempotencyKey) {
        String url = ttl == null ? kv(key) : kv(key) + "?ttl=" + seconds(ttl);
        return write(url, value, null, idempotencyKey);
    }

    /** {@link #delete(byte[])} sent with {@code Idempotency-Key}: the revision, 0 when the key was absent. */
    long delete(byte[] key, String idempotencyKey) {
        String url = kv(key);
        HttpRequest.Builder b = request(url).DELETE();
        if (idempotencyKey != null) b.header(IDEMPOTENCY_KEY, idempotencyKey);
        HttpResponse<byte[]> r = send(b, url);
        if (absent(r)) return 0;
        return Json.object(ok(r, url).body()).number("revision");
    }

    /** {@link #compareAndSet(byte[], long, byte[])} sent with {@code Idempotency-Key}: the revision, 0 when lost. */
    long compareAndSet(byte[] key, long expectedRevision, byte[] value, String idempotencyKey) {
        if (expectedRevision < 0) throw new IllegalArgumentException("expectedRevision must not be negative");
        String[] condition = expectedRevision == 0
                ? new String[] {"If-None-Match", "*"}
                : new String[] {"If-Match", etag(expectedRevision)};
        try {
            return write(kv(key), value, condition, idempotencyKey);
        } catch (ClientException e) {
            if (e.status() == 412) return 0;
            throw e;
        }
    }

    /** Runs {@code txn} as one atomic commit on the server. */
    public TxnResult txn(Txn txn) {
        Objects.requireNonNull(txn, "txn");
        byte[] body = Json.write(g -> {
            g.writeStartObject();
            g.writeArrayPropertyStart("compare");
            for (Txn.Compare c : txn.compares()) {
                g.writeStartObject();
                Json.bytes(g, "key", c.key());
                g.writeNumberProperty("revision", c.revision());
                g.writeEndObject();
            }
            g.writeEndArray();
            ops(g, "success", txn.success());
            ops(g, "failure", txn.failure());
            g.writeEndObject();
        });
        String url = base + "/v1/txn";
        HttpRequest.Builder b =
                request(url).header("Content-Type", JSON).POST(HttpRequest.BodyPublishers.ofByteArray(body));
        Json.Obj answer = Json.object(ok(send(b, url), url).body());
        return new TxnResult(answer.bool("succeeded"), answer.number("revision"));
    }

    private static void ops(JsonGenerator g, String name, List<Txn.Op> ops) {
        g.writeArrayPropertyStart(name);
        for (Txn.Op op : ops) {
            g.writeStartObject();
            switch (op) {
                case Txn.Put p -> {
                    g.writeStringProperty("op", "put");
                    Json.bytes(g, "key", p.key());
                    Json.bytes(g, "value", p.value());
                    if (p.ttl() != null
                            && p.ttl().toMillisPart() == 0
                            && p.ttl().getNano() == 0)
                        g.writeNumberProperty("ttl", p.ttl().toSeconds());
                    else if (p.ttl() != null)
                        g.writeNumberProperty("ttl_ms", Math.max(1, p.ttl().toMillis()));
                }
                case Txn.Delete d -> {
                    g.writeStringProperty("op", "delete");
                    Json.bytes(g, "key", d.key());
                }
            }
            g.writeEndObject();
        }
        g.writeEndArray();
    }

    // ---- ranges

    public List<Entry> scan(String prefix) {
        return scan(utf8(prefix));
    }

    /**
     * Every live key under {@code prefix} in key order, fetched {@link ClientOptions#pageSize()} keys per request.
     * Each page is consistent at its own revision; a key written between pages shows up as of its page.
     */
    public List<Entry> scan(byte[] prefix) {
        List<Entry> out = new ArrayList<>();
        byte[] after = null;
        while (true) {
            String url = base + "/v1/kv?prefix=" + encode(prefix) + "&limit=" + options.pageSize()
                    + (after == null ? "" : "&after=" + encode(after));
            Json.Obj page = Json.object(ok(send(request(url).GET(), url), url).body());
            for (Json.Obj item : page.objects("items")) out.add(entry(item));
            after = page.bytes("next");
            if (after == null) return out;
        }
    }

    /** The server's digest of the live keys under {@code prefix} (see {@link Digest}). */
    public Digest digest(String prefix) {
        return digest(utf8(prefix));
    }

    public Digest digest(byte[] prefix) {
        String url = base + "/v1/digest?prefix=" + encode(prefix);
        Json.Obj d = Json.object(ok(send(request(url).GET(), url), url).body());
        return new Digest(d.number("revision"), d.number("keys"), d.string("digest"));
    }

    /** The server's last committed revision ({@code GET /v1/status}). */
    public long revision() {
        String url = base + "/v1/status";
        return Json.object(ok(send(request(url).GET(), url), url).body()).number("revision");
    }

    // ---- watches

    /**
     * Starts a live local copy of the keys under {@code prefix} in {@code dir}: {@link LocalReplica#open(CaskadeClient,
     * String, Path)}. The replica uses this client (keep it open while the replica runs).
     */
    public LocalReplica replicate(String prefix, java.nio.file.Path dir) {
        return LocalReplica.open(this, prefix, dir);
    }

    /** Like {@link #replicate(String, java.nio.file.Path)}, with these reconnect, breaker and write settings. */
    public LocalReplica replicate(String prefix, java.nio.file.Path dir, ReplicaOptions options) {
        return LocalReplica.open(this, prefix, dir, options);
    }

    public RemoteWatch watch(String prefix, long fromRevision, boolean snapshot, Consumer<RemoteEvent> listener) {
        return watch(utf8(prefix), fromRevision, snapshot, listener);
    }

    /**
     * Opens one event stream of the commits under {@code prefix}: with {@code snapshot}, the current state first
     * (then {@code fromRevision} must be 0: the snapshot's revision is where the commits start), else every commit
     * after {@code fromRevision} (the retained history first, then live). Returns once the server has accepted the
     * stream (a refusal throws here); events then go to {@code listener} on the watch's own thread.
     */
    public RemoteWatch watch(byte[] prefix, long fromRevision, boolean snapshot, Consumer<RemoteEvent> listener) {
        return watch(prefix, fromRevision, snapshot, listener, null);
    }

    /**
     * A watch that tells the server it feeds a live copy ({@code Caskade-Replica: <who>}), so that the server lists it
     * among its followers in {@code /v1/status}.
     */
    RemoteWatch watch(byte[] prefix, long fromRevision, boolean snapshot, Consumer<RemoteEvent> listener, String who) {
        Objects.requireNonNull(listener, "listener");
        if (fromRevision < 0) throw new IllegalArgumentException("fromRevision must not be negative");
        if (snapshot && fromRevision != 0)
            throw new IllegalArgumentException("a watch with a snapshot starts at the snapshot: give fromRevision 0");
        String url =
                base + "/v1/watch?prefix=" + encode(prefix) + (snapshot ? "&snapshot=true" : "&from=" + fromRevision);
        HttpRequest.Builder b =
                request(url).header("Accept", "text/event-stream").GET();
        if (who != null) b.header("Caskade-Replica", who);
        HttpResponse<InputStream> r;
        try {
            r = http.send(b.build(), HttpResponse.BodyHandlers.ofInputStream());
        } catch (IOException e) {
            throw unreachable(url, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ClientException(0, null, "interrupted while opening " + url, e);
        }
        if (r.statusCode() != 200) {
            byte[] answer;
            try (InputStream in = r.body()) {
                answer = in.readNBytes(64 * 1024);
            } catch (IOException e) {
                answer = NONE;
            }
            throw refused(r.statusCode(), answer, url);
        }
        RemoteWatch[] self = new RemoteWatch[1];
        RemoteWatch w =
                new RemoteWatch(url, r.body(), snapshot ? 0 : fromRevision, listener, () -> watches.remove(self[0]));
        self[0] = w;
        watches.add(w);
        w.start();
        return w;
    }

    /** Closes every open watch (each gets {@code Ended(null)}), then the HTTP client. */
    @Override
    public void close() {
        for (RemoteWatch w : List.copyOf(watches)) w.close();
        http.shutdownNow();
    }

    // ---- the wire

    private HttpRequest.Builder request(String url) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(options.requestTimeout());
        if (authorization != null) b.header("Authorization", authorization);
        return b;
    }

    private HttpResponse<byte[]> send(HttpRequest.Builder request, String url) {
        try {
            return http.send(request.build(), HttpResponse.BodyHandlers.ofByteArray());
        } catch (IOException e) {
            throw unreachable(url, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ClientException(0, null, "interrupted while waiting for " + url, e);
        }
    }

    /** A 404 that says the key is absent, as opposed to a wrong URL that has no such route. */
    private static boolean absent(HttpResponse<byte[]> r) {
        return r.statusCode() == 404 && "key not found".equals(error(r.body()));
    }

    private static HttpResponse<byte[]> ok(HttpResponse<byte[]> r, String url) {
        if (r.statusCode() / 100 != 2) throw refused(r.statusCode(), r.body(), url);
        return r;
    }

    private static ClientException refused(int status, byte[] body, String url) {
        String error = error(body);
        String message = url + " answered " + status + (error == null ? "" : ": " + error);
        if (status == 401 || status == 403) return new AuthException(status, error, message);
        return new ClientException(status, error, message);
    }

    /** The {@code error} of a JSON error body, else the start of the body as text; null for an empty body. */
    private static String error(byte[] body) {
        if (body == null || body.length == 0) return null;
        try {
            String error = Json.object(body).string("error");
            if (error != null) return error;
        } catch (IllegalArgumentException e) {
            // not JSON: a proxy's page, another server
        }
        String text = new String(body, 0, Math.min(body.length, 200), StandardCharsets.UTF_8).strip();
        return text.isEmpty() ? null : text.replaceAll("\\s+", " ");
    }

    private ClientException unreachable(String url, IOException e) {
        String reason;
        if (e instanceof HttpConnectTimeoutException) reason = "connection timed out";
        else if (e instanceof HttpTimeoutException)
            reason = "no answer within " + options.requestTimeout().toMillis() + " ms";
        else if (e instanceof ConnectException) reason = "connection refused";
        else reason = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return new ClientException(0, null, "cannot reach " + url + ": " + reason, e);
    }

    private static String authorization(ClientOptions o) {
        if (o.token() != null) return "Bearer " + o.token();
        if (o.user() == null) return null;
        return "Basic "
                + Base64.getEncoder().encodeToString((o.user() + ":" + o.password()).getBytes(StandardCharsets.UTF_8));
    }

    private String kv(byte[] key) {
        Objects.requireNonNull(key, "key");
        if (key.length == 0) throw new IllegalArgumentException("empty key");
        return base + "/v1/kv/" + encode(key);
    }

    /** An item of a page or a snapshot: {@code key}/{@code value} or their {@code _base64} forms. */
    static Entry entry(Json.Obj item) {
        byte[] key = item.bytes("key");
        if (key == null) throw new IllegalStateException("an item without a key");
        byte[] value = item.bytes("value");
        return new Entry(
                key, value == null ? NONE : value, item.number("revision"), item.number("expiresAt", "expires_at"));
    }

    /**
     * Percent-encodes every byte outside the unreserved characters ({@code A-Z a-z 0-9 - . _ ~}), '/' included, so
     * a key is one path segment whatever it holds, and the server's decoder gets the bytes back exactly. A key of
     * only dots is encoded too, so that nothing on the way resolves it as . or ..
     */
    static String encode(byte[] bytes) {
        boolean dots = bytes.length > 0;
        for (byte b : bytes) dots &= b == '.';
        StringBuilder sb = new StringBuilder(bytes.length + 8);
        for (byte x : bytes) {
            int b = x & 0xff;
            boolean unreserved = (b >= 'a' && b <= 'z')
                    || (b >= 'A' && b <= 'Z')
                    || (b >= '0' && b <= '9')
                    || b == '-'
                    || b == '_'
                    || b == '~'
                    || (b == '.' && !dots);
            if (unreserved) sb.append((char) b);
            else sb.append('%').append(HEX[b >> 4]).append(HEX[b & 15]);
        }
        return sb.toString();
    }

    private static final char[] HEX = "0123456789ABCDEF".toCharArray();

    static String etag(long revision) {
        return "\"" + revision + "\"";
    }

    private static long etag(String tag) {
        String t = tag.startsWith("W/") ? tag.substring(2) : tag;
        return parseLongOrZero(t.replace("\"", ""));
    }

    private static long parseLongOrZero(String s) {
        try {
            return Long.parseLong(s.trim());
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    /** A TTL in whole seconds, as the HTTP API takes it; anything else is refused rather than rounded. */
    static long seconds(Duration ttl) {
        if (ttl.isNegative() || ttl.isZero() || ttl.toNanos() % 1_000_000_000L != 0)
            throw new IllegalArgumentException(
                    "a TTL sent to a server must be a whole, positive number of seconds: " + ttl);
        return ttl.toSeconds();
    }

    private static byte[] utf8(String s) {
        return Objects.requireNonNull(s).getBytes(StandardCharsets.UTF_8);
    }
}
