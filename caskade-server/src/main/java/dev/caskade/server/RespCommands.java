package dev.caskade.server;

import static dev.caskade.server.RespReply.NULL;
import static dev.caskade.server.RespReply.NULL_ARRAY;
import static dev.caskade.server.RespReply.OK;
import static dev.caskade.server.RespReply.QUEUED;
import static dev.caskade.server.RespReply.bulk;
import static dev.caskade.server.RespReply.err;
import static dev.caskade.server.RespReply.integer;
import static java.nio.charset.StandardCharsets.UTF_8;

import dev.caskade.Batch;
import dev.caskade.Caskade;
import dev.caskade.CaskadeException;
import dev.caskade.ConflictException;
import dev.caskade.Entry;
import dev.caskade.ReadOnlyException;
import dev.caskade.Snapshot;
import dev.caskade.Stats;
import dev.caskade.UnavailableException;
import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.function.BiFunction;
import java.util.function.Function;
import java.util.stream.Stream;

/**
 * The RESP command set over a {@link Caskade}. Writes never wait for an fsync here ({@link Caskade#commitNoWait});
 * the handler holds each reply until the store is durable up to the revision the command could see. Commands that touch keys run against a {@link RespTransaction}:
 * alone they commit at once (and re-run on a conflict), inside MULTI they share the EXEC's transaction, which
 * is what makes both read-modify-write commands and EXEC atomic.
 */
final class RespCommands {
    /** Re-runs of a read-modify-write that keeps losing races; beyond this the client gets an error. */
    private static final int MAX_ATTEMPTS = 64;

    /** A MULTI that never EXECs must not grow without bound. */
    private static final int MAX_QUEUED = 100_000;

    private static final long MAX_STRING = RespOptions.MAX_REQUEST_BYTES;

    /** The Redis command table entry: arity (negative = at least), key positions and flags. */
    record Spec(String name, int arity, int firstKey, int lastKey, int step, List<String> flags) {}

    static final Map<String, Spec> SPECS = specs(
            "ping -1 0 0 0 fast",
            "echo 2 0 0 0 fast",
            "hello -1 0 0 0 fast",
            "auth -2 0 0 0 fast",
            "acl -2 0 0 0 admin",
            "select 2 0 0 0 fast",
            "quit -1 0 0 0 fast",
            "reset 1 0 0 0 fast",
            "command -1 0 0 0 loading",
            "client -2 0 0 0 admin",
            "info -1 0 0 0 loading",
            "config -2 0 0 0 admin",
            "dbsize 1 0 0 0 readonly,fast",
            "time 1 0 0 0 fast",
            "get 2 1 1 1 readonly,fast",
            "set -3 1 1 1 write",
            "setnx 3 1 1 1 write,fast",
            "setex 4 1 1 1 write",
            "psetex 4 1 1 1 write",
            "getset 3 1 1 1 write,fast",
            "getdel 2 1 1 1 write,fast",
            "getex -2 1 1 1 write,fast",
            "mget -2 1 -1 1 readonly,fast",
            "mset -3 1 -1 2 write",
            "msetnx -3 1 -1 2 write",
            "append 3 1 1 1 write,fast",
            "strlen 2 1 1 1 readonly,fast",
            "getrange 4 1 1 1 readonly",
            "setrange 4 1 1 1 write",
            "incr 2 1 1 1 write,fast",
            "decr 2 1 1 1 write,fast",
            "incrby 3 1 1 1 write,fast",
            "decrby 3 1 1 1 write,fast",
            "incrbyfloat 3 1 1 1 write,fast",
            "del -2 1 -1 1 write",
            "unlink -2 1 -1 1 write,fast",
            "exists -2 1 -1 1 readonly,fast",
            "type 2 1 1 1 readonly,fast",
            "keys 2 0 0 0 readonly",
            "scan -2 0 0 0 readonly",
            "expire -3 1 1 1 write,fast",
            "pexpire -3 1 1 1 write,fast",
            "expireat -3 1 1 1 write,fast",
            "pexpireat -3 1 1 1 write,fast",
            "ttl 2 1 1 1 readonly,fast",
            "pttl 2 1 1 1 readonly,fast",
            "persist 2 1 1 1 write,fast",
            "expiretime 2 1 1 1 readonly,fast",
            "pexpiretime 2 1 1 1 readonly,fast",
            "rename 3 1 2 1 write",
            "renamenx 3 1 2 1 write,fast",
            "copy -3 1 2 1 write",
            "flushdb -1 0 0 0 write",
            "flushall -1 0 0 0 write",
            "multi 1 0 0 0 fast",
            "exec 1 0 0 0 loading",
            "discard 1 0 0 0 fast",
            "watch -2 1 -1 1 fast",
            "unwatch 1 0 0 0 fast",
            "caskade.revision 1 0 0 0 readonly,fast",
            "caskade.get 2 1 1 1 readonly,fast",
            "caskade.cas 4 1 1 1 write,fast",
            "subscribe -2 0 0 0 pubsub,noscript,loading,stale",
            "unsubscribe -1 0 0 0 pubsub,noscript,loading,stale",
            "psubscribe -2 0 0 0 pubsub,noscript,loading,stale",
            "punsubscribe -1 0 0 0 pubsub,noscript,loading,stale",
            "publish 3 0 0 0 pubsub,loading,stale,fast",
            "pubsub -2 0 0 0 pubsub,loading,stale",
            "caskade.watch 3 0 0 0 readonly,noscript",
            "caskade.unwatch -1 0 0 0 noscript,fast");

    private static final RespReply NOAUTH = err("NOAUTH Authentication required.");
    private static final RespReply WRONGPASS = err("WRONGPASS invalid username-password pair or user is disabled.");
    private static final RespReply NOPERM_KEY = err("NOPERM No permissions to access a key");
    private static final RespReply NOPERM_CHANNEL = err("NOPERM No permissions to access a channel");

    private final Caskade db;
    private final RespServer server;
    private final Users users;
    private final Clock clock;
    private final RespPubSub pubsub = new RespPubSub();
    private final RespKeyspaceEvents keyspace;
    private final RespConfig config;

    RespCommands(Caskade db, RespServer server, Users users) {
        this.db = db;
        this.server = server;
        this.users = users;
        this.clock = db.options().clock();
        this.keyspace = new RespKeyspaceEvents(db, pubsub);
        this.config = new RespConfig(db, server, keyspace);
    }

    /** Stops what runs in the background: the keyspace notifications' change feed. */
    void close() {
        keyspace.close();
    }

    private static Map<String, Spec> specs(String... lines) {
        Map<String, Spec> m = new LinkedHashMap<>();
        for (String line : lines) {
            String[] f = line.split(" ");
            m.put(
                    f[0].toUpperCase(Locale.ROOT),
                    new Spec(
                            f[0],
                            Integer.parseInt(f[1]),
                            Integer.parseInt(f[2]),
                            Integer.parseInt(f[3]),
                            Integer.parseInt(f[4]),
                            List.of(f[5].split(","))));
        }
        return Map.copyOf(m);
    }

