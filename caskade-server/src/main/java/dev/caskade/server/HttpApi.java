package dev.caskade.server;

import dev.caskade.Batch;
import dev.caskade.Caskade;
import dev.caskade.ConflictException;
import dev.caskade.CorruptionException;
import dev.caskade.Digest;
import dev.caskade.Entry;
import dev.caskade.LimitException;
import dev.caskade.ReadOnlyException;
import dev.caskade.Snapshot;
import dev.caskade.Stats;
import dev.caskade.UnavailableException;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.core.JacksonException;

/** The routes of HTTP API v1: turns one request into one reply. Runs on worker threads, never on the event loop. */
final class HttpApi {
    private static final Logger log = LoggerFactory.getLogger(HttpApi.class);
    private static final String JSON = "application/json";
    private static final String KV = "/v1/kv/";
    /** On {@code GET /v1/kv/{key}} of a key with a time-to-live: its expiry in epoch milliseconds. */
    static final String EXPIRES_AT = "Caskade-Expires-At";

    private static final int MAX_LIMIT = 10_000;
    private static final int MAX_TXN_ATTEMPTS = 100;
    /** A century: far enough for any real expiry, near enough that now + ttl cannot overflow. */
    private static final long MAX_TTL_SECONDS = 100L * 365 * 24 * 3600;

    /** Sent with every 401: both ways to authenticate. */
    private static final Map<String, String> CHALLENGE =
            Map.of(HttpHeaderNames.WWW_AUTHENTICATE.toString(), "Basic realm=\"caskade\", Bearer realm=\"caskade\"");

    private final Caskade db;
    private final Metrics metrics;
    private final Users users;
    private volatile boolean ready = true;
    private volatile Replication replication;
    private volatile java.util.function.Supplier<Role> role;
    /** The live copies streaming from this server now (follower servers, client replicas). */
    private final java.util.Set<HttpJson.Follower> followers = java.util.concurrent.ConcurrentHashMap.newKeySet();

    private final HttpIdempotency idempotency = HttpIdempotency.defaults();

    HttpApi(Caskade db, Metrics metrics, Users users) {
        this.db = db;
        this.metrics = metrics;
        this.users = users;
    }

    Metrics metrics() {
        return metrics;
    }

    /** Lists {@code f} in /v1/status until its stream ends. */
    void follower(HttpJson.Follower f, io.netty.channel.Channel channel) {
        followers.add(f);
        channel.closeFuture().addListener(done -> followers.remove(f));
    }

    /** Where a served copy comes from (a follower's primary, a cluster node's log), for /v1/status. */
    void role(java.util.function.Supplier<Role> value) {
        role = value;
    }

    /** Adds the destinations to /v1/status and, with max-replica-lag, to the readiness check. */
    void attach(Replication value) {
        replication = value;
    }

    /** Readiness turns off when the server begins to stop, so balancers drain it first. */
    void notReady() {
        ready = false;
    }

    HttpReply handle(HttpCall call) {
        metrics.countHttpRequest();
        return answer(call, () -> {
            if (call.path().equals("/healthz") || call.path().equals("/readyz")) return route(call, User.OPEN);
            // the web console's static files hold no data: the page itself logs in for the API calls
            if (Console.serves(call.path())) return Console.answer(call);
            User user = authenticate(call);
            if (user == null) {
                boolean sent = call.headers().contains(HttpHeaderNames.AUTHORIZATION);
                return unauthorized(sent ? "invalid credentials" : "authentication required");
            }
            authorize(call, user);
            String key = writes(call) ? HttpIdempotency.key(call) : null;
            if (key == null) return route(call, user);
            // a write's reply is final once it is remembered, errors included: answer() runs inside
            return idempotency.run(user.name(), key, call, () ->
                    (HttpReply.Full) answer(call, () -> route(call, user)));
        });
    }

    /** The write routes, where an {@code Idempotency-Key} makes a repeated request answer without running again. */
    private static boolean writes(HttpCall call) {
        HttpMethod m = call.method();
        if (call.path().startsWith(KV)) return m.equals(HttpMethod.PUT) || m.equals(HttpMethod.DELETE);
        return call.path().equals("/v1/txn") && m.equals(HttpMethod.POST);
    }

