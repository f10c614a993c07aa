package dev.caskade.server;

import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.Durability;
import dev.caskade.s3.GuardedStore;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.databind.json.JsonMapper;

/**
 * The whole server: one store, the Redis protocol on one port and HTTP/JSON on another. Writes the ports
 * it bound to {@code DIR/serve.json}, so scripts and tests started with port 0 can find them.
 */
public final class Server implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Server.class);
    private final Options options;
    private final Caskade db;
    /** False for a served copy (a follower's, a cluster node's), which its owner opened and closes. */
    private final boolean owned;

    private final RespServer resp;
    private final HttpServer http;
    private final Replication replication;
    private final Path serveFile;
    private final java.util.concurrent.atomic.AtomicBoolean closed = new java.util.concurrent.atomic.AtomicBoolean();

    /**
     * How to run. {@link ServerConfig} builds these from flags, environment and config file.
     *
     * @param data the store directory
     * @param bind the address both ports bind to
     * @param respPort the Redis-protocol port; 0 picks a free one
     * @param httpPort the HTTP port; 0 picks a free one
     * @param durability the store's durability
     * @param insecure allow a non-loopback bind although no users are configured
     * @param users who may connect and what each may do; {@link Users#NONE} leaves the server open
     * @param tls TLS on both ports, or null for plain TCP
     * @param replication where the log is shipped to and restored from ({@link ReplicationOptions#NONE}: nowhere)
     */
    public record Options(
            Path data,
            String bind,
            int respPort,
            int httpPort,
            Durability durability,
            boolean insecure,
            Users users,
            Tls tls,
            ReplicationOptions replication) {
        /** Validates every field; a bad value fails with a message that names it. */
        public Options {
            Objects.requireNonNull(replication, "replication");
            Objects.requireNonNull(data, "data");
            Objects.requireNonNull(bind, "bind");
            Objects.requireNonNull(durability, "durability");
            Objects.requireNonNull(users, "users");
            if (respPort < 0 || respPort > 65535)
                throw new IllegalArgumentException("resp port out of range: " + respPort);
            if (httpPort < 0 || httpPort > 65535)
                throw new IllegalArgumentException("http port out of range: " + httpPort);
            if (respPort != 0 && respPort == httpPort) {
                throw new IllegalArgumentException("resp and http ports must differ: " + respPort);
            }
        }

        /** Without replication. */
        public Options(
                Path data,
                String bind,
                int respPort,
                int httpPort,
                Durability durability,
                boolean insecure,
                Users users,
                Tls tls) {
            this(data, bind, respPort, httpPort, durability, insecure, users, tls, ReplicationOptions.NONE);
        }

        /** Without users and without TLS. */
        public Options(Path data, String bind, int respPort, int httpPort, Durability durability, boolean insecure) {
            this(data, bind, respPort, httpPort, durability, insecure, Users.NONE, null);
        }

        /** ./caskade-data, 127.0.0.1, RESP 6479, HTTP 8479, SYNC. */
        public static Options defaults() {
            return new Options(Path.of("caskade-data"), "127.0.0.1", 6479, 8479, Durability.SYNC, false);
        }

        /** A copy with these users. */
        public Options withUsers(Users value) {
            return new Options(data, bind, respPort, httpPort, durability, insecure, value, tls, replication);
        }

        /** A copy with TLS on both ports (null: none). */
        public Options withTls(Tls value) {
            return new Options(data, bind, respPort, httpPort, durability, insecure, users, value, replication);
        }

        /** A copy shipping and restoring as {@code value} says. */
        public Options withReplication(ReplicationOptions value) {
            return new Options(data, bind, respPort, httpPort, durability, insecure, users, tls, value);
        }
    }

    private Server(
            Options options,
            Caskade db,
            boolean owned,
            RespServer resp,
            HttpServer http,
            Replication replication,
            Path serveFile) {
        this.options = options;
        this.db = db;
        this.owned = owned;
        this.resp = resp;
        this.http = http;
        this.replication = replication;
        this.serveFile = serveFile;
    }

    /**
     * Opens the store and starts both listeners. Binding a non-loopback address without users is refused
     * unless {@code insecure} is set: anyone who can reach the port could read and write everything.
     *
     * <p>With replication: every destination URL is parsed first; then, with {@code restoreIfEmpty} and an empty or
     * absent directory, the store is restored from there; once the store is open, one shipper per destination
     * starts shipping in the background.
     */
    public static Server start(Options options) {
        String refusal = refusal(options);
        if (refusal != null) throw new IllegalArgumentException(refusal);
        if (options.tls() != null) options.tls().context(); // bad TLS files fail before the store is opened
        if (!options.users().isEmpty() && options.tls() == null && !loopback(options.bind())) {
            LOG.warn(
                    "listening on {} without TLS: passwords and tokens cross the network in clear text",
                    options.bind());
        }
        List<GuardedStore> destinations = Replication.open(options.replication());
        Caskade db;
        try {
            Replication.restoreIfEmpty(options.data(), options.replication());
            db = Caskade.open(
                    options.data(),
                    CaskadeOptions.defaults()
                            .withDurability(options.durability())
                            .withPinBytes(options.replication().pinBytes()));
        } catch (RuntimeException | Error e) {
            destinations.forEach(GuardedStore::close);
            throw e;
        }
        return run(options, db, true, null, destinations);
    }

    /**
     * Serves {@code db}, a copy its caller opened and keeps (it is not closed with the server): a follower's copy of
     * its primary, or a cluster node's store. Its writes go where its {@link dev.caskade.Upstream} sends them, and
     * {@code role} says how the copy is doing, in {@code /v1/status}, {@code INFO replication} and {@code /metrics}.
     * Replication and users work as in {@link #start}; {@code restoreIfEmpty} does not apply (the source fills the
     * copy).
     */
    public static Server serve(Options options, Caskade db, java.util.function.Supplier<Role> role) {
        Objects.requireNonNull(db, "db");
        Objects.requireNonNull(role, "role");
        String refusal = refusal(options);
        if (refusal != null) throw new IllegalArgumentException(refusal);
        if (options.tls() != null) options.tls().context();
        return run(options, db, false, role, Replication.open(options.replication()));
    }

    private static Server run(
            Options options,
            Caskade db,
            boolean owned,
            java.util.function.Supplier<Role> role,
            List<GuardedStore> destinations) {
        Replication replication = null;
        RespServer resp = null;
        HttpServer http = null;
        try {
            if (!destinations.isEmpty()) replication = Replication.start(db, options.replication(), destinations);
            resp = RespServer.start(
                    db,
                    RespOptions.defaults().withBindAddress(options.bind()).withPort(options.respPort()),
                    options.users(),
                    options.tls());
            http = HttpServer.start(
                    db,
                    HttpOptions.defaults().withAddress(options.bind(), options.httpPort()),
                    options.users(),
                    options.tls());
            http.metrics().bind(resp);
            if (role != null) {
                resp.role(role);
                http.role(role);
            }
            if (replication != null) {
                resp.attach(replication);
                http.attach(replication);
            }
            Path serveFile = options.data().resolve("serve.json");
            writeServeFile(serveFile, options, resp.port(), http.port());
            return new Server(options, db, owned, resp, http, replication, serveFile);
        } catch (RuntimeException | Error e) {
            if (http != null) http.close();
            if (resp != null) resp.close();
            if (replication != null) replication.close();
            else destinations.forEach(GuardedStore::close);
            if (owned) db.close();
            throw e;
        }
    }

    /** Why these options must not start, or null: a non-loopback bind needs users or {@code insecure}. */
    static String refusal(Options options) {
        if (options.insecure() || !options.users().isEmpty() || loopback(options.bind())) return null;
        return "refusing to listen on " + options.bind()
                + " without users: anyone who reaches it could read and write every key;"
                + " configure users in the config file (--config), bind 127.0.0.1,"
                + " or pass --insecure if the network is yours";
    }

    private static boolean loopback(String bind) {
        try {
            return InetAddress.getByName(bind).isLoopbackAddress();
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException("cannot resolve bind address: " + bind, e);
        }
    }

    private static void writeServeFile(Path file, Options o, int respPort, int httpPort) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("pid", ProcessHandle.current().pid());
        m.put("bind", o.bind());
        m.put("respPort", respPort);
        m.put("httpPort", httpPort);
        m.put("durability", o.durability().toString());
        m.put("tls", o.tls() != null);
        m.put("startedAt", Instant.now().toString());
        try {
            Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
            Files.write(tmp, JsonMapper.builder().build().writeValueAsBytes(m));
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
    }

    /** The Redis-protocol port actually bound. */
    public int respPort() {
        return resp.port();
    }

    /** The HTTP port actually bound. */
    public int httpPort() {
        return http.port();
    }

    /** The options it was started with. */
    public Options options() {
        return options;
    }

    /** The registry behind {@code GET /metrics}: what is registered there is served with the server's series. */
    public io.micrometer.core.instrument.MeterRegistry meterRegistry() {
        return http.metrics().registry();
    }

    /** The store it serves. */
    public Caskade store() {
        return db;
    }

    /**
     * Stops gracefully: no new connections, open ones closed, the shippers' last sync, then the store closed
     * (fsync, hint, lock released). Idempotent.
     */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) return;
        try {
            http.close();
        } finally {
            try {
                resp.close();
            } finally {
                try {
                    // after the last replies, before the store closes: one last sync of every destination
                    if (replication != null) replication.close();
                } finally {
                    if (owned) db.close();
                    try {
                        Files.deleteIfExists(serveFile);
                    } catch (IOException ignored) {
                        // a stale serve.json names a pid that is gone; harmless
                    }
                }
            }
        }
    }
}