    /** Runs one client command, honouring MULTI queueing. */
    RespReply execute(RespSession s, List<byte[]> args) {
        String name = name(args.get(0));
        Spec spec = SPECS.get(name);
        RespReply refusal = spec == null ? unknown(args) : arityError(spec, args.size());
        if (refusal == null && s.protocol == RespProtocol.RESP2 && s.subscribed() && !ALLOWED_SUBSCRIBED.contains(name))
            refusal = err("ERR Can't execute '" + spec.name()
                    + "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context");
        if (refusal == null && s.inMulti() && STREAMING.contains(name))
            refusal = err("ERR Command not allowed inside a transaction");
        if (refusal == null) refusal = permit(s, name, spec, args);
        if (s.inMulti() && !isTransactionControl(name)) {
            if (refusal != null) {
                s.queueFailed = true;
                return refusal;
            }
            if (s.queue.size() >= MAX_QUEUED) {
                s.queueFailed = true;
                return err("ERR too many commands queued in this MULTI (limit " + MAX_QUEUED + ")");
            }
            s.queue.add(args);
            return QUEUED;
        }
        if (refusal != null) return refusal;
        try {
            return switch (name) {
                case "MULTI" -> multi(s);
                case "EXEC" -> exec(s);
                case "DISCARD" -> discard(s);
                case "WATCH" -> watch(s, args);
                case "UNWATCH" -> {
                    s.watched.clear();
                    yield OK;
                }
                default -> dispatch(s, name, args, null);
            };
        } catch (ReadOnlyException e) {
            return err("READONLY You can't write against a read only replica. " + e.getMessage());
        } catch (UnavailableException e) {
            return err("MASTERDOWN " + e.getMessage());
        } catch (IllegalArgumentException | CaskadeException e) {
            return err("ERR " + e.getMessage());
        }
    }

    /** The command's name in upper case; the two commonest without building a string. */
    static String name(byte[] b) {
        if (b.length == 3 && (b[1] | 0x20) == 'e' && (b[2] | 0x20) == 't') {
            if ((b[0] | 0x20) == 'g') return "GET";
            if ((b[0] | 0x20) == 's') return "SET";
        }
        return new String(b, UTF_8).toUpperCase(Locale.ROOT);
    }

    private static boolean isTransactionControl(String name) {
        return switch (name) {
            case "MULTI", "EXEC", "DISCARD", "WATCH", "QUIT", "RESET" -> true;
            default -> false;
        };
    }