    /** Runs {@code route}, turning what it throws into the error reply. */
    private HttpReply answer(HttpCall call, Supplier<HttpReply> route) {
        try {
            return route.get();
        } catch (HttpFailure e) {
            return error(HttpResponseStatus.valueOf(e.status()), e.getMessage());
        } catch (LimitException e) {
            return error(HttpResponseStatus.REQUEST_ENTITY_TOO_LARGE, e.getMessage());
        } catch (ReadOnlyException e) {
            return error(HttpResponseStatus.FORBIDDEN, e.getMessage());
        } catch (UnavailableException e) {
            return error(HttpResponseStatus.SERVICE_UNAVAILABLE, e.getMessage());
        } catch (ConflictException e) {
            return error(HttpResponseStatus.PRECONDITION_FAILED, e.getMessage());
        } catch (CorruptionException e) {
            log.error("corruption while serving {} {}", call.method(), call.path(), e);
            return error(HttpResponseStatus.INTERNAL_SERVER_ERROR, e.getMessage());
        } catch (JacksonException e) {
            return error(HttpResponseStatus.BAD_REQUEST, "bad JSON: " + e.getOriginalMessage());
        } catch (IllegalArgumentException e) {
            // bad input found below the request's own checks, e.g. a follower's key outside its prefix
            return error(HttpResponseStatus.BAD_REQUEST, e.getMessage());
        } catch (IllegalStateException e) {
            // the store is closed or refuses writes: the server is going away
            return error(HttpResponseStatus.SERVICE_UNAVAILABLE, e.getMessage());
        } catch (RuntimeException e) {
            log.warn("failed to serve {} {}", call.method(), call.path(), e);
            return error(HttpResponseStatus.INTERNAL_SERVER_ERROR, String.valueOf(e.getMessage()));
        }
    }

