package dev.caskade.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.caskade.Durability;
import dev.caskade.client.CaskadeClient;
import dev.caskade.client.ClientOptions;
import dev.caskade.server.Server;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code caskade webhook} and {@code caskade serve --webhook-to}, run in-process as the CLI parses them. */
class WebhookCommandTest {
    @TempDir
    Path dir;

    private WebhookReceiver receiver;
    private final ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor();
    private final HttpClient http = HttpClient.newHttpClient();

    @BeforeEach
    void start() throws Exception {
        receiver = new WebhookReceiver(1_000);
    }

    @AfterEach
    void stop() {
        receiver.close();
        pool.shutdownNow();
        http.close();
    }

    private record Running<T>(T command, Future<Integer> exit, StringWriter out, StringWriter err) {}

    @SuppressWarnings("unchecked")
    private <T> Running<T> launch(String name, String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cli = Main.commandLine(new PrintWriter(out, true), new PrintWriter(err, true));
        T command = (T) cli.getSubcommands().get(name).getCommand();
        String[] all = new String[args.length + 1];
        all[0] = name;
        System.arraycopy(args, 0, all, 1, args.length);
        return new Running<>(command, pool.submit(() -> cli.execute(all)), out, err);
    }

    private String get(String url) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.ofString())
                .body();
    }

    @Test
    void theWebhookCommandDeliversServesMetricsAndResumesAfterARestart() throws Exception {
        try (Server server =
                Server.start(new Server.Options(dir.resolve("store"), "127.0.0.1", 0, 0, Durability.NONE, false))) {
            String url = "http://127.0.0.1:" + server.httpPort();
            String[] args = {
                "--server",
                url,
                "--prefix",
                "app/",
                "--post-to",
                receiver.url().toString(),
                "--from",
                "0",
                "--state",
                dir.resolve("state").toString(),
                "--metrics-port",
                "0",
                "--timeout",
                "2s"
            };
            long r1 = server.store().put("app/1", "one");
            server.store().put("other/1", "no");
            long r2 = server.store().put("app/2", "two");

            Running<WebhookCommand> run = launch("webhook", args);
            await().atMost(Duration.ofSeconds(5)).until(() -> run.command().metricsBound > 0);
            await().atMost(Duration.ofSeconds(5))
                    .until(() -> receiver.processedRevisions().equals(List.of(r1, r2)));
            await().atMost(Duration.ofSeconds(2))
                    .until(() -> run.command().running.status().position() == r2);
            String metrics = get("http://127.0.0.1:" + run.command().metricsBound + "/metrics");
            assertThat(metrics)
                    .contains("caskade_webhook_deliveries_total{prefix=\"app/\",receiver=\"" + receiver.url()
                            + "\"} 2.0");
            assertThat(metrics).containsPattern("caskade_webhook_breaker_state\\{[^}]*\\} 0\\.0");
            assertThat(metrics).containsPattern("caskade_webhook_delivered_revision\\{[^}]*\\} " + r2 + "\\.0");
            assertThat(get("http://127.0.0.1:" + run.command().metricsBound + "/healthz"))
                    .contains("\"status\":\"live\"");
            assertThat(run.out().toString())
                    .contains("caskade webhook: " + url + " prefix 'app/' -> " + receiver.url());
            run.command().stop();
            assertThat(run.exit().get(15, TimeUnit.SECONDS))
                    .as(run.err().toString())
                    .isZero();

            // while it is down; the restart sends exactly these (everything before was acknowledged)
            long r3 = server.store().put("app/3", "three");
            int before = receiver.attemptCount();
            Running<WebhookCommand> again = launch("webhook", args);
            await().atMost(Duration.ofSeconds(5))
                    .until(() -> receiver.processedRevisions().size() == 3);
            assertThat(receiver.processedRevisions()).containsExactly(r1, r2, r3);
            assertThat(receiver.attempts().subList(before, receiver.attemptCount()))
                    .extracting(WebhookReceiver.Attempt::revision)
                    .containsOnly(r3);
            again.command().stop();
            assertThat(again.exit().get(15, TimeUnit.SECONDS)).isZero();
        }
    }

    @Test
    void serveWithWebhookToDeliversFromItsOwnStoreIntoTheServersMetrics() throws Exception {
        Path data = dir.resolve("data");
        Running<ServeCommand> run = launch(
                "serve",
                "--data",
                data.toString(),
                "--resp-port",
                "0",
                "--http-port",
                "0",
                "--durability",
                "none",
                "--webhook-to",
                receiver.url().toString(),
                "--webhook-prefix",
                "app/");
        await().atMost(Duration.ofSeconds(10))
                .until(() -> run.command().webhook != null && Files.exists(data.resolve("serve.json")));
        String serveJson = Files.readString(data.resolve("serve.json"));
        int port = Integer.parseInt(serveJson.replaceAll(".*\"httpPort\":(\\d+).*", "$1"));
        try (CaskadeClient c =
                CaskadeClient.connect(URI.create("http://127.0.0.1:" + port), ClientOptions.defaults())) {
            c.put("other/x", "no");
            long rev = c.put("app/x", "yes");
            await().atMost(Duration.ofSeconds(5))
                    .until(() -> receiver.processedRevisions().equals(List.of(rev)));
            assertThat(receiver.processed().values().iterator().next())
                    .isEqualTo("{\"revision\":" + rev + ",\"timestamp\":"
                            + receiver.processed()
                                    .values()
                                    .iterator()
                                    .next()
                                    .replaceAll(".*\"timestamp\":(\\d+).*", "$1")
                            + ",\"changes\":[{\"type\":\"put\",\"key\":\"app/x\",\"value\":\"yes\"}]}");
            await().atMost(Duration.ofSeconds(2))
                    .until(() -> run.command().webhook.status().position() == rev);
            String metrics = get("http://127.0.0.1:" + port + "/metrics");
            assertThat(metrics).containsPattern("caskade_webhook_deliveries_total\\{[^}]*\\} 1\\.0");
            assertThat(metrics).containsPattern("caskade_webhook_lag_revisions\\{[^}]*\\} 0\\.0");
            assertThat(Files.readString(data.resolve("webhook/position.json"))).contains("\"revision\":" + rev);
        } finally {
            run.command().stop();
        }
        assertThat(run.exit().get(15, TimeUnit.SECONDS))
                .as(run.err().toString())
                .isZero();
    }

    @Test
    void badArgumentsAreUsageErrors() {
        String hook = receiver.url().toString();
        Invocation noServer = Invocation.run(
                "webhook", "--post-to", hook, "--state", dir.resolve("s").toString());
        assertThat(noServer.code()).as(noServer.toString()).isEqualTo(Main.USAGE);
        assertThat(noServer.err()).contains("--server");
        Invocation ftp = Invocation.run("webhook", "--server", "http://127.0.0.1:1", "--post-to", "ftp://x/");
        assertThat(ftp.code()).as(ftp.toString()).isEqualTo(Main.USAGE);
        Invocation refusal =
                Invocation.run("webhook", "--server", "http://127.0.0.1:1", "--post-to", hook, "--on-refusal", "drop");
        assertThat(refusal.code()).as(refusal.toString()).isEqualTo(Main.USAGE);
        Invocation follower = Invocation.run(
                "serve", "--data", dir.resolve("f").toString(), "--follow", "http://127.0.0.1:1", "--webhook-to", hook);
        assertThat(follower.code()).as(follower.toString()).isEqualTo(Main.USAGE);
        assertThat(follower.err()).contains("primary only");
        Invocation prefixAlone =
                Invocation.run("serve", "--data", dir.resolve("p").toString(), "--webhook-prefix", "app/");
        assertThat(prefixAlone.code()).as(prefixAlone.toString()).isEqualTo(Main.USAGE);
        Invocation badUrl = Invocation.run("serve", "--data", dir.resolve("b").toString(), "--webhook-to", "ftp://x/");
        assertThat(badUrl.code()).as(badUrl.toString()).isEqualTo(Main.USAGE);
    }
}