    /** What a RESP2 connection in subscribed mode may still run. */
    private static final java.util.Set<String> ALLOWED_SUBSCRIBED =
            java.util.Set.of("SUBSCRIBE", "PSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "PING", "QUIT", "RESET");

    /**
     * Commands whose replies are streams of frames, which an EXEC's single array cannot hold (Redis allows
     * SUBSCRIBE in MULTI; Caskade refuses it).
     */
    private static final java.util.Set<String> STREAMING = java.util.Set.of(
            "SUBSCRIBE", "PSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "CASKADE.WATCH", "CASKADE.UNWATCH");

    /** True for the commands whose confirmations the subscriber writes itself, outside the reply order. */
    static boolean writesOwnReplies(byte[] name) {
        return name.length <= 16 && STREAMING.contains(new String(name, UTF_8).toUpperCase(Locale.ROOT));
    }

    private static RespReply unknown(List<byte[]> args) {
        StringBuilder sb = new StringBuilder("ERR unknown command '")
                .append(clip(args.get(0)))
                .append("', with args beginning with: ");
        for (int i = 1; i < args.size() && i < 16; i++)
            sb.append('\'').append(clip(args.get(i))).append("' ");
        return err(sb.toString());
    }

    private static String clip(byte[] b) {
        return new String(b, 0, Math.min(b.length, 128), UTF_8);
    }

    private static RespReply arityError(Spec spec, int n) {
        boolean ok = spec.arity() >= 0 ? n == spec.arity() : n >= -spec.arity();
        return ok ? null : wrongArgs(spec.name());
    }

    private static RespReply wrongArgs(String command) {
        return err("ERR wrong number of arguments for '" + command + "' command");
    }

    /**
     * Every command except transaction control. {@code tx} is the EXEC's transaction, or null to run a key
     * command in a transaction of its own.
     */
    private RespReply dispatch(RespSession s, String name, List<byte[]> a, RespTransaction tx) {
        return switch (name) {
            case "PING" ->
                a.size() > 2
                        ? wrongArgs("ping")
                        : s.protocol == RespProtocol.RESP2 && s.subscribed()
                                // subscribed mode: a reply shaped like a message, as Redis sends it
                                ? RespReply.array(List.of(
                                        bulk("pong"), new RespReply.Bulk(a.size() == 2 ? a.get(1) : new byte[0])))
                                : a.size() == 1 ? new RespReply.Simple("PONG") : new RespReply.Bulk(a.get(1));
            case "ECHO" -> new RespReply.Bulk(a.get(1));
            case "HELLO" -> hello(s, a);
            case "AUTH" -> auth(s, a);
            case "ACL" -> acl(s, a);
            case "SELECT" -> select(a);
            case "QUIT" -> {
                s.closing = true;
                yield OK;
            }
            case "RESET" -> {
                s.reset();
                yield new RespReply.Simple("RESET");
            }
            case "COMMAND" -> command(a);
            case "CLIENT" -> client(s, a);
            case "INFO" -> info(a);
            case "CONFIG" -> config(a);
            case "SUBSCRIBE", "PSUBSCRIBE" -> {
                RespSubscriber sub = subscriber(s);
                yield sub == null ? gone() : sub.subscribe(a.subList(1, a.size()), name.equals("PSUBSCRIBE"));
            }
            case "UNSUBSCRIBE", "PUNSUBSCRIBE" -> {
                RespSubscriber sub = subscriber(s);
                yield sub == null ? gone() : sub.unsubscribe(a.subList(1, a.size()), name.equals("PUNSUBSCRIBE"));
            }
            case "PUBLISH" -> integer(pubsub.publish(a.get(1), a.get(2)));
            case "PUBSUB" -> pubsub(a);
            case "CASKADE.WATCH" -> caskadeWatch(s, a);
            case "CASKADE.UNWATCH" -> {
                RespSubscriber sub = s.subscriber;
                yield sub == null ? RespReply.ZERO : sub.unwatch(a.subList(1, a.size()));
            }
            case "DBSIZE" -> integer(db.stats().keys());
            case "TIME" -> {
                Instant now = clock.instant();
                yield RespReply.array(
                        List.of(bulk(Long.toString(now.getEpochSecond())), bulk(Long.toString(now.getNano() / 1000))));
            }
            case "KEYS" -> keys(s, a);
            case "SCAN" -> scan(s, a);
            case "FLUSHDB", "FLUSHALL" -> flush(a);
            case "CASKADE.REVISION" -> integer(db.revision());
            case "CASKADE.CAS" -> cas(a);
            default -> keyed(name, a, tx);
        };
    }

    /** Commands that read or write keys, run in {@code tx} or in a fresh transaction. */
    private RespReply keyed(String name, List<byte[]> a, RespTransaction tx) {
        if (tx == null) {
            // the two commands benchmarks and caches live on: one engine call, no staging
            if (name.equals("GET")) return value(db.get(a.get(1)));
            if (name.equals("SET") && a.size() == 3) {
                db.commitNoWait(Batch.create().put(a.get(1), a.get(2)));
                return OK;
            }
        }
        BiFunction<RespTransaction, List<byte[]>, RespReply> fn = switch (name) {
            case "GET" -> (t, x) -> value(t.get(x.get(1)));
            case "SET" -> this::set;
            case "SETNX" -> (t, x) -> setIfAbsent(t, x.get(1), x.get(2));
            case "SETEX" -> (t, x) -> setWithTtl(t, x, 1000, "setex");
            case "PSETEX" -> (t, x) -> setWithTtl(t, x, 1, "psetex");
            case "GETSET" ->
                (t, x) -> {
                    RespReply old = value(t.get(x.get(1)));
                    t.put(x.get(1), x.get(2), 0);
                    return old;
                };
            case "GETDEL" ->
                (t, x) -> {
                    Optional<Entry> e = t.get(x.get(1));
                    if (e.isEmpty()) return NULL;
                    t.delete(x.get(1));
                    return new RespReply.Bulk(e.get().value());
                };
            case "GETEX" -> this::getex;
            case "MGET" ->
                (t, x) -> {
                    List<RespReply> out = new ArrayList<>(x.size() - 1);
                    for (int i = 1; i < x.size(); i++) out.add(value(t.get(x.get(i))));
                    return RespReply.array(out);
                };
            case "MSET" -> (t, x) -> mset(t, x, false);
            case "MSETNX" -> (t, x) -> mset(t, x, true);
            case "APPEND" -> this::append;
            case "STRLEN" ->
                (t, x) -> integer(t.get(x.get(1)).map(e -> e.value().length).orElse(0));
            case "GETRANGE" -> this::getrange;
            case "SETRANGE" -> this::setrange;
            case "INCR" -> (t, x) -> incrBy(t, x.get(1), 1);
            case "DECR" -> (t, x) -> incrBy(t, x.get(1), -1);
            case "INCRBY", "DECRBY" ->
                (t, x) -> {
                    Long by = parseLong(x.get(2));
                    if (by == null) return notInteger();
                    if (name.equals("DECRBY")) {
                        if (by == Long.MIN_VALUE) return err("ERR decrement would overflow");
                        by = -by;
                    }
                    return incrBy(t, x.get(1), by);
                };
            case "INCRBYFLOAT" -> this::incrByFloat;
            case "DEL", "UNLINK" ->
                (t, x) -> {
                    long n = 0;
                    for (int i = 1; i < x.size(); i++) {
                        if (t.get(x.get(i)).isPresent()) {
                            t.delete(x.get(i));
                            n++;
                        }
                    }
                    return integer(n);
                };
            case "EXISTS" ->
                (t, x) -> {
                    long n = 0;
                    for (int i = 1; i < x.size(); i++) if (t.get(x.get(i)).isPresent()) n++;
                    return integer(n);
                };
            case "TYPE" -> (t, x) -> new RespReply.Simple(t.get(x.get(1)).isPresent() ? "string" : "none");
            case "EXPIRE" -> (t, x) -> expire(t, x, 1000, false, "expire");
            case "PEXPIRE" -> (t, x) -> expire(t, x, 1, false, "pexpire");
            case "EXPIREAT" -> (t, x) -> expire(t, x, 1000, true, "expireat");
            case "PEXPIREAT" -> (t, x) -> expire(t, x, 1, true, "pexpireat");
            case "TTL" -> (t, x) -> ttl(t, x.get(1), true);
            case "PTTL" -> (t, x) -> ttl(t, x.get(1), false);
            case "EXPIRETIME", "PEXPIRETIME" ->
                (t, x) -> {
                    Optional<Entry> e = t.get(x.get(1));
                    if (e.isEmpty()) return integer(-2);
                    long at = e.get().expiresAt();
                    return integer(at == 0 ? -1 : name.equals("EXPIRETIME") ? at / 1000 : at);
                };
            case "PERSIST" ->
                (t, x) -> {
                    Optional<Entry> e = t.get(x.get(1));
                    if (e.isEmpty() || e.get().expiresAt() == 0) return RespReply.ZERO;
                    t.put(x.get(1), e.get().value(), 0);
                    return RespReply.ONE;
                };
            case "RENAME" -> (t, x) -> rename(t, x, false);
            case "RENAMENX" -> (t, x) -> rename(t, x, true);
            case "COPY" -> this::copy;
            case "CASKADE.GET" ->
                (t, x) -> t.get(x.get(1))
                        .map(e -> RespReply.array(List.of(new RespReply.Bulk(e.value()), integer(e.revision()))))
                        .orElse(NULL);
            default -> throw new IllegalStateException("no handler for " + name);
        };
        return tx != null ? fn.apply(tx, a) : atomically(a, fn);
    }

    /** A key's value as a bulk string, or null when absent. */
    private static RespReply value(Optional<Entry> e) {
        return e.isPresent() ? new RespReply.Bulk(e.get().value()) : NULL;
    }

    /** One command in its own transaction, re-run when a concurrent writer changed what it read. */
    private RespReply atomically(List<byte[]> a, BiFunction<RespTransaction, List<byte[]>, RespReply> fn) {
        for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
            RespTransaction tx = new RespTransaction(db::get, clock.millis());
            RespReply reply = fn.apply(tx, a);
            if (reply instanceof RespReply.Err || !tx.hasWrites()) return reply;
            try {
                tx.commit(db);
                return reply;
            } catch (ConflictException e) {
                // another client changed a key we read: read again
            }
        }
        return err("ERR too much contention on these keys, try again");
    }

    // ---- transactions

    private RespReply multi(RespSession s) {
        if (s.inMulti()) return err("ERR MULTI calls can not be nested");
        s.beginMulti();
        return OK;
    }

    private RespReply discard(RespSession s) {
        if (!s.inMulti()) return err("ERR DISCARD without MULTI");
        s.endMulti();
        return OK;
    }

    private RespReply watch(RespSession s, List<byte[]> a) {
        if (s.inMulti()) return err("ERR WATCH inside MULTI is not allowed");
        for (int i = 1; i < a.size(); i++) {
            byte[] key = a.get(i);
            s.watched.putIfAbsent(
                    ByteBuffer.wrap(key), db.get(key).map(Entry::revision).orElse(0L));
        }
        return OK;
    }

    private RespReply exec(RespSession s) {
        if (!s.inMulti()) return err("ERR EXEC without MULTI");
        List<List<byte[]>> queue = s.queue;
        boolean failed = s.queueFailed;
        Map<ByteBuffer, Long> watched = new LinkedHashMap<>(s.watched);
        s.endMulti();
        if (failed) return err("EXECABORT Transaction discarded because of previous errors.");
        for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
            try (Snapshot snap = db.snapshot()) {
                if (changed(watched, snap::get)) return NULL_ARRAY;
                RespTransaction tx = new RespTransaction(snap::get, clock.millis());
                List<RespReply> replies = new ArrayList<>(queue.size());
                List<Integer> publishes = new ArrayList<>();
                for (List<byte[]> args : queue) {
                    String name = new String(args.get(0), UTF_8).toUpperCase(Locale.ROOT);
                    if (name.equals("PUBLISH")) {
                        // sent once the commit holds: a retried EXEC must not publish twice
                        publishes.add(replies.size());
                        replies.add(null);
                        continue;
                    }
                    try {
                        // checked again: an AUTH queued before it may have changed the user
                        RespReply denied = permit(s, name, SPECS.get(name), args);
                        replies.add(denied != null ? denied : dispatch(s, name, args, tx));
                    } catch (IllegalArgumentException | CaskadeException e) {
                        replies.add(err("ERR " + e.getMessage()));
                    }
                }
                watched.forEach((k, rev) -> tx.expect(k.array(), rev));
                try {
                    tx.commit(db);
                    for (int i : publishes)
                        replies.set(
                                i,
                                integer(pubsub.publish(
                                        queue.get(i).get(1), queue.get(i).get(2))));
                    return RespReply.array(replies);
                } catch (ConflictException e) {
                    if (changed(watched, db::get)) return NULL_ARRAY;
                    // a key read inside the transaction changed: run it again on fresh data
                }
            }
        }
        return err("ERR too much contention on these keys, try again");
    }

    private static boolean changed(Map<ByteBuffer, Long> watched, Function<byte[], Optional<Entry>> reader) {
        for (Map.Entry<ByteBuffer, Long> w : watched.entrySet()) {
            long now = reader.apply(w.getKey().array()).map(Entry::revision).orElse(0L);
            if (now != w.getValue()) return true;
        }
        return false;
    }