    /**
     * The user the request's {@code Authorization} names ({@code Bearer <token>}, or {@code Basic} with the
     * password or the token); the open user when there are no users; null when the credentials are missing or
     * wrong. The hook for routes served elsewhere (a WebSocket upgrade): authenticate with this, then check
     * {@link User#can} or {@link User#canAll} and answer {@link #unauthorized} or {@link #forbidden}.
     */
    User authenticate(HttpCall call) {
        User anonymous = users.anonymous();
        if (anonymous != null) return anonymous;
        String header = call.headers().get(HttpHeaderNames.AUTHORIZATION);
        if (header == null) return null;
        header = header.trim();
        int space = header.indexOf(' ');
        if (space < 0) return null;
        String scheme = header.substring(0, space);
        String credentials = header.substring(space + 1).trim();
        if (scheme.equalsIgnoreCase("Bearer")) return users.bearer(credentials).orElse(null);
        if (!scheme.equalsIgnoreCase("Basic")) return null;
        String pair;
        try {
            pair = new String(Base64.getDecoder().decode(credentials), StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            return null;
        }
        int colon = pair.indexOf(':');
        if (colon < 0) return null;
        return users.login(pair.substring(0, colon), pair.substring(colon + 1)).orElse(null);
    }

    /**
     * Throws 403 unless {@code user} may make this request: read (GET) or write (PUT, DELETE) on a key; read on
     * every key under the prefix of a list, watch or digest. A transaction checks its own keys; status, metrics
     * and unknown routes need only a login.
     */
    private static void authorize(HttpCall call, User user) {
        String path = call.path();
        if (path.startsWith(KV)) {
            byte[] key = HttpQuery.decode(path.substring(KV.length()), false);
            boolean reads =
                    call.method().equals(HttpMethod.GET) || call.method().equals(HttpMethod.HEAD);
            if (key.length > 0) require(user, reads ? Access.READ : Access.WRITE, key);
            return;
        }
        switch (path) {
            case "/v1/kv", "/v1/watch", "/v1/digest" ->
                requireAll(user, call.query().bytes("prefix", new byte[0]));
            default -> {}
        }
    }

    /** Throws 403 unless {@code user} may read every key under {@code prefix} (lists, watches, digests). */
    static void requireAll(User user, byte[] prefix) {
        if (!user.canAll(Access.READ, prefix))
            throw new HttpFailure(
                    403,
                    "user " + user.name() + " may not read every key under the prefix '"
                            + new String(prefix, StandardCharsets.UTF_8) + "'");
    }

    private static void require(User user, Access needed, byte[] key) {
        if (!user.can(needed, key))
            throw new HttpFailure(
                    403,
                    "user " + user.name() + " may not " + needed + " the key '"
                            + new String(key, StandardCharsets.UTF_8) + "'");
    }

    /** 401 with the challenge that says how to authenticate. */
    static HttpReply.Full unauthorized(String message) {
        HttpResponseStatus s = HttpResponseStatus.UNAUTHORIZED;
        return new HttpReply.Full(s, JSON, HttpJson.write(new HttpJson.Error(message, s.code())), CHALLENGE);
    }

    /** 403: authenticated, but a rule denies it. */
    static HttpReply.Full forbidden(String message) {
        return error(HttpResponseStatus.FORBIDDEN, message);
    }

    private HttpReply route(HttpCall call, User user) {
        String path = call.path();
        HttpMethod m = call.method();
        if (path.startsWith(KV)) {
            byte[] key = HttpQuery.decode(path.substring(KV.length()), false);
            if (key.length == 0) throw HttpFailure.badRequest("empty key");
            if (m.equals(HttpMethod.GET)) return get(key);
            if (m.equals(HttpMethod.PUT)) return put(call, key);
            if (m.equals(HttpMethod.DELETE)) return delete(call, key);
            return notAllowed("GET, PUT, DELETE");
        }
        return switch (path) {
            case "/v1/kv" -> m.equals(HttpMethod.GET) ? list(call.query()) : notAllowed("GET");
            case "/v1/txn" -> m.equals(HttpMethod.POST) ? txn(call.body(), user) : notAllowed("POST");
            case "/v1/watch" -> m.equals(HttpMethod.GET) ? watch(call) : notAllowed("GET");
            case WatchSocket.PATH -> m.equals(HttpMethod.GET) ? socket(call, user) : notAllowed("GET");
            case "/v1/digest" -> m.equals(HttpMethod.GET) ? digest(call.query()) : notAllowed("GET");
            case "/v1/status" -> m.equals(HttpMethod.GET) ? status() : notAllowed("GET");
            case "/healthz" ->
                m.equals(HttpMethod.GET) ? json(HttpResponseStatus.OK, new HttpJson.Health("ok")) : notAllowed("GET");
            case "/readyz" -> m.equals(HttpMethod.GET) ? readiness() : notAllowed("GET");
            case "/metrics" ->
                m.equals(HttpMethod.GET)
                        ? new HttpReply.Full(
                                HttpResponseStatus.OK,
                                "text/plain; version=0.0.4; charset=utf-8",
                                metrics.scrape().getBytes(java.nio.charset.StandardCharsets.UTF_8),
                                Map.of())
                        : notAllowed("GET");
            default -> error(HttpResponseStatus.NOT_FOUND, "no route for " + path);
        };
    }

    private HttpReply get(byte[] key) {
        Entry e = db.get(key).orElseThrow(() -> new HttpFailure(404, "key not found"));
        Map<String, String> headers = e.expiresAt() == 0
                ? Map.of(HttpHeaderNames.ETAG.toString(), etag(e.revision()))
                : Map.of(HttpHeaderNames.ETAG.toString(), etag(e.revision()), EXPIRES_AT, Long.toString(e.expiresAt()));
        return new HttpReply.Full(HttpResponseStatus.OK, "application/octet-stream", e.value(), headers);
    }

    private HttpReply put(HttpCall call, byte[] key) {
        long ttl = call.query().number("ttl", 0, 1, MAX_TTL_SECONDS);
        Batch batch = Batch.create();
        expectations(call, key, batch);
        if (ttl > 0) batch.put(key, call.body(), Duration.ofSeconds(ttl));
        else batch.put(key, call.body());
        long rev = db.commit(batch);
        return new HttpReply.Full(
                HttpResponseStatus.OK,
                JSON,
                HttpJson.write(new HttpJson.Revision(rev)),
                Map.of(HttpHeaderNames.ETAG.toString(), etag(rev)));
    }

    private HttpReply delete(HttpCall call, byte[] key) {
        Batch batch = Batch.create();
        boolean conditional = expectations(call, key, batch);
        if (!conditional) {
            long rev = db.delete(key);
            if (rev == 0) throw new HttpFailure(404, "key not found");
            return json(HttpResponseStatus.OK, new HttpJson.Revision(rev));
        }
        if (db.get(key).isEmpty()) throw new HttpFailure(404, "key not found");
        long rev = db.commit(batch.delete(key));
        return json(HttpResponseStatus.OK, new HttpJson.Revision(rev));
    }

    /** Adds If-Match / If-None-Match preconditions to {@code batch}; true if there was one. */
    private static boolean expectations(HttpCall call, byte[] key, Batch batch) {
        String ifMatch = call.headers().get(HttpHeaderNames.IF_MATCH);
        String ifNoneMatch = call.headers().get(HttpHeaderNames.IF_NONE_MATCH);
        if (ifMatch != null && ifNoneMatch != null)
            throw HttpFailure.badRequest("give If-Match or If-None-Match, not both");
        if (ifNoneMatch != null) {
            if (!ifNoneMatch.trim().equals("*")) throw HttpFailure.badRequest("only If-None-Match: * is supported");
            batch.expect(key, 0);
            return true;
        }
        if (ifMatch != null) {
            batch.expect(key, parseEtag(ifMatch.trim()));
            return true;
        }
        return false;
    }

    private static long parseEtag(String tag) {
        String t = tag.startsWith("W/") ? tag.substring(2) : tag;
        if (t.length() >= 2 && t.startsWith("\"") && t.endsWith("\"")) t = t.substring(1, t.length() - 1);
        try {
            long rev = Long.parseLong(t);
            if (rev <= 0) throw HttpFailure.badRequest("If-Match revision must be positive");
            return rev;
        } catch (NumberFormatException e) {
            throw HttpFailure.badRequest("If-Match must be a revision ETag like \"12\": " + tag);
        }
    }

    private HttpReply list(HttpQuery q) {
        byte[] prefix = q.bytes("prefix", new byte[0]);
        int limit = (int) q.number("limit", 1000, 1, MAX_LIMIT);
        try (Snapshot snap = db.snapshot();
                Stream<Entry> s = snap.scan(prefix, q.bytes("after", null))) {
            List<HttpJson.Item> items = new ArrayList<>();
            byte[] last = null;
            boolean more = false;
            for (Iterator<Entry> it = s.iterator(); it.hasNext(); ) {
                Entry e = it.next();
                if (items.size() == limit) {
                    more = true;
                    break;
                }
                items.add(HttpJson.Item.of(e));
                last = e.key();
            }
            return json(HttpResponseStatus.OK, HttpJson.Page.of(snap.revision(), items, more ? last : null));
        }
    }

    /**
     * Optimistic and atomic: decides the branch from the compare keys' current revisions, then commits that
     * branch expecting those very revisions, so the decision still holds at the commit; on a race it retries.
     */
    private HttpReply txn(byte[] body, User user) {
        if (body.length == 0) throw HttpFailure.badRequest("empty body");
        HttpJson.Txn txn = HttpJson.MAPPER.readValue(body, HttpJson.Txn.class);
        if (txn == null) throw HttpFailure.badRequest("the body must be a JSON object");
        List<HttpJson.Compare> compares = orEmpty(txn.compare());
        for (HttpJson.Compare c : compares) {
            if (c == null) throw HttpFailure.badRequest("compare needs a key");
            key(c.key(), c.keyBase64(), "compare");
            if (c.revision() < 0) throw HttpFailure.badRequest("compare revision must not be negative");
        }
        addOps(Batch.create(), txn.success()); // validate both branches before deciding
        addOps(Batch.create(), txn.failure());
        // both branches, whichever runs: the answer must not depend on what the compares found
        for (HttpJson.Compare c : compares) require(user, Access.READ, key(c.key(), c.keyBase64(), "compare"));
        for (HttpJson.Op op : orEmpty(txn.success())) require(user, Access.WRITE, key(op.key(), op.keyBase64(), "op"));
        for (HttpJson.Op op : orEmpty(txn.failure())) require(user, Access.WRITE, key(op.key(), op.keyBase64(), "op"));
        for (int attempt = 0; attempt < MAX_TXN_ATTEMPTS; attempt++) {
            Batch batch = Batch.create();
            boolean succeeded = true;
            for (HttpJson.Compare c : compares) {
                byte[] key = key(c.key(), c.keyBase64(), "compare");
                long current = db.get(key).map(Entry::revision).orElse(0L);
                succeeded &= current == c.revision();
                batch.expect(key, current);
            }
            addOps(batch, succeeded ? txn.success() : txn.failure());
            try {
                return json(HttpResponseStatus.OK, new HttpJson.TxnResult(succeeded, db.commit(batch)));
            } catch (ConflictException e) {
                // a compare key changed between the read and the commit: decide again
            }
        }
        return error(HttpResponseStatus.SERVICE_UNAVAILABLE, "transaction kept conflicting; retry");
    }

    private static void addOps(Batch batch, List<HttpJson.Op> ops) {
        for (HttpJson.Op op : orEmpty(ops)) {
            if (op == null || op.op() == null) throw HttpFailure.badRequest("an op needs \"op\" and \"key\"");
            byte[] key = key(op.key(), op.keyBase64(), "op");
            switch (op.op()) {
                case "put" -> {
                    byte[] value = value(op);
                    if (op.ttl() != null && op.ttlMs() != null)
                        throw HttpFailure.badRequest("give ttl or ttl_ms, not both");
                    if (op.ttl() != null) {
                        if (op.ttl() <= 0 || op.ttl() > MAX_TTL_SECONDS)
                            throw HttpFailure.badRequest("ttl must be in [1, " + MAX_TTL_SECONDS + "]");
                        batch.put(key, value, Duration.ofSeconds(op.ttl()));
                    } else if (op.ttlMs() != null) {
                        if (op.ttlMs() <= 0 || op.ttlMs() / 1000 > MAX_TTL_SECONDS)
                            throw HttpFailure.badRequest("ttl_ms must be in [1, " + MAX_TTL_SECONDS * 1000 + "]");
                        batch.put(key, value, Duration.ofMillis(op.ttlMs()));
                    } else {
                        batch.put(key, value);
                    }
                }
                case "delete" -> batch.delete(key);
                default -> throw HttpFailure.badRequest("unknown op: " + op.op());
            }
        }
    }

    /** A txn key given as UTF-8 text or, for any bytes, as base64. */
    private static byte[] key(String text, String base64, String where) {
        if (text != null && base64 != null) throw HttpFailure.badRequest(where + ": give key or key_base64, not both");
        if (base64 != null) {
            try {
                return Base64.getDecoder().decode(base64);
            } catch (IllegalArgumentException e) {
                throw HttpFailure.badRequest(where + ": bad key_base64");
            }
        }
        if (text == null) throw HttpFailure.badRequest(where + " needs a key");
        return text.getBytes(StandardCharsets.UTF_8);
    }

    private static byte[] value(HttpJson.Op op) {
        if (op.value() != null && op.valueBase64() != null)
            throw HttpFailure.badRequest("give value or value_base64, not both");
        if (op.valueBase64() != null) {
            try {
                return Base64.getDecoder().decode(op.valueBase64());
            } catch (IllegalArgumentException e) {
                throw HttpFailure.badRequest("bad value_base64");
            }
        }
        if (op.value() == null) throw HttpFailure.badRequest("put needs a value");
        return op.value().getBytes(StandardCharsets.UTF_8);
    }

    private static <T> List<T> orEmpty(List<T> list) {
        return list == null ? List.of() : list;
    }

    private HttpReply watch(HttpCall call) {
        HttpQuery q = call.query();
        byte[] prefix = q.bytes("prefix", new byte[0]);
        long from = q.number("from", -1, 0, Long.MAX_VALUE);
        boolean snapshot = q.flag("snapshot");
        String lastEventId = call.headers().get("Last-Event-ID");
        if (lastEventId != null && !lastEventId.isBlank()) {
            try {
                from = Long.parseLong(lastEventId.trim());
            } catch (NumberFormatException e) {
                throw HttpFailure.badRequest("Last-Event-ID must be a revision: " + lastEventId);
            }
            if (from < 0) throw HttpFailure.badRequest("Last-Event-ID must not be negative");
            snapshot = false; // the client has the state up to that revision already
        }
        if (from < 0 && !snapshot) from = db.revision(); // neither given: only what happens from now on
        String replica = call.headers().get("Caskade-Replica");
        if (replica != null && (replica.length() > 200 || !replica.chars().allMatch(c -> c >= 0x20 && c < 0x7f)))
            throw HttpFailure.badRequest("Caskade-Replica must be at most 200 printable ASCII characters");
        return new HttpReply.Events(new SseStream.Start(prefix, Math.max(from, 0), snapshot, replica));
    }

    /** Checks that this is a WebSocket handshake that Netty can answer, with a JSON error if not. */
    private static HttpReply socket(HttpCall call, User user) {
        if (!call.headers().containsValue(HttpHeaderNames.UPGRADE, "websocket", true)
                || !call.headers().containsValue(HttpHeaderNames.CONNECTION, "upgrade", true)
                || !call.headers().contains(HttpHeaderNames.SEC_WEBSOCKET_KEY))
            throw HttpFailure.badRequest(WatchSocket.PATH + " is a WebSocket: send an Upgrade: websocket handshake");
        if (!"13".equals(call.headers().get(HttpHeaderNames.SEC_WEBSOCKET_VERSION))) {
            HttpResponseStatus s = HttpResponseStatus.UPGRADE_REQUIRED;
            return new HttpReply.Full(
                    s,
                    JSON,
                    HttpJson.write(new HttpJson.Error("only WebSocket version 13 is supported", s.code())),
                    Map.of(HttpHeaderNames.SEC_WEBSOCKET_VERSION.toString(), "13"));
        }
        return new HttpReply.Socket(call.headers(), user);
    }

    private HttpReply digest(HttpQuery q) {
        Digest d = db.digest(q.bytes("prefix", new byte[0]));
        return json(HttpResponseStatus.OK, new HttpJson.Digest(d.revision(), d.keys(), d.sha256()));
    }

    private HttpReply status() {
        Stats s = db.stats();
        java.util.function.Supplier<Role> supplier = role;
        Role r = supplier == null ? null : supplier.get();
        return json(
                HttpResponseStatus.OK,
                new HttpJson.Status(
                        s.revision(),
                        s.keys(),
                        r == null ? "primary" : r.role(),
                        s.diskBytes(),
                        s.liveBytes(),
                        s.deadBytes(),
                        s.segments(),
                        s.compactedRevision(),
                        s.durability(),
                        s.watches(),
                        s.snapshots(),
                        s.merges(),
                        replication == null ? List.of() : replication.statuses(),
                        r instanceof FollowStatus f ? f : null,
                        r instanceof ClusterStatus c ? c : null,
                        followers.stream()
                                .sorted(java.util.Comparator.comparing(HttpJson.Follower::since))
                                .toList()));
    }

    private HttpReply readiness() {
        if (!ready) return json(HttpResponseStatus.SERVICE_UNAVAILABLE, new HttpJson.Health("stopping"));
        db.stats(); // throws IllegalStateException (503) once the store is closed
        Replication r = replication;
        String lagging = r == null ? null : r.lagging();
        if (lagging != null)
            return json(HttpResponseStatus.SERVICE_UNAVAILABLE, new HttpJson.NotReady("lagging", lagging));
        return json(HttpResponseStatus.OK, new HttpJson.Health("ready"));
    }

    static String etag(long revision) {
        return "\"" + revision + "\"";
    }

    static HttpReply.Full json(HttpResponseStatus status, Object body) {
        return new HttpReply.Full(status, JSON, HttpJson.write(body), Map.of());
    }

    static HttpReply.Full error(HttpResponseStatus status, String message) {
        return json(status, new HttpJson.Error(message, status.code()));
    }

    private static HttpReply notAllowed(String allow) {
        HttpResponseStatus s = HttpResponseStatus.METHOD_NOT_ALLOWED;
        return new HttpReply.Full(
                s,
                JSON,
                HttpJson.write(new HttpJson.Error("method not allowed", s.code())),
                Map.of(HttpHeaderNames.ALLOW.toString(), allow));
    }
}
