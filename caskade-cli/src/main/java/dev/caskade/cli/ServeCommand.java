package dev.caskade.cli;

import dev.caskade.Durability;
import dev.caskade.server.Server;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
        name = "serve",
        description = {
            "Run the server: the Redis protocol and HTTP/JSON (with SSE) on one store.",
            "Every option also comes from an environment variable (CASKADE_DATA, CASKADE_BIND,"
                    + " CASKADE_RESP_PORT, CASKADE_HTTP_PORT, CASKADE_DURABILITY); a flag wins over the"
                    + " variable. Port 0 picks a free port; the ports are printed and written to DIR/serve.json."
        })
final class ServeCommand extends StoreCommand {

    @Option(
            names = "--bind",
            paramLabel = "ADDR",
            defaultValue = "${env:CASKADE_BIND:-127.0.0.1}",
            description = "Address to listen on (default: ${DEFAULT-VALUE}).")
    String bind;

    @Option(
            names = "--resp-port",
            paramLabel = "N",
            defaultValue = "${env:CASKADE_RESP_PORT:-6479}",
            description = "Redis-protocol port (default: ${DEFAULT-VALUE}).")
    int respPort;

    @Option(
            names = "--http-port",
            paramLabel = "N",
            defaultValue = "${env:CASKADE_HTTP_PORT:-8479}",
            description = "HTTP port (default: ${DEFAULT-VALUE}).")
    int httpPort;

    @Option(
            names = "--durability",
            paramLabel = "MODE",
            converter = DurabilityConverter.class,
            defaultValue = "${env:CASKADE_DURABILITY:-sync}",
            description = "sync (default), none or interval:<ms>.")
    Durability durability;

    @Option(names = "--insecure", description = "Allow a non-loopback --bind although no users are configured.")
    boolean insecure;

    /** Counted down by the shutdown hook; tests stop the command through {@link #stop()}. */
    final CountDownLatch stopped = new CountDownLatch(1);

    @Override
    int run() throws Exception {
        Server server = Server.start(new Server.Options(data, bind, respPort, httpPort, durability, insecure));
        // SIGTERM and SIGINT: stop accepting, finish in-flight commits, fsync, release the lock
        Thread hook = new Thread(
                () -> {
                    server.close();
                    stopped.countDown();
                },
                "caskade-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        out().printf(
                        "caskade serving %s: redis %s:%d, http http://%s:%d (durability %s, pid %d)%n",
                        data,
                        bind,
                        server.respPort(),
                        bind,
                        server.httpPort(),
                        durability,
                        ProcessHandle.current().pid());
        out().flush();
        stopped.await();
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
            // the hook is closing the server
        }
        server.close();
        return Main.OK;
    }

    void stop() {
        stopped.countDown();
    }
}