    // ---- strings

    private RespReply set(RespTransaction t, List<byte[]> a) {
        boolean nx = false, xx = false, get = false, keepTtl = false;
        long expiresAt = 0;
        String unit = null;
        for (int i = 3; i < a.size(); i++) {
            String opt = upper(a.get(i));
            boolean hasNext = i + 1 < a.size();
            switch (opt) {
                case "NX" -> nx = true;
                case "XX" -> xx = true;
                case "GET" -> get = true;
                case "KEEPTTL" -> keepTtl = true;
                case "EX", "PX", "EXAT", "PXAT" -> {
                    if (!hasNext || unit != null) return syntax();
                    unit = opt;
                    Long v = parseLong(a.get(++i));
                    if (v == null) return notInteger();
                    if (v <= 0) return err("ERR invalid expire time in 'set' command");
                    expiresAt = switch (opt) {
                        case "EX" -> addMillis(t.now(), v, 1000);
                        case "PX" -> addMillis(t.now(), v, 1);
                        case "EXAT" -> addMillis(0, v, 1000);
                        default -> v;
                    };
                    if (expiresAt < 0) return err("ERR invalid expire time in 'set' command");
                }
                default -> {
                    return syntax();
                }
            }
        }
        if ((nx && xx) || (keepTtl && unit != null)) return syntax();
        byte[] key = a.get(1);
        Optional<Entry> old = t.get(key);
        RespReply oldReply = value(old);
        if ((nx && old.isPresent()) || (xx && old.isEmpty())) return get ? oldReply : NULL;
        if (keepTtl) expiresAt = old.map(Entry::expiresAt).orElse(0L);
        t.put(key, a.get(2), expiresAt);
        return get ? oldReply : OK;
    }

    /** {@code base + v * unit} ms, or -1 on overflow. */
    private static long addMillis(long base, long v, long unit) {
        try {
            return Math.addExact(base, Math.multiplyExact(v, unit));
        } catch (ArithmeticException e) {
            return -1;
        }
    }

    private RespReply setIfAbsent(RespTransaction t, byte[] key, byte[] value) {
        if (t.get(key).isPresent()) return RespReply.ZERO;
        t.put(key, value, 0);
        return RespReply.ONE;
    }

    private RespReply setWithTtl(RespTransaction t, List<byte[]> a, long unit, String command) {
        Long v = parseLong(a.get(2));
        if (v == null) return notInteger();
        long at = v <= 0 ? -1 : addMillis(t.now(), v, unit);
        if (at < 0) return err("ERR invalid expire time in '" + command + "' command");
        t.put(a.get(1), a.get(3), at);
        return OK;
    }

    private RespReply getex(RespTransaction t, List<byte[]> a) {
        long expiresAt = -1; // -1: leave the TTL alone
        if (a.size() > 2) {
            String opt = upper(a.get(2));
            if (opt.equals("PERSIST") && a.size() == 3) {
                expiresAt = 0;
            } else if (a.size() == 4 && List.of("EX", "PX", "EXAT", "PXAT").contains(opt)) {
                Long v = parseLong(a.get(3));
                if (v == null) return notInteger();
                expiresAt = v <= 0
                        ? -1
                        : switch (opt) {
                            case "EX" -> addMillis(t.now(), v, 1000);
                            case "PX" -> addMillis(t.now(), v, 1);
                            case "EXAT" -> addMillis(0, v, 1000);
                            default -> v;
                        };
                if (expiresAt <= 0) return err("ERR invalid expire time in 'getex' command");
            } else {
                return syntax();
            }
        }
        Optional<Entry> e = t.get(a.get(1));
        if (e.isEmpty()) return NULL;
        if (expiresAt >= 0 && expiresAt != e.get().expiresAt())
            t.put(a.get(1), e.get().value(), expiresAt);
        return new RespReply.Bulk(e.get().value());
    }

    private RespReply mset(RespTransaction t, List<byte[]> a, boolean onlyIfNoneExist) {
        if (a.size() % 2 == 0) return wrongArgs(onlyIfNoneExist ? "msetnx" : "mset");
        if (onlyIfNoneExist) {
            for (int i = 1; i < a.size(); i += 2) if (t.get(a.get(i)).isPresent()) return RespReply.ZERO;
        }
        for (int i = 1; i < a.size(); i += 2) t.put(a.get(i), a.get(i + 1), 0);
        return onlyIfNoneExist ? RespReply.ONE : OK;
    }

    private RespReply append(RespTransaction t, List<byte[]> a) {
        Optional<Entry> e = t.get(a.get(1));
        byte[] old = e.map(Entry::value).orElse(new byte[0]);
        byte[] add = a.get(2);
        if ((long) old.length + add.length > MAX_STRING) return tooBig();
        byte[] value = Arrays.copyOf(old, old.length + add.length);
        System.arraycopy(add, 0, value, old.length, add.length);
        t.put(a.get(1), value, e.map(Entry::expiresAt).orElse(0L)); // APPEND keeps the TTL
        return integer(value.length);
    }

    private RespReply getrange(RespTransaction t, List<byte[]> a) {
        Long start = parseLong(a.get(2)), end = parseLong(a.get(3));
        if (start == null || end == null) return notInteger();
        byte[] v = t.get(a.get(1)).map(Entry::value).orElse(new byte[0]);
        long len = v.length;
        if (start < 0 && end < 0 && start > end) return new RespReply.Bulk(new byte[0]);
        long s = start < 0 ? Math.max(0, len + start) : start;
        long e = end < 0 ? Math.max(0, len + end) : end;
        if (e >= len) e = len - 1;
        if (len == 0 || s > e) return new RespReply.Bulk(new byte[0]);
        return new RespReply.Bulk(Arrays.copyOfRange(v, (int) s, (int) e + 1));
    }

    private RespReply setrange(RespTransaction t, List<byte[]> a) {
        Long offset = parseLong(a.get(2));
        if (offset == null) return notInteger();
        if (offset < 0) return err("ERR offset is out of range");
        byte[] add = a.get(3);
        Optional<Entry> e = t.get(a.get(1));
        byte[] old = e.map(Entry::value).orElse(new byte[0]);
        if (add.length == 0) return integer(old.length); // nothing to write, not even padding
        if (offset + add.length > MAX_STRING) return tooBig();
        byte[] value = Arrays.copyOf(old, (int) Math.max(old.length, offset + add.length));
        System.arraycopy(add, 0, value, offset.intValue(), add.length);
        t.put(a.get(1), value, e.map(Entry::expiresAt).orElse(0L));
        return integer(value.length);
    }

    private RespReply incrBy(RespTransaction t, byte[] key, long by) {
        Optional<Entry> e = t.get(key);
        long current = 0;
        if (e.isPresent()) {
            Long v = parseLong(e.get().value());
            if (v == null) return notInteger();
            current = v;
        }
        long next;
        try {
            next = Math.addExact(current, by);
        } catch (ArithmeticException overflow) {
            return err("ERR increment or decrement would overflow");
        }
        t.put(key, Long.toString(next).getBytes(UTF_8), e.map(Entry::expiresAt).orElse(0L));
        return integer(next);
    }

    private RespReply incrByFloat(RespTransaction t, List<byte[]> a) {
        Double by = parseDouble(a.get(2));
        if (by == null) return err("ERR value is not a valid float");
        Optional<Entry> e = t.get(a.get(1));
        double current = 0;
        if (e.isPresent()) {
            Double v = parseDouble(e.get().value());
            if (v == null) return err("ERR value is not a valid float");
            current = v;
        }
        double next = current + by;
        if (Double.isNaN(next) || Double.isInfinite(next)) return err("ERR increment would produce NaN or Infinity");
        byte[] text = formatDouble(next).getBytes(UTF_8);
        t.put(a.get(1), text, e.map(Entry::expiresAt).orElse(0L));
        return new RespReply.Bulk(text);
    }

