package dev.caskade.cli;

import dev.caskade.client.CaskadeClient;
import dev.caskade.client.ClientOptions;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

@Command(
        name = "webhook",
        description = {
            "Deliver every commit under --prefix on a server to an HTTP receiver: one JSON POST per commit, in order,"
                    + " at least once, with an Idempotency-Key, until Ctrl-C or SIGTERM.",
            "The last acknowledged revision is kept in --state (fsynced after each 2xx): a restart resumes after it."
                    + " A failing receiver is retried with backoff behind a circuit breaker. See docs/server.md,"
                    + " 'Webhook adapter'."
        })
final class WebhookCommand extends StoreCommand {

    @Mixin
    ServerTarget target = new ServerTarget();

    @Option(
            names = "--prefix",
            paramLabel = "P",
            defaultValue = "",
            description = "Deliver the commits that touch keys under P (default: all keys); each body holds only the"
                    + " changes under P.")
    String prefix;

    @Option(
            names = "--post-to",
            paramLabel = "URL",
            required = true,
            description = "The receiver: http[s]://host:port/path.")
    String postTo;

    @Option(
            names = "--from",
            paramLabel = "REV",
            description = "On the first start (no position in --state yet): deliver the commits after REV (default:"
                    + " only commits from now on). Ignored once a position exists.")
    Long from;

    @Option(
            names = "--state",
            paramLabel = "DIR",
            defaultValue = "${env:CASKADE_WEBHOOK_STATE:-caskade-webhook}",
            description = "Where the position is kept (default: ${DEFAULT-VALUE}; env CASKADE_WEBHOOK_STATE). One"
                    + " adapter per directory.")
    Path state;

    @Option(
            names = "--header",
            paramLabel = "'NAME: VALUE'",
            description = "An extra request header for the receiver, e.g. 'Authorization: Bearer ...'. Repeatable.")
    List<String> headers = List.of();

    @Option(
            names = "--timeout",
            paramLabel = "DURATION",
            defaultValue = "10s",
            converter = PositiveDurationConverter.class,
            description = "How long one POST may take (default: ${DEFAULT-VALUE}); past it the attempt failed.")
    Duration timeout;

    @Option(
            names = "--open-wait",
            paramLabel = "DURATION",
            defaultValue = "30s",
            converter = PositiveDurationConverter.class,
            description = "While the circuit breaker is open, send nothing for this long (default: ${DEFAULT-VALUE}).")
    Duration openWait;

    @Option(
            names = "--on-refusal",
            paramLabel = "park|skip",
            defaultValue = "park",
            description = "A commit the receiver refuses for good (4xx other than 408 and 429, 3xx): park (default:"
                    + " hold it and offer it again every 30 s) or skip it; both log an ERROR and count it.")
    String onRefusal;

    @Option(
            names = "--metrics-port",
            paramLabel = "N",
            description = "Serve Prometheus metrics at http://127.0.0.1:N/metrics (0 picks a port; default: none).")
    Integer metricsPort;

    @Option(
            names = "--metrics-bind",
            paramLabel = "ADDR",
            defaultValue = "127.0.0.1",
            description = "The address of --metrics-port (default: ${DEFAULT-VALUE}).")
    String metricsBind;

    final CountDownLatch stopped = new CountDownLatch(1);

    /** The running adapter (tests read its status). */
    volatile Webhook running;

    /** The metrics port bound, once listening. */
    volatile int metricsBound = -1;

    void stop() {
        stopped.countDown();
    }

    @Override
    int run() throws Exception {
        URI server = target.url(spec);
        if (server == null) throw new ParameterException(spec.commandLine(), "webhook needs --server URL");
        if (from != null && from < 0) throw new ParameterException(spec.commandLine(), "--from must be >= 0: " + from);
        WebhookOptions options;
        try {
            options = WebhookOptions.of(receiver(postTo), prefix, state)
                    .withFrom(from)
                    .withHeaders(headers)
                    .withRequestTimeout(timeout)
                    .withOnRefusal(WebhookOptions.OnRefusal.parse(onRefusal));
            options = options.withBreaker(
                    options.window(), options.failureRatePercent(), options.minimumCalls(), openWait);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        PrometheusMeterRegistry registry =
                metricsPort == null ? null : new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        com.sun.net.httpserver.HttpServer metrics = null;
        try (CaskadeClient client = CaskadeClient.connect(server, clientOptions());
                Webhook hook = Webhook.start(new WebhookFeed.Remote(client), options)) {
            running = hook;
            if (registry != null) {
                hook.bind(registry);
                metrics = metricsServer(registry, hook);
                metricsBound = metrics.getAddress().getPort();
            }
            Thread shutdown = new Thread(this::stop, "caskade-webhook-stop");
            Runtime.getRuntime().addShutdownHook(shutdown);
            out().printf(
                            "caskade webhook: %s prefix '%s' -> %s (state %s%s, pid %d)%n",
                            client.base(),
                            prefix,
                            options.postTo(),
                            state,
                            metrics == null ? "" : ", metrics http://" + metricsBind + ":" + metricsBound + "/metrics",
                            ProcessHandle.current().pid());
            out().flush();
            stopped.await();
            try {
                Runtime.getRuntime().removeShutdownHook(shutdown);
            } catch (IllegalStateException shuttingDown) {
                // the hook ran: that is what stopped us
            }
            return Main.OK;
        } finally {
            if (metrics != null) metrics.stop(0);
        }
    }

    private com.sun.net.httpserver.HttpServer metricsServer(PrometheusMeterRegistry registry, Webhook hook)
            throws IOException {
        com.sun.net.httpserver.HttpServer s =
                com.sun.net.httpserver.HttpServer.create(new InetSocketAddress(metricsBind, metricsPort), 16);
        s.createContext("/metrics", ex -> {
            byte[] body = registry.scrape().getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
            ex.sendResponseHeaders(200, body.length);
            try (OutputStream o = ex.getResponseBody()) {
                o.write(body);
            }
        });
        s.createContext("/healthz", ex -> {
            Webhook.Status st = hook.status();
            byte[] body = Json.object()
                    .add("status", st.state())
                    .add("position", st.position())
                    .add("lagRevisions", st.lagRevisions())
                    .add("breaker", st.breaker())
                    .add("lastError", st.lastError())
                    .toString()
                    .getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().set("Content-Type", "application/json");
            ex.sendResponseHeaders(200, body.length);
            try (OutputStream o = ex.getResponseBody()) {
                o.write(body);
            }
        });
        s.start();
        return s;
    }

    static URI receiver(String url) {
        try {
            return new URI(url);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("--post-to: not a URL: " + url);
        }
    }

    private ClientOptions clientOptions() {
        // the watch's request timeout bounds only its head; GET /v1/status must answer well within the refresh
        ClientOptions o = ClientOptions.defaults()
                .withConnectTimeout(Duration.ofSeconds(5))
                .withRequestTimeout(Duration.ofSeconds(10));
        if (target.token != null) return o.withToken(target.token);
        if (target.user != null) {
            int colon = target.user.indexOf(':');
            return o.withUser(target.user.substring(0, colon), target.user.substring(colon + 1));
        }
        return o;
    }
}
