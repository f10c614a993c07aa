package dev.caskade.cli;

import dev.caskade.Durability;
import dev.caskade.server.Server;
import dev.caskade.server.ServerConfig;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
        name = "serve",
        description = {
            "Run the server: the Redis protocol and HTTP/JSON (with SSE) on one store.",
            "Every option also comes from an environment variable (CASKADE_DATA, CASKADE_BIND,"
                    + " CASKADE_RESP_PORT, CASKADE_HTTP_PORT, CASKADE_DURABILITY, CASKADE_INSECURE,"
                    + " CASKADE_TLS_CERT, CASKADE_TLS_KEY) and from the YAML config file (--config or"
                    + " CASKADE_CONFIG), which also holds the users. Precedence: flag > environment > config"
                    + " file > default. Port 0 picks a free port; the ports are printed and written to"
                    + " DIR/serve.json. See docs/server.md."
        })
final class ServeCommand extends StoreCommand {

    @Option(
            names = "--config",
            paramLabel = "FILE",
            description = "YAML config file: options, users and their rules, TLS (env CASKADE_CONFIG).")
    Path config;

    @Option(names = "--bind", paramLabel = "ADDR", description = "Address to listen on (default: 127.0.0.1).")
    String bind;

    @Option(names = "--resp-port", paramLabel = "N", description = "Redis-protocol port (default: 6479).")
    Integer respPort;

    @Option(names = "--http-port", paramLabel = "N", description = "HTTP port (default: 8479).")
    Integer httpPort;

    @Option(
            names = "--durability",
            paramLabel = "MODE",
            converter = DurabilityConverter.class,
            description = "sync (default), none or interval:<ms>.")
    Durability durability;

    @Option(names = "--insecure", description = "Allow a non-loopback --bind although no users are configured.")
    Boolean insecure;

    @Option(names = "--tls-cert", paramLabel = "FILE", description = "PEM certificate: TLS on both ports.")
    Path tlsCert;

    @Option(names = "--tls-key", paramLabel = "FILE", description = "PEM private key (PKCS#8) of --tls-cert.")
    Path tlsKey;

    /** Where the CASKADE_* variables come from. */
    Map<String, String> environment = System.getenv();

    /** Counted down by the shutdown hook; tests stop the command through {@link #stop()}. */
    final CountDownLatch stopped = new CountDownLatch(1);

    /** The options from flags, environment, config file and defaults, in that order of precedence. */
    Server.Options options() {
        // --data has a default (shared with the other commands): only an explicit one is a flag here
        boolean dataGiven = spec.commandLine().getParseResult().hasMatchedOption("--data");
        ServerConfig flags = new ServerConfig(
                dataGiven ? data : null, bind, respPort, httpPort, durability, insecure, tlsCert, tlsKey, null);
        String envConfig = environment.get("CASKADE_CONFIG");
        Path file = config != null ? config : envConfig == null || envConfig.isBlank() ? null : Path.of(envConfig);
        ServerConfig fromFile = file == null ? ServerConfig.EMPTY : ServerConfig.load(file);
        return flags.over(ServerConfig.fromEnvironment(environment))
                .over(fromFile)
                .options();
    }

    @Override
    int run() throws Exception {
        Server.Options options = options();
        Server server = Server.start(options);
        // SIGTERM and SIGINT: stop accepting, finish in-flight commits, fsync, release the lock
        Thread hook = new Thread(
                () -> {
                    server.close();
                    stopped.countDown();
                },
                "caskade-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        int users = options.users().list().size();
        out().printf(
                        "caskade serving %s: redis %s:%d, http %s://%s:%d (durability %s, %s%s, pid %d)%n",
                        options.data(),
                        options.bind(),
                        server.respPort(),
                        options.tls() == null ? "http" : "https",
                        options.bind(),
                        server.httpPort(),
                        options.durability(),
                        users == 0 ? "no users" : users == 1 ? "1 user" : users + " users",
                        options.tls() == null ? "" : ", TLS",
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