    static String formatDouble(double d) {
        if (d == Math.rint(d) && Math.abs(d) < 1e17) return Long.toString((long) d);
        return BigDecimal.valueOf(d).stripTrailingZeros().toPlainString();
    }

    // ---- expiry

    private RespReply expire(RespTransaction t, List<byte[]> a, long unit, boolean absolute, String command) {
        Long v = parseLong(a.get(2));
        if (v == null) return notInteger();
        boolean nx = false, xx = false, gt = false, lt = false;
        for (int i = 3; i < a.size(); i++) {
            switch (upper(a.get(i))) {
                case "NX" -> nx = true;
                case "XX" -> xx = true;
                case "GT" -> gt = true;
                case "LT" -> lt = true;
                default -> {
                    return err("ERR Unsupported option " + new String(a.get(i), UTF_8));
                }
            }
        }
        if (nx && (xx || gt || lt)) return err("ERR NX and XX, GT or LT options at the same time are not compatible");
        if (gt && lt) return err("ERR GT and LT options at the same time are not compatible");
        long when;
        try {
            when = Math.addExact(absolute ? 0 : t.now(), Math.multiplyExact(v, unit));
        } catch (ArithmeticException overflow) {
            return err("ERR invalid expire time in '" + command + "' command");
        }
        Optional<Entry> e = t.get(a.get(1));
        if (e.isEmpty()) return RespReply.ZERO;
        long current = e.get().expiresAt(); // 0 = persistent, an infinite TTL for GT/LT
        if (nx && current != 0) return RespReply.ZERO;
        if (xx && current == 0) return RespReply.ZERO;
        if (gt && (current == 0 || when <= current)) return RespReply.ZERO;
        if (lt && current != 0 && when >= current) return RespReply.ZERO;
        if (when <= t.now()) t.delete(a.get(1));
        else t.put(a.get(1), e.get().value(), when);
        return RespReply.ONE;
    }

    private RespReply ttl(RespTransaction t, byte[] key, boolean seconds) {
        Optional<Entry> e = t.get(key);
        if (e.isEmpty()) return integer(-2);
        long at = e.get().expiresAt();
        if (at == 0) return integer(-1);
        long ms = Math.max(0, at - t.now());
        return integer(seconds ? (ms + 500) / 1000 : ms);
    }

    // ---- keys

    private RespReply rename(RespTransaction t, List<byte[]> a, boolean onlyIfAbsent) {
        byte[] src = a.get(1), dst = a.get(2);
        Optional<Entry> e = t.get(src);
        if (e.isEmpty()) return err("ERR no such key");
        if (Arrays.equals(src, dst)) return onlyIfAbsent ? RespReply.ZERO : OK;
        if (onlyIfAbsent && t.get(dst).isPresent()) return RespReply.ZERO;
        t.get(dst); // the destination is overwritten: read it so a racing write to it conflicts
        t.delete(src);
        t.put(dst, e.get().value(), e.get().expiresAt());
        return onlyIfAbsent ? RespReply.ONE : OK;
    }

    private RespReply copy(RespTransaction t, List<byte[]> a) {
        boolean replace = false;
        for (int i = 3; i < a.size(); i++) {
            String opt = upper(a.get(i));
            if (opt.equals("REPLACE")) {
                replace = true;
            } else if (opt.equals("DB") && i + 1 < a.size()) {
                Long n = parseLong(a.get(++i));
                if (n == null) return notInteger();
                if (n != 0) return err("ERR DB index is out of range");
            } else {
                return syntax();
            }
        }
        byte[] src = a.get(1), dst = a.get(2);
        if (Arrays.equals(src, dst)) return err("ERR source and destination objects are the same");
        Optional<Entry> e = t.get(src);
        if (e.isEmpty()) return RespReply.ZERO;
        if (t.get(dst).isPresent() && !replace) return RespReply.ZERO;
        t.put(dst, e.get().value(), e.get().expiresAt());
        return RespReply.ONE;
    }

    /** Only the keys the user may read: a user confined to a prefix can still list "everything" it sees. */
    private RespReply keys(RespSession session, List<byte[]> a) {
        RespGlob glob = new RespGlob(a.get(1));
        User user = session.user;
        List<RespReply> out = new ArrayList<>();
        try (Stream<Entry> s = db.scan(glob.literalPrefix())) {
            s.forEach(e -> {
                if (glob.matches(e.key()) && user.can(Access.READ, e.key())) out.add(new RespReply.Bulk(e.key()));
            });
        }
        return RespReply.array(out);
    }

    /**
     * A scan resumes after the last key it returned, in key order, whatever was written since. Clients
     * (redis-cli) parse the cursor as a 64-bit number, so the session keeps that key under a number.
     */
    private RespReply scan(RespSession session, List<byte[]> a) {
        String cursor = new String(a.get(1), UTF_8);
        byte[] from = null;
        if (!cursor.equals("0")) {
            byte[] last;
            try {
                last = session.scanCursor(Long.parseUnsignedLong(cursor));
            } catch (NumberFormatException e) {
                return err("ERR invalid cursor");
            }
            if (last == null) return err("ERR invalid cursor");
            from = Arrays.copyOf(last, last.length + 1); // the smallest key after it
        }
        RespGlob glob = null;
        long count = 10;
        boolean typeMatches = true;
        for (int i = 2; i < a.size(); i++) {
            String opt = upper(a.get(i));
            if (i + 1 >= a.size()) return syntax();
            byte[] v = a.get(++i);
            switch (opt) {
                case "MATCH" -> glob = new RespGlob(v);
                case "COUNT" -> {
                    Long n = parseLong(v);
                    if (n == null) return notInteger();
                    if (n < 1) return syntax();
                    count = n;
                }
                case "TYPE" -> typeMatches = upper(v).equals("STRING");
                default -> {
                    return syntax();
                }
            }
        }
        List<RespReply> keys = new ArrayList<>();
        String next = "0";
        try (Stream<Entry> s = db.range(from, null)) {
            Iterator<Entry> it = s.iterator();
            for (long seen = 0; seen < count && it.hasNext(); seen++) {
                byte[] key = it.next().key();
                if (typeMatches && (glob == null || glob.matches(key)) && session.user.can(Access.READ, key))
                    keys.add(new RespReply.Bulk(key));
                if (seen + 1 == count && it.hasNext()) next = Long.toUnsignedString(session.rememberScan(key));
            }
        }
        return RespReply.array(List.of(bulk(next), RespReply.array(keys)));
    }

    private RespReply flush(List<byte[]> a) {
        if (a.size() > 2) return syntax();
        if (a.size() == 2 && !List.of("ASYNC", "SYNC").contains(upper(a.get(1)))) return syntax();
        Batch batch = Batch.create();
        try (Stream<Entry> s = db.range((byte[]) null, null)) {
            s.forEach(e -> batch.delete(e.key()));
        }
        if (!batch.isEmpty()) db.commitNoWait(batch);
        return OK;
    }

    private RespReply cas(List<byte[]> a) {
        Long rev = parseLong(a.get(2));
        if (rev == null || rev < 0) return notInteger();
        try {
            db.commitNoWait(Batch.create().expect(a.get(1), rev).put(a.get(1), a.get(3)));
            return RespReply.ONE;
        } catch (ConflictException e) {
            return RespReply.ZERO;
        }
    }

