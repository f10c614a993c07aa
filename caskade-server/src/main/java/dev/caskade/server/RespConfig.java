package dev.caskade.server;

import static java.nio.charset.StandardCharsets.UTF_8;

import dev.caskade.Caskade;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * CONFIG GET and CONFIG SET over the settings that exist. Only what really changes while serving can be set;
 * the rest is reported and refused as immutable, so a client never believes a setting took effect when it did
 * not.
 */
final class RespConfig {

    /** Turns a value into the change to apply, or throws {@link Invalid} with Redis's reason. */
    private interface Setter {
        Runnable parse(String value);
    }

    /** A refused value; the message is Redis's wording of why. */
    private static final class Invalid extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Invalid(String reason) {
            super(reason, null, false, false);
        }
    }

    /** One setting: how to read it, and how to change it (null: it cannot change while serving). */
    private record Param(Supplier<String> value, Setter setter) {}

    private final Map<String, Param> params = new LinkedHashMap<>();

    RespConfig(Caskade db, RespServer server, RespKeyspaceEvents keyspace) {
        params.put("save", new Param(() -> "", null));
        params.put("appendonly", new Param(() -> "no", null));
        params.put("databases", new Param(() -> "1", null));
        params.put(
                "maxclients", new Param(() -> Integer.toString(server.options().maxClients()), v -> {
                    int n = (int) number(v, 1, Integer.MAX_VALUE);
                    return () -> server.reconfigure(o -> o.withMaxClients(n));
                }));
        params.put(
                "proto-max-bulk-len",
                new Param(() -> Long.toString(server.options().maxRequestBytes()), null));
        params.put(
                "timeout",
                new Param(() -> Long.toString(server.options().idleTimeout().toSeconds()), v -> {
                    long s = number(v, 0, Integer.MAX_VALUE);
                    return () -> server.reconfigure(o -> o.withIdleTimeout(Duration.ofSeconds(s)));
                }));
        params.put("notify-keyspace-events", new Param(() -> RespKeyspaceEvents.format(keyspace.flags()), v -> {
            int flags = RespKeyspaceEvents.parse(v);
            if (flags < 0) throw new Invalid("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.");
            return () -> keyspace.configure(flags);
        }));
        params.put("caskade-durability", new Param(() -> db.stats().durability(), null));
        params.put(
                "caskade-max-subscriptions",
                new Param(() -> Integer.toString(server.options().maxSubscriptions()), v -> {
                    int n = (int) number(v, 1, Integer.MAX_VALUE);
                    return () -> server.reconfigure(o -> o.withMaxSubscriptions(n));
                }));
        params.put(
                "caskade-max-push-bytes",
                new Param(() -> Long.toString(server.options().maxPushBytes()), v -> {
                    long n = number(v, 1, Long.MAX_VALUE);
                    return () -> server.reconfigure(o -> o.withMaxPushBytes(n));
                }));
    }

    /** CONFIG GET pattern...: every setting whose name matches one of the globs. */
    RespReply get(List<byte[]> patterns) {
        List<RespReply> flat = new ArrayList<>();
        params.forEach((name, p) -> {
            for (byte[] pattern : patterns) {
                if (new RespGlob(lower(pattern)).matches(name.getBytes(UTF_8))) {
                    flat.add(RespReply.bulk(name));
                    flat.add(RespReply.bulk(p.value().get()));
                    break;
                }
            }
        });
        return new RespReply.Dict(flat);
    }

    /** CONFIG SET name value [name value ...]: all or nothing, as in Redis 7. */
    RespReply set(List<byte[]> pairs) {
        List<Runnable> changes = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        String unknown = null;
        String failedName = null;
        String failure = null;
        for (int i = 0; i < pairs.size(); i += 2) {
            String name = new String(pairs.get(i), UTF_8).toLowerCase(Locale.ROOT);
            Param p = params.get(name);
            if (p == null) {
                if (unknown == null) unknown = new String(pairs.get(i), UTF_8);
                continue;
            }
            if (failure != null) continue;
            if (p.setter() == null) {
                failedName = name;
                failure = "can't set immutable config";
            } else if (!seen.add(name)) {
                failedName = name;
                failure = "duplicate parameter";
            } else {
                try {
                    changes.add(p.setter().parse(new String(pairs.get(i + 1), UTF_8)));
                } catch (Invalid e) {
                    failedName = name;
                    failure = e.getMessage();
                }
            }
        }
        if (unknown != null)
            return RespReply.err("ERR Unknown option or number of arguments for CONFIG SET - '" + unknown + "'");
        if (failure != null)
            return RespReply.err(
                    "ERR CONFIG SET failed (possibly related to argument '" + failedName + "') - " + failure);
        changes.forEach(Runnable::run);
        return RespReply.OK;
    }

    private static long number(String v, long min, long max) {
        Long n = RespCommands.parseLong(v.getBytes(UTF_8));
        if (n == null) throw new Invalid("argument couldn't be parsed into an integer");
        if (n < min || n > max) throw new Invalid("argument must be between " + min + " and " + max + " inclusive");
        return n;
    }

    private static byte[] lower(byte[] b) {
        return new String(b, UTF_8).toLowerCase(Locale.ROOT).getBytes(UTF_8);
    }
}
