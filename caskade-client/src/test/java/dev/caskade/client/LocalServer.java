package dev.caskade.client;

import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.Durability;
import dev.caskade.server.HttpOptions;
import dev.caskade.server.HttpServer;
import dev.caskade.server.Users;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;

/** A real server in-process: a store in a temporary directory behind HTTP on a free loopback port. */
final class LocalServer implements AutoCloseable {
    final Caskade db;
    final HttpServer http;

    LocalServer(Path dir) {
        this(dir, CaskadeOptions.defaults().withDurability(Durability.NONE), Users.NONE);
    }

    LocalServer(Path dir, CaskadeOptions storeOptions, Users users) {
        this(dir, storeOptions, users, 0);
    }

    /** On a given port (0: a free one), so that a test can restart the server where its clients expect it. */
    LocalServer(Path dir, CaskadeOptions storeOptions, Users users, int port) {
        db = Caskade.open(dir, storeOptions);
        http = HttpServer.start(
                db,
                HttpOptions.defaults()
                        .withAddress("127.0.0.1", port)
                        .withKeepAlive(Duration.ofMillis(100)) // keep-alive comments interleave with events
                        .withSnapshotChunk(3),
                users,
                null);
    }

    URI uri() {
        return URI.create("http://127.0.0.1:" + http.port());
    }

    CaskadeClient client(ClientOptions options) {
        return CaskadeClient.connect(
                uri(), options.withConnectTimeout(Duration.ofSeconds(5)).withRequestTimeout(Duration.ofSeconds(10)));
    }

    CaskadeClient client() {
        return client(ClientOptions.defaults());
    }

    @Override
    public void close() {
        http.close();
        db.close();
    }
}