    // ---- connection and server

    private RespReply hello(RespSession s, List<byte[]> a) {
        RespProtocol protocol = s.protocol;
        String name = s.name;
        String user = null, password = null;
        if (a.size() > 1) {
            Long v = parseLong(a.get(1));
            if (v == null) return err("ERR Protocol version is not an integer or out of range");
            if (v != 2 && v != 3) return err("NOPROTO unsupported protocol version");
            protocol = v == 2 ? RespProtocol.RESP2 : RespProtocol.RESP3;
            if (protocol == RespProtocol.RESP2 && s.subscriber != null && s.subscriber.watchCount() > 0)
                return err("ERR CASKADE.WATCH streams need RESP3: CASKADE.UNWATCH them before HELLO 2");
            for (int i = 2; i < a.size(); i++) {
                String opt = upper(a.get(i));
                if (opt.equals("AUTH") && i + 2 < a.size()) {
                    user = new String(a.get(++i), UTF_8);
                    password = new String(a.get(++i), UTF_8);
                } else if (opt.equals("SETNAME") && i + 1 < a.size()) {
                    name = new String(a.get(++i), UTF_8);
                    if (!validName(name)) return badName();
                } else {
                    return err("ERR Syntax error in HELLO option '" + new String(a.get(i), UTF_8) + "'");
                }
            }
        }
        if (!users.isEmpty()) { // without users, like Redis's default user without a password: any AUTH passes
            if (user != null) {
                Optional<User> u = users.login(user, password);
                if (u.isEmpty()) return WRONGPASS;
                s.user = u.get();
            } else if (s.user == null) {
                return err("NOAUTH HELLO must be called with the client already authenticated, otherwise the"
                        + " HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and"
                        + " select the RESP protocol version at the same time");
            }
        }
        s.protocol = protocol;
        s.name = name;
        return new RespReply.Dict(List.of(
                bulk("server"), bulk("redis"),
                bulk("version"), bulk(RespServer.REDIS_VERSION),
                bulk("proto"), integer(protocol.version()),
                bulk("id"), integer(s.id),
                bulk("mode"), bulk("standalone"),
                bulk("role"), bulk(server.role() instanceof FollowStatus ? "replica" : "master"),
                bulk("modules"), RespReply.array(List.of())));
    }

    /** {@code AUTH password} (the user "default") or {@code AUTH user password}; the password may be the token. */
    private RespReply auth(RespSession s, List<byte[]> a) {
        if (users.isEmpty())
            return err("ERR AUTH <password> called without any password configured for the default user. "
                    + "Are you sure your configuration is correct?");
        if (a.size() > 3) return syntax();
        String user = a.size() == 3 ? new String(a.get(1), UTF_8) : "default";
        Optional<User> u = users.login(user, new String(a.get(a.size() - 1), UTF_8));
        if (u.isEmpty()) return WRONGPASS; // a failed AUTH keeps whoever was logged in, as in Redis
        s.user = u.get();
        return OK;
    }

    /** ACL WHOAMI, and for admins ACL USERS and ACL LIST (rules only: credentials never leave the server). */
    private RespReply acl(RespSession s, List<byte[]> a) {
        String sub = upper(a.get(1));
        return switch (sub) {
            case "WHOAMI" -> a.size() == 2 ? bulk(s.user.name()) : wrongArgs("acl|whoami");
            case "USERS" ->
                RespReply.array(configured().stream().map(u -> bulk(u.name())).toList());
            case "LIST" ->
                RespReply.array(configured().stream()
                        .map(u -> {
                            StringBuilder sb =
                                    new StringBuilder("user ").append(u.name()).append(" on");
                            sb.append(u.password() != null ? " password" : " nopassword");
                            sb.append(u.token() != null ? " token" : " notoken");
                            for (Rule r : u.rules()) sb.append(' ').append(r);
                            return bulk(sb.toString());
                        })
                        .toList());
            default -> err("ERR unknown subcommand '" + new String(a.get(1), UTF_8) + "'. Try ACL HELP.");
        };
    }

    private List<User> configured() {
        return users.isEmpty() ? List.of(User.OPEN) : users.list();
    }

    /** Commands that may write (EXEC commits what MULTI queued): on a copy they wait for its primary or log. */
    static boolean mayWrite(byte[] name) {
        String n = new String(name, UTF_8).toLowerCase(Locale.ROOT);
        Spec spec = SPECS.get(n);
        return n.equals("exec") || spec != null && spec.flags().contains("write");
    }

    /** Commands that check a password: they run off the event loop, as PBKDF2 takes a while. */
    static boolean logsIn(byte[] name) {
        return name.length <= 5
                && switch (new String(name, UTF_8).toUpperCase(Locale.ROOT)) {
                    case "AUTH", "HELLO" -> true;
                    default -> false;
                };
    }

    /**
     * The access check every command passes before it runs or is queued: null if {@code s}'s user may run it,
     * else the refusal. Unauthenticated connections may only log in (AUTH, HELLO), QUIT and RESET. A key
     * command needs read (readonly commands, WATCH, COPY's source) or write on every key it names; the
     * server-wide commands need admin over the whole key space; the rest only a login. A command added later
     * with keys or channels gets its case here (see docs/server.md, "Users and access").
     */
    RespReply permit(RespSession s, String name, Spec spec, List<byte[]> a) {
        User u = s.user;
        if (u == null) {
            return switch (name) {
                case "AUTH", "HELLO", "QUIT", "RESET" -> null;
                default -> NOAUTH;
            };
        }
        switch (name) {
            case "FLUSHDB", "FLUSHALL" -> {
                return u.admin() ? null : noCommand(u, name, null);
            }
            case "CLIENT", "CONFIG", "ACL" -> {
                String sub = upper(a.get(1));
                boolean adminOnly = switch (name) {
                    case "CLIENT" -> sub.equals("LIST") || sub.equals("KILL");
                    case "CONFIG" -> !sub.equals("GET");
                    default -> !sub.equals("WHOAMI");
                };
                return !adminOnly || u.admin() ? null : noCommand(u, name, sub);
            }
            case "COPY" -> {
                return u.can(Access.READ, a.get(1)) && u.can(Access.WRITE, a.get(2)) ? null : NOPERM_KEY;
            }
            case "WATCH" -> {
                return keys(u, Access.READ, a, 1, -1, 1);
            }
            // channels share the key space's rules: a channel is readable (subscribe) or writable (publish) as the
            // key of the same name would be; keyspace channels therefore need read on those names too
            case "PUBLISH" -> {
                return u.can(Access.WRITE, a.get(1)) ? null : NOPERM_CHANNEL;
            }
            case "SUBSCRIBE" -> {
                for (int i = 1; i < a.size(); i++) if (!u.can(Access.READ, a.get(i))) return NOPERM_CHANNEL;
                return null;
            }
            case "PSUBSCRIBE" -> {
                for (int i = 1; i < a.size(); i++) {
                    if (!u.canAll(Access.READ, new RespGlob(a.get(i)).literalPrefix())) return NOPERM_CHANNEL;
                }
                return null;
            }
            case "CASKADE.WATCH" -> {
                return u.canAll(Access.READ, a.get(1)) ? null : NOPERM_KEY;
            }
            default -> {
                if (spec == null || spec.firstKey() <= 0) return null;
                Access needed = spec.flags().contains("readonly") ? Access.READ : Access.WRITE;
                return keys(u, needed, a, spec.firstKey(), spec.lastKey(), spec.step());
            }
        }
    }

