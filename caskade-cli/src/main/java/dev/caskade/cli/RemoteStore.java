package dev.caskade.cli;

import dev.caskade.Change;
import dev.caskade.ChangeType;
import dev.caskade.CompactedException;
import dev.caskade.Entry;
import dev.caskade.WatchEvent;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.net.ConnectException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.channels.UnresolvedAddressException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Predicate;
import javax.net.ssl.SSLException;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * A server reached over its HTTP API v1 (see docs/server.md) with the JDK's HTTP client. Every failure becomes a
 * {@link StoreCommand.Failure} with one line that says what went wrong, never a stack trace.
 */
final class RemoteStore implements Store {
    /** Keys per {@code GET /v1/kv} request while scanning. */
    static final int PAGE = 1000;

    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);
    private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(60);
    /** A stream with no line for this long is taken for dead: the server sends a keep-alive every 15 s. */
    private static final long SILENCE_NANOS = TimeUnit.SECONDS.toNanos(60);
    /** Reconnections in a row without progress before a watch gives up, waiting 100 ms, 200 ms... 5 s between. */
    static final int RECONNECTS = 8;
    /** A connection that stayed up this long was good, even if no commit came: the failures start over. */
    private static final long STEADY_NANOS = TimeUnit.SECONDS.toNanos(30);

    private static final JsonMapper JSON = JsonMapper.builder().build();

    private final String base;
    private final String authorization;
    private final PrintWriter err;
    private final HttpClient client;
    private final int pageSize;
    /** The pause before the first reconnection; it doubles up to 5 s. Tests shorten it. */
    long firstPauseMillis = 100;

    /**
     * @param base the server's URL without a trailing slash, as {@link #parseUrl} returns it
     * @param authorization the Authorization header to send, or null
     * @param err where a watch says that it reconnects
     */
    RemoteStore(URI base, String authorization, PrintWriter err, int pageSize) {
        this.base = base.toString();
        this.authorization = authorization;
        this.err = err;
        this.pageSize = pageSize;
        this.client = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(CONNECT_TIMEOUT)
                .followRedirects(HttpClient.Redirect.NEVER)
                .build();
    }

    /** {@code http(s)://host[:port][/path]}; a URL without a scheme is taken as http. */
    static URI parseUrl(String text) {
        String t = text.strip();
        if (!t.contains("://")) t = "http://" + t;
        URI uri;
        try {
            uri = new URI(t);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("not a URL: " + text);
        }
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        if (!scheme.equals("http") && !scheme.equals("https"))
            throw new IllegalArgumentException("the server URL must start with http:// or https://: " + text);
        if (uri.getHost() == null) throw new IllegalArgumentException("no host in the server URL: " + text);
        if (uri.getRawQuery() != null || uri.getRawFragment() != null)
            throw new IllegalArgumentException("the server URL takes no query or fragment: " + text);
        String path = uri.getRawPath() == null ? "" : uri.getRawPath();
        while (path.endsWith("/")) path = path.substring(0, path.length() - 1);
        return URI.create(scheme + "://" + uri.getRawAuthority() + path);
    }

    /** The TTL in whole seconds, as the HTTP API takes it; anything else is refused rather than rounded. */
    static long seconds(Duration ttl) {
        if (ttl.isNegative() || ttl.isZero() || ttl.toNanos() % 1_000_000_000L != 0) {
            throw new IllegalArgumentException(
                    "a TTL sent to a server must be a whole number of seconds (the HTTP API takes seconds): " + ttl);
        }
        return ttl.toSeconds();
    }

    @Override
    public Optional<Entry> get(byte[] key) {
        HttpResponse<byte[]> r = send(request(kv(key)).GET());
        if (absent(r)) return Optional.empty();
        ok(r);
        long revision = r.headers().firstValue("ETag").map(RemoteStore::etag).orElse(0L);
        return Optional.of(new Entry(key, r.body(), revision, UNKNOWN_EXPIRY));
    }

    @Override
    public long put(byte[] key, byte[] value, Duration ttl) {
        String path = kv(key) + (ttl == null ? "" : "?ttl=" + seconds(ttl));
        HttpResponse<byte[]> r = send(request(path).PUT(HttpRequest.BodyPublishers.ofByteArray(value)));
        return json(ok(r)).path("revision").asLong();
    }

    @Override
    public long delete(byte[] key) {
        HttpResponse<byte[]> r = send(request(kv(key)).DELETE());
        if (absent(r)) return 0;
        return json(ok(r)).path("revision").asLong();
    }

    /** Pages through {@code GET /v1/kv}: each page is consistent in itself, the whole scan is not one snapshot. */
    @Override
    public void scan(byte[] prefix, long limit, Predicate<Entry> each) {
        byte[] after = null;
        long left = limit;
        while (left > 0) {
            String query = "/v1/kv?prefix=" + encode(prefix, false) + "&limit=" + Math.min(left, pageSize)
                    + (after == null ? "" : "&after=" + encode(after, false));
            JsonNode page = json(ok(send(request(query).GET())));
            for (JsonNode item : page.path("items")) {
                Entry e = new Entry(
                        bytes(item, "key"),
                        bytes(item, "value"),
                        item.path("revision").asLong(),
                        UNKNOWN_EXPIRY);
                left--;
                if (!each.test(e)) return;
            }
            after = bytes(page, "next");
            if (after == null) return;
        }
    }

    @Override
    public long revision() {
        return json(ok(send(request("/v1/status").GET()))).path("revision").asLong();
    }

    private sealed interface Signal {
        /** The server answered 200: events follow. */
        record Open() implements Signal {}

        /** The server answered something else. */
        record Refused(int status, byte[] body) implements Signal {}

        /** One Server-Sent Event. */
        record Event(String id, String name, String data) implements Signal {}

        /** The stream ended: {@code cause} null when the server closed it, else what broke it. */
        record Dropped(IOException cause) implements Signal {}
    }

    /**
     * Follows {@code GET /v1/watch}. A dropped connection is resumed with {@code Last-Event-ID} (the server sends
     * nothing twice and skips nothing), with growing pauses and at most {@link #RECONNECTS} failures in a row;
     * {@code overflow} resumes at once from the revision it names; {@code compacted} throws like embedded mode.
     */
    @Override
    public void watch(
            byte[] prefix, Long from, CompletableFuture<?> stop, Runnable started, Predicate<WatchEvent.Commit> each) {
        long resume = from != null ? from : revision(); // a fixed start, so that a reconnection leaves no gap
        boolean opened = false;
        boolean resuming = false;
        int failures = 0;
        while (true) {
            IOException cause = null;
            String lost = null;
            long openedAt = 0;
            boolean progress = false;
            try (EventStream events = new EventStream(prefix, resume, resuming)) {
                stream:
                while (true) {
                    if (stop.isDone()) return;
                    Signal signal = events.poll();
                    if (signal == null) {
                        if (events.silent()) {
                            lost = "no data for 60 s";
                            break;
                        }
                        continue;
                    }
                    switch (signal) {
                        case Signal.Open() -> {
                            openedAt = System.nanoTime();
                            if (!opened) started.run();
                            opened = true;
                        }
                        case Signal.Refused(int status, byte[] body) -> {
                            // a server that is restarting answers 502-504 for a moment
                            if (!resuming || status < 502 || status > 504) throw refused(status, body);
                            lost = "the server answered " + status;
                            break stream;
                        }
                        case Signal.Dropped(IOException e) -> {
                            cause = e;
                            lost = e == null ? "the server ended the stream" : reason(e);
                            break stream;
                        }
                        case Signal.Event(String id, String name, String data) -> {
                            switch (name) {
                                case "commit" -> {
                                    WatchEvent.Commit commit = commit(json(data));
                                    if (commit.revision() <= resume) continue; // never twice, whatever comes
                                    resume = commit.revision();
                                    progress = true;
                                    if (!each.test(commit)) return;
                                }
                                case "overflow" -> {
                                    // we read too slowly and the server dropped us; it names where to go on from
                                    resume = json(data).path("resume").asLong(resume);
                                    break stream;
                                }
                                case "compacted" ->
                                    throw new CompactedException(
                                            resume, json(data).path("oldest").asLong());
                                case "error" ->
                                    throw new StoreCommand.Failure(
                                            Main.FAILED,
                                            "the watch failed on the server after revision "
                                                    + json(data).path("resume").asLong(resume));
                                default -> {
                                    // snapshot events (not asked for) and kinds a newer server may add
                                }
                            }
                        }
                    }
                }
            }
            resuming = true;
            if (lost == null) continue; // overflow: resume at once
            if (!opened && cause != null) throw unreachable(cause); // never connected: no point in retrying
            if (progress || (openedAt != 0 && System.nanoTime() - openedAt > STEADY_NANOS)) failures = 0;
            if (++failures > RECONNECTS) {
                throw new StoreCommand.Failure(
                        Main.FAILED,
                        "lost the watch on " + base + " after revision " + resume + ": " + lost + " (gave up after "
                                + RECONNECTS + " reconnections)");
            }
            err.println("caskade: watch connection lost (" + lost + "); reconnecting after revision " + resume);
            err.flush();
            long pause = Math.min(5_000, firstPauseMillis << Math.min(failures - 1, 6));
            try {
                stop.get(pause, TimeUnit.MILLISECONDS);
                return; // stopped while waiting
            } catch (TimeoutException e) {
                // time to reconnect
            } catch (ExecutionException | InterruptedException e) {
                return;
            }
        }
    }

    /** One {@code GET /v1/watch} connection, read by its own thread into a small queue (the socket pushes back). */
    private final class EventStream implements AutoCloseable {
        private final BlockingQueue<Signal> signals = new ArrayBlockingQueue<>(64);
        private final Thread reader;
        private volatile long heard = System.nanoTime();
        private volatile InputStream body;

        EventStream(byte[] prefix, long from, boolean resuming) {
            HttpRequest.Builder b = request("/v1/watch?prefix=" + encode(prefix, false) + "&from=" + from)
                    .header("Accept", "text/event-stream");
            if (resuming) b.header("Last-Event-ID", Long.toString(from));
            HttpRequest request = b.build();
            reader = Thread.ofVirtual().name("caskade-watch-reader").start(() -> read(request));
        }

        private void read(HttpRequest request) {
            try {
                HttpResponse<InputStream> r = client.send(request, HttpResponse.BodyHandlers.ofInputStream());
                body = r.body();
                heard = System.nanoTime();
                if (r.statusCode() != 200) {
                    try (InputStream in = r.body()) {
                        signals.put(new Signal.Refused(r.statusCode(), in.readNBytes(64 * 1024)));
                    }
                    return;
                }
                signals.put(new Signal.Open());
                BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8));
                String id = null;
                String name = null;
                StringBuilder data = null;
                for (String line; (line = in.readLine()) != null; ) {
                    heard = System.nanoTime();
                    if (line.isEmpty()) { // the end of an event
                        if (name != null || data != null) {
                            signals.put(new Signal.Event(
                                    id, name == null ? "message" : name, data == null ? "" : data.toString()));
                        }
                        id = null;
                        name = null;
                        data = null;
                        continue;
                    }
                    if (line.startsWith(":")) continue; // a comment: the keep-alive
                    int colon = line.indexOf(':');
                    String field = colon < 0 ? line : line.substring(0, colon);
                    String value = colon < 0 ? "" : line.substring(colon + 1);
                    if (value.startsWith(" ")) value = value.substring(1);
                    switch (field) {
                        case "id" -> id = value;
                        case "event" -> name = value;
                        case "data" ->
                            data = data == null
                                    ? new StringBuilder(value)
                                    : data.append('\n').append(value);
                        default -> {
                            // retry and unknown fields
                        }
                    }
                }
                signals.put(new Signal.Dropped(null));
            } catch (IOException e) {
                signals.offer(new Signal.Dropped(e));
            } catch (InterruptedException e) {
                // closed by the watcher: nobody reads the queue any more
            }
        }

        Signal poll() {
            try {
                return signals.poll(100, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new StoreCommand.Failure(Main.FAILED, "interrupted");
            }
        }

        boolean silent() {
            return System.nanoTime() - heard > SILENCE_NANOS;
        }

        @Override
        public void close() {
            reader.interrupt();
            InputStream b = body;
            if (b != null) {
                try {
                    b.close();
                } catch (IOException e) {
                    // the connection is being dropped anyway
                }
            }
        }
    }

    private static WatchEvent.Commit commit(JsonNode data) {
        List<Change> changes = new ArrayList<>();
        for (JsonNode c : data.path("changes")) {
            ChangeType type = ChangeType.valueOf(c.path("type").asString().toUpperCase(Locale.ROOT));
            byte[] value = bytes(c, "value");
            changes.add(new Change(type, bytes(c, "key"), value == null ? new byte[0] : value, UNKNOWN_EXPIRY));
        }
        return new WatchEvent.Commit(
                data.path("revision").asLong(), data.path("timestamp").asLong(), List.copyOf(changes));
    }

    /** {@code name} or {@code name_base64} (bytes that are not UTF-8); null when neither is there. */
    private static byte[] bytes(JsonNode node, String name) {
        JsonNode text = node.get(name);
        if (text != null && text.isString()) return text.asString().getBytes(StandardCharsets.UTF_8);
        JsonNode base64 = node.get(name + "_base64");
        if (base64 != null && base64.isString()) return Base64.getDecoder().decode(base64.asString());
        return null;
    }

    private HttpRequest.Builder request(String pathAndQuery) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + pathAndQuery));
        if (authorization != null) b.header("Authorization", authorization);
        return b;
    }

    private HttpResponse<byte[]> send(HttpRequest.Builder request) {
        try {
            return client.send(request.timeout(REQUEST_TIMEOUT).build(), HttpResponse.BodyHandlers.ofByteArray());
        } catch (IOException e) {
            throw unreachable(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StoreCommand.Failure(Main.FAILED, "interrupted");
        }
    }

    /** A 404 that says the key is absent, as opposed to a wrong URL that has no such route. */
    private static boolean absent(HttpResponse<byte[]> r) {
        return r.statusCode() == 404 && "key not found".equals(errorMessage(r.body()));
    }

    private HttpResponse<byte[]> ok(HttpResponse<byte[]> r) {
        if (r.statusCode() / 100 != 2) throw refused(r.statusCode(), r.body());
        return r;
    }

    private StoreCommand.Failure refused(int status, byte[] body) {
        String message = errorMessage(body);
        String said = message == null ? "" : ": " + message;
        return switch (status) {
            case 401 ->
                new StoreCommand.Failure(
                        Main.NO_PERMISSION,
                        base + " wants credentials (401" + said + "); give --token or --user (or CASKADE_TOKEN)");
            case 403 -> new StoreCommand.Failure(Main.NO_PERMISSION, base + " refused the request (403" + said + ")");
            default -> new StoreCommand.Failure(Main.FAILED, base + " answered " + status + said);
        };
    }

    /** The {@code error} of a JSON error body, else the start of the body as text; null for an empty body. */
    private static String errorMessage(byte[] body) {
        if (body == null || body.length == 0) return null;
        try {
            JsonNode error = JSON.readTree(body).get("error");
            if (error != null && error.isString()) return error.asString();
        } catch (JacksonException e) {
            // not JSON: a proxy's page, another server
        }
        String text = new String(body, 0, Math.min(body.length, 200), StandardCharsets.UTF_8)
                .strip()
                .replaceAll("\\s+", " ");
        return text.isEmpty() ? null : text;
    }

    private StoreCommand.Failure unreachable(IOException e) {
        return new StoreCommand.Failure(Main.FAILED, "cannot reach " + base + ": " + reason(e));
    }

    private static String reason(IOException e) {
        if (e instanceof HttpConnectTimeoutException) return "connection timed out";
        if (e instanceof HttpTimeoutException) return "no answer within " + REQUEST_TIMEOUT.toSeconds() + " s";
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof UnresolvedAddressException) return "unknown host";
            if (t instanceof SSLException) return "TLS failed: " + t.getMessage();
        }
        if (e instanceof ConnectException) {
            for (Throwable t = e; t != null; t = t.getCause()) {
                if (t.getMessage() != null) return t.getMessage().toLowerCase(Locale.ROOT);
            }
            return "connection refused";
        }
        if (e.getMessage() == null) return e.getClass().getSimpleName();
        return e.getMessage().equals("closed") ? "the connection was closed" : e.getMessage();
    }

    private static JsonNode json(HttpResponse<byte[]> r) {
        try {
            return JSON.readTree(r.body());
        } catch (JacksonException e) {
            throw new StoreCommand.Failure(Main.FAILED, "the server's answer is not JSON: " + e.getOriginalMessage());
        }
    }

    private static JsonNode json(String data) {
        try {
            return JSON.readTree(data);
        } catch (JacksonException e) {
            throw new StoreCommand.Failure(Main.FAILED, "an event's data is not JSON: " + e.getOriginalMessage());
        }
    }

    private static long etag(String tag) {
        String t = tag.startsWith("W/") ? tag.substring(2) : tag;
        try {
            return Long.parseLong(t.replace("\"", ""));
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    private static String kv(byte[] key) {
        return "/v1/kv/" + encode(key, true);
    }

    /**
     * Percent-encodes every byte but the unreserved characters (and {@code /} in a path, which the server takes
     * as part of the key). A path segment of only dots is encoded too, so that nothing resolves it as . or ..
     */
    static String encode(byte[] bytes, boolean path) {
        StringBuilder sb = new StringBuilder(bytes.length + 8);
        int segment = 0; // where the current path segment starts in sb
        for (int i = 0; i <= bytes.length; i++) {
            if (i == bytes.length || (path && bytes[i] == '/')) {
                String s = sb.substring(segment);
                if (!s.isEmpty() && s.chars().allMatch(c -> c == '.')) {
                    sb.setLength(segment);
                    sb.append("%2E".repeat(s.length()));
                }
                if (i == bytes.length) break;
                sb.append('/');
                segment = sb.length();
                continue;
            }
            int b = bytes[i] & 0xff;
            if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || "-._~".indexOf(b) >= 0) {
                sb.append((char) b);
            } else {
                sb.append('%')
                        .append(Character.toUpperCase(Character.forDigit(b >> 4, 16)))
                        .append(Character.toUpperCase(Character.forDigit(b & 15, 16)));
            }
        }
        return sb.toString();
    }

    @Override
    public String location() {
        return base;
    }

    @Override
    public void close() {
        client.shutdownNow();
    }
}