    /** NOPERM unless {@code u} may do {@code needed} with each key at first, first + step, ... last (-1: the end). */
    private static RespReply keys(User u, Access needed, List<byte[]> a, int first, int last, int step) {
        int end = last < 0 ? a.size() + last : Math.min(last, a.size() - 1);
        for (int i = first; i <= end; i += step) {
            if (!u.can(needed, a.get(i))) return NOPERM_KEY;
        }
        return null;
    }

    private static RespReply noCommand(User u, String name, String sub) {
        String command = (sub == null ? name : name + "|" + sub).toLowerCase(Locale.ROOT);
        return err("NOPERM User " + u.name() + " has no permissions to run the '" + command + "' command");
    }

    private static boolean validName(String name) {
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (c < '!' || c > '~') return false;
        }
        return true;
    }

    private static RespReply badName() {
        return err("ERR Client names cannot contain spaces, newlines or special characters.");
    }

    private RespReply select(List<byte[]> a) {
        Long n = parseLong(a.get(1));
        if (n == null) return notInteger();
        return n == 0 ? OK : err("ERR DB index is out of range");
    }

    private RespReply client(RespSession s, List<byte[]> a) {
        String sub = upper(a.get(1));
        return switch (sub) {
            case "ID" -> integer(s.id);
            case "GETNAME" -> s.name == null ? NULL : bulk(s.name);
            case "SETNAME" -> {
                if (a.size() != 3) yield wrongArgs("client|setname");
                String name = new String(a.get(2), UTF_8);
                if (!validName(name)) yield badName();
                s.name = name.isEmpty() ? null : name;
                yield OK;
            }
            case "SETINFO" -> {
                if (a.size() != 4) yield wrongArgs("client|setinfo");
                String value = new String(a.get(3), UTF_8);
                switch (upper(a.get(2))) {
                    case "LIB-NAME" -> s.libName = value;
                    case "LIB-VER" -> s.libVersion = value;
                    default -> {
                        yield err("ERR Unrecognized option '" + new String(a.get(2), UTF_8) + "'");
                    }
                }
                yield OK;
            }
            case "LIST" -> {
                StringBuilder sb = new StringBuilder();
                for (RespSession c : server.sessions()) sb.append(describe(c)).append('\n');
                yield bulk(sb.toString());
            }
            case "INFO" -> bulk(describe(s) + "\n");
            case "KILL" -> kill(s, a);
            case "NO-EVICT", "NO-TOUCH" -> OK;
            default -> err("ERR unknown subcommand '" + new String(a.get(1), UTF_8) + "'. Try CLIENT HELP.");
        };
    }

    /** CLIENT KILL addr (old form, replies OK) or CLIENT KILL ID n / ADDR a / SKIPME yes|no (replies a count). */
    private RespReply kill(RespSession self, List<byte[]> a) {
        if (a.size() == 3) {
            String addr = new String(a.get(2), UTF_8);
            for (RespSession c : server.sessions()) {
                if (c.remoteAddress.equals(addr) && server.kill(c.id)) return OK;
            }
            return err("ERR No such client");
        }
        if (a.size() < 4 || a.size() % 2 != 0) return syntax();
        Long id = null;
        String addr = null;
        boolean skipMe = true;
        for (int i = 2; i < a.size(); i += 2) {
            String value = new String(a.get(i + 1), UTF_8);
            switch (upper(a.get(i))) {
                case "ID" -> {
                    id = parseLong(a.get(i + 1));
                    if (id == null || id < 1) return err("ERR client-id should be greater than 0");
                }
                case "ADDR" -> addr = value;
                case "SKIPME" -> {
                    if (!value.equalsIgnoreCase("yes") && !value.equalsIgnoreCase("no")) return syntax();
                    skipMe = value.equalsIgnoreCase("yes");
                }
                default -> {
                    return syntax();
                }
            }
        }
        long killed = 0;
        for (RespSession c : server.sessions()) {
            if (id != null && c.id != id) continue;
            if (addr != null && !c.remoteAddress.equals(addr)) continue;
            if (skipMe && c.id == self.id) continue;
            if (server.kill(c.id)) killed++;
        }
        return integer(killed);
    }

    private String describe(RespSession c) {
        long now = clock.millis();
        RespSubscriber sub = c.subscriber;
        int channels = sub == null ? 0 : sub.channelCount();
        int patterns = sub == null ? 0 : sub.patternCount();
        String flags = (c.inMulti() ? "x" : "") + (channels + patterns > 0 ? "P" : "");
        return "id=" + c.id + " addr=" + c.remoteAddress + " laddr=" + c.localAddress + " fd=0 name="
                + (c.name == null ? "" : c.name) + " age=" + (now - c.createdAt) / 1000 + " idle="
                + (now - c.lastCommandAt) / 1000 + " flags=" + (flags.isEmpty() ? "N" : flags)
                + " db=0 sub=" + channels + " psub=" + patterns + " ssub=0 multi=" + (c.inMulti() ? c.queue.size() : -1)
                + " watch=" + c.watched.size() + " cmd=" + c.lastCommand() + " user="
                + (c.user == null ? "" : c.user.name()) + " resp="
                + c.protocol.version() + " lib-name=" + c.libName + " lib-ver=" + c.libVersion;
    }

    private RespReply command(List<byte[]> a) {
        if (a.size() == 1)
            return RespReply.array(
                    SPECS.values().stream().map(RespCommands::describe).toList());
        String sub = upper(a.get(1));
        return switch (sub) {
            case "COUNT" -> integer(SPECS.size());
            case "DOCS" -> new RespReply.Dict(List.of()); // no docs: redis-cli then just skips its hints
            case "LIST" ->
                RespReply.array(SPECS.values().stream().map(s -> bulk(s.name())).toList());
            case "INFO" -> {
                List<RespReply> out = new ArrayList<>();
                for (int i = 2; i < a.size(); i++) {
                    Spec spec = SPECS.get(upper(a.get(i)));
                    out.add(spec == null ? NULL_ARRAY : describe(spec));
                }
                yield RespReply.array(out);
            }
            default -> err("ERR unknown subcommand '" + new String(a.get(1), UTF_8) + "'. Try COMMAND HELP.");
        };
    }

    private static RespReply describe(Spec s) {
        return RespReply.array(List.of(
                bulk(s.name()),
                integer(s.arity()),
                RespReply.array(s.flags().stream()
                        .map(f -> (RespReply) new RespReply.Simple(f))
                        .toList()),
                integer(s.firstKey()),
                integer(s.lastKey()),
                integer(s.step()),
                RespReply.array(List.of()),
                RespReply.array(List.of()),
                RespReply.array(List.of()),
                RespReply.array(List.of())));
    }

    private RespReply config(List<byte[]> a) {
        String sub = upper(a.get(1));
        switch (sub) {
            case "GET" -> {
                if (a.size() < 3) return wrongArgs("config|get");
                return config.get(a.subList(2, a.size()));
            }
            case "SET" -> {
                if (a.size() < 4 || a.size() % 2 != 0) return wrongArgs("config|set");
                return config.set(a.subList(2, a.size()));
            }
            case "RESETSTAT" -> {
                return OK;
            }
            default -> {
                return err("ERR unknown subcommand '" + new String(a.get(1), UTF_8) + "'. Try CONFIG HELP.");
            }
        }
    }

    // ---- pub/sub

    /** The connection's pub/sub side, made on first use; null if the connection has already gone. */
    private RespSubscriber subscriber(RespSession s) {
        RespSubscriber sub = s.subscriber;
        if (sub != null) return sub;
        io.netty.channel.Channel ch = server.channel(s.id);
        if (ch == null) return null;
        RespSubscriber created = new RespSubscriber(s, ch, pubsub, server::options);
        s.subscriber = created;
        // a connection that goes away leaves its channels and stops its watches
        ch.closeFuture().addListener(f -> created.close());
        return created;
    }

    private static RespReply gone() {
        return err("ERR the connection is closing");
    }

    private RespReply pubsub(List<byte[]> a) {
        String sub = upper(a.get(1));
        return switch (sub) {
            case "CHANNELS" -> {
                if (a.size() > 3) yield wrongArgs("pubsub|channels");
                RespGlob filter = a.size() == 3 ? new RespGlob(a.get(2)) : null;
                yield RespReply.array(pubsub.channels(filter).stream()
                        .map(c -> (RespReply) new RespReply.Bulk(c))
                        .toList());
            }
            case "NUMSUB" -> {
                List<RespReply> out = new ArrayList<>();
                for (int i = 2; i < a.size(); i++) {
                    out.add(new RespReply.Bulk(a.get(i)));
                    out.add(integer(pubsub.subscribers(a.get(i))));
                }
                yield RespReply.array(out);
            }
            case "NUMPAT" -> a.size() != 2 ? wrongArgs("pubsub|numpat") : integer(pubsub.patternCount());
            case "HELP" ->
                RespReply.array(Stream.of(
                                "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                                "CHANNELS [<pattern>]",
                                "    Return the currently active channels matching a <pattern> (default: '*').",
                                "NUMPAT",
                                "    Return number of subscriptions to patterns.",
                                "NUMSUB [<channel> ...]",
                                "    Return the number of subscribers for the specified channels, excluding",
                                "    pattern subscriptions(default: no channels).",
                                "HELP",
                                "    Print this help.")
                        .map(line -> (RespReply) new RespReply.Simple(line))
                        .toList());
            default -> err("ERR unknown subcommand '" + new String(a.get(1), UTF_8) + "'. Try PUBSUB HELP.");
        };
    }

    private RespReply caskadeWatch(RespSession s, List<byte[]> a) {
        if (s.protocol != RespProtocol.RESP3)
            return err("ERR CASKADE.WATCH streams RESP3 pushes: switch the connection with HELLO 3 first");
        Long from = parseLong(a.get(2));
        if (from == null || from < 0) return notInteger();
        RespSubscriber sub = subscriber(s);
        return sub == null ? gone() : sub.watch(db, a.get(1), from);
    }

    private RespReply info(List<byte[]> a) {
        List<String> wanted = new ArrayList<>();
        for (int i = 1; i < a.size(); i++) wanted.add(new String(a.get(i), UTF_8).toLowerCase(Locale.ROOT));
        boolean all = wanted.isEmpty()
                || wanted.contains("all")
                || wanted.contains("default")
                || wanted.contains("everything");
        Stats st = db.stats();
        long uptime = (clock.millis() - server.startedAt()) / 1000;
        Map<String, String> sections = new LinkedHashMap<>();
        sections.put(
                "server",
                "redis_version:" + RespServer.REDIS_VERSION + "\r\nredis_mode:standalone\r\n"
                        + "caskade_version:" + RespServer.VERSION + "\r\nos:" + System.getProperty("os.name") + "\r\n"
                        + "process_id:" + ProcessHandle.current().pid() + "\r\ntcp_port:" + server.port()
                        + "\r\nuptime_in_seconds:" + uptime + "\r\nuptime_in_days:" + uptime / 86400 + "\r\n");
        sections.put(
                "clients",
                "connected_clients:" + server.sessions().size() + "\r\nmaxclients:"
                        + server.options().maxClients() + "\r\npubsub_clients:"
                        + server.sessions().stream()
                                .filter(RespSession::subscribed)
                                .count() + "\r\n");
        sections.put(
                "stats",
                "total_connections_received:" + server.totalConnections()
                        + "\r\ntotal_commands_processed:" + server.totalCommands() + "\r\nrejected_connections:"
                        + server.rejectedConnections() + "\r\npubsub_channels:" + pubsub.channelCount()
                        + "\r\npubsub_patterns:" + pubsub.patternCount() + "\r\n");
        sections.put(
                "persistence",
                "loading:0\r\ncaskade_durability:" + st.durability() + "\r\ncaskade_revision:"
                        + st.revision() + "\r\ncaskade_compacted_revision:" + st.compactedRevision()
                        + "\r\ncaskade_segments:"
                        + st.segments() + "\r\ncaskade_disk_bytes:" + st.diskBytes() + "\r\ncaskade_live_bytes:"
                        + st.liveBytes() + "\r\ncaskade_dead_bytes:" + st.deadBytes() + "\r\ncaskade_merges:"
                        + st.merges() + "\r\ncaskade_fsyncs:" + st.fsyncs()
                        + "\r\ncaskade_pins_dropped:" + st.pinsDropped()
                        + "\r\n");
        Replication replication = server.replication();
        Role role = server.role();
        String shipping =
                replication == null ? "" : replication.info().replace("role:master\r\nconnected_slaves:0\r\n", "");
        sections.put("replication", (role == null ? "role:master\r\nconnected_slaves:0\r\n" : role.info()) + shipping);
        sections.put("keyspace", st.keys() == 0 ? "" : "db0:keys=" + st.keys() + ",expires=0,avg_ttl=0\r\n");
        StringBuilder sb = new StringBuilder();
        sections.forEach((name, body) -> {
            if (all || wanted.contains(name)) {
                if (!sb.isEmpty()) sb.append("\r\n");
                sb.append("# ")
                        .append(Character.toUpperCase(name.charAt(0)))
                        .append(name.substring(1))
                        .append("\r\n")
                        .append(body);
            }
        });
        return bulk(sb.toString());
    }

    // ---- parsing

    private static String upper(byte[] b) {
        return new String(b, UTF_8).toUpperCase(Locale.ROOT);
    }

    /** Redis's strict integer syntax: optional '-', digits, no '+', no spaces, no leading zeros; null if invalid. */
    static Long parseLong(byte[] b) {
        int n = b.length;
        if (n == 0 || n > 20) return null;
        int i = b[0] == '-' ? 1 : 0;
        if (i == n) return null;
        if (b[i] == '0' && n > i + 1) return null;
        if (b[i] == '0' && i == 1) return null; // "-0"
        for (int j = i; j < n; j++) if (b[j] < '0' || b[j] > '9') return null;
        try {
            return Long.parseLong(new String(b, UTF_8));
        } catch (NumberFormatException e) {
            return null;
        }
    }

    private static Double parseDouble(byte[] b) {
        String s = new String(b, UTF_8);
        if (s.isEmpty()
                || s.length() > 5000
                || Character.isWhitespace(s.charAt(0))
                || Character.isWhitespace(s.charAt(s.length() - 1))) return null;
        try {
            double d = switch (s.toLowerCase(Locale.ROOT)) {
                case "inf", "+inf", "infinity", "+infinity" -> Double.POSITIVE_INFINITY;
                case "-inf", "-infinity" -> Double.NEGATIVE_INFINITY;
                default -> {
                    // Java also accepts "1d", "0x1p3" and "NaN": Redis does not
                    if (!s.matches("[-+]?(\\d+\\.?\\d*|\\.\\d+)([eE][-+]?\\d+)?")) throw new NumberFormatException(s);
                    yield Double.parseDouble(s);
                }
            };
            return Double.isNaN(d) ? null : d;
        } catch (NumberFormatException e) {
            return null;
        }
    }

    private static RespReply notInteger() {
        return err("ERR value is not an integer or out of range");
    }

    private static RespReply syntax() {
        return err("ERR syntax error");
    }

    private static RespReply tooBig() {
        return err("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    }
}
