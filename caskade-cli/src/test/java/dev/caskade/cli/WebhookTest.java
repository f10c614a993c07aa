package dev.caskade.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.caskade.Batch;
import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.Durability;
import dev.caskade.client.CaskadeClient;
import dev.caskade.client.ClientOptions;
import dev.caskade.server.Server;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The webhook adapter against a real receiver on loopback that fails, stalls and recovers: every commit arrives, in
 * order, at least once (the receiver de-duplicates by Idempotency-Key and ends with exactly the commits), a restart
 * resumes from the durable position, the breaker opens and closes, refusals park or skip, a compacted history is a
 * counted gap.
 */
class WebhookTest {
    private static final long STALL_MS = 900;
    private static final JsonMapper JSON = JsonMapper.builder().build();

    @TempDir
    Path dir;

    private Server server;
    private CaskadeClient client;
    private WebhookReceiver receiver;
    private final List<Webhook> hooks = new ArrayList<>();

    @BeforeEach
    void start() throws Exception {
        server = Server.start(new Server.Options(dir.resolve("store"), "127.0.0.1", 0, 0, Durability.NONE, false));
        client = CaskadeClient.connect(URI.create("http://127.0.0.1:" + server.httpPort()), ClientOptions.defaults());
        receiver = new WebhookReceiver(STALL_MS);
    }

    @AfterEach
    void stop() {
        hooks.forEach(Webhook::close);
        receiver.close();
        client.close();
        server.close();
    }

    private WebhookOptions options(String state) {
        return WebhookOptions.of(receiver.url(), "app/", dir.resolve(state))
                .withFrom(0L)
                .withRequestTimeout(Duration.ofMillis(300))
                .withBackoff(Duration.ofMillis(10), Duration.ofMillis(100))
                .withBreaker(6, 50, 4, Duration.ofMillis(500));
    }

    private Webhook remote(WebhookOptions o) {
        Webhook w = Webhook.start(new WebhookFeed.Remote(client), o);
        hooks.add(w);
        return w;
    }

    /** The adapter's attempts never go back: each is a repeat of the last one or the next commit. */
    private static void assertInOrder(List<WebhookReceiver.Attempt> attempts) {
        long last = 0;
        for (WebhookReceiver.Attempt a : attempts) {
            assertThat(a.revision()).as("attempts in order: %s", attempts).isGreaterThanOrEqualTo(last);
            last = a.revision();
        }
    }

    @Test
    void everyCommitArrivesInOrderThroughFailuresStallsAndRecovery() throws Exception {
        long seed = new Random().nextLong();
        System.out.println("WebhookTest seed " + seed);
        Random rnd = new Random(seed);
        Caskade db = server.store();
        Webhook hook = remote(options("state"));
        List<Long> expected = new ArrayList<>();
        WebhookReceiver.Mode[] phases = {
            WebhookReceiver.Mode.OK, WebhookReceiver.Mode.FAIL, WebhookReceiver.Mode.STALL, WebhookReceiver.Mode.OK
        };
        long multi = 0;
        for (WebhookReceiver.Mode phase : phases) {
            receiver.mode(phase);
            for (int i = 0; i < 8; i++) {
                db.put("other/" + i, "x"); // outside the prefix: never delivered
                switch (rnd.nextInt(4)) {
                    case 0 -> {
                        multi = db.commit(Batch.create()
                                .put("app/b" + i, "1")
                                .put("app/c", "2")
                                .put("other/y", "3"));
                        expected.add(multi);
                    }
                    case 1 -> {
                        db.put("app/d", "gone");
                        expected.add(db.revision());
                        expected.add(db.delete("app/d"));
                    }
                    default -> expected.add(db.put("app/k" + rnd.nextInt(5), "v" + i));
                }
            }
            if (phase != WebhookReceiver.Mode.OK) Thread.sleep(1_200);
        }
        receiver.mode(WebhookReceiver.Mode.OK);
        await().atMost(Duration.ofSeconds(12))
                .until(() -> receiver.processedRevisions().size() >= expected.size());

        assertThat(receiver.processedRevisions()).as("seed %d", seed).isEqualTo(expected);
        assertInOrder(receiver.attempts());
        assertThat(receiver.attempts()).as("failures and stalls were retried").hasSizeGreaterThan(expected.size());
        for (var e : receiver.processed().entrySet()) {
            JsonNode body = JSON.readTree(e.getValue());
            long rev = body.get("revision").asLong();
            assertThat(e.getKey()).isEqualTo(hook.idempotencyKey(rev));
            assertThat(body.get("timestamp").asLong()).isPositive();
            for (JsonNode c : body.get("changes"))
                assertThat(c.get("key").asString()).startsWith("app/");
        }
        if (multi != 0) {
            JsonNode body = JSON.readTree(receiver.processed().get(hook.idempotencyKey(multi)));
            assertThat(body.get("changes")).hasSize(2); // other/y is not under the prefix
            assertThat(body.get("changes").get(0).get("type").asString()).isEqualTo("put");
        }
        await().atMost(Duration.ofSeconds(2)).until(() -> hook.status().position() == expected.getLast());
        Webhook.Status s = hook.status();
        assertThat(s.deliveries()).isEqualTo(expected.size());
        assertThat(s.failures()).isPositive();
        assertThat(s.state()).isEqualTo("live");
        assertThat(Files.readString(dir.resolve("state/position.json"))).contains("\"revision\":" + expected.getLast());
    }

    @Test
    void theBreakerOpensUnderFailuresStopsCallingAndClosesAfterRecovery() throws Exception {
        receiver.mode(WebhookReceiver.Mode.FAIL);
        Webhook hook = remote(options("state").withBreaker(4, 50, 4, Duration.ofMillis(800)));
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        hook.bind(registry);
        long rev = server.store().put("app/a", "1");

        await().atMost(Duration.ofSeconds(5))
                .until(() -> hook.status().breaker().equals("OPEN"));
        int atOpen = receiver.attemptCount();
        assertThat(atOpen).isGreaterThanOrEqualTo(4);
        Thread.sleep(500); // within open-wait: not one request
        assertThat(receiver.attemptCount()).isEqualTo(atOpen);
        String scrape = registry.scrape();
        assertThat(scrape).containsPattern("caskade_webhook_breaker_state\\{[^}]*\\} 1\\.0");
        assertThat(scrape).containsPattern("caskade_webhook_lag_revisions\\{[^}]*\\} [1-9]");
        assertThat(scrape).containsPattern("caskade_webhook_failures_total\\{[^}]*\\} [4-9]");

        // still failing: one probe per open-wait, no flood
        Thread.sleep(1_700);
        assertThat(receiver.attemptCount() - atOpen).isBetween(1, 3);

        receiver.mode(WebhookReceiver.Mode.OK);
        await().atMost(Duration.ofSeconds(3))
                .until(() -> receiver.processedRevisions().contains(rev));
        await().atMost(Duration.ofSeconds(2))
                .until(() -> hook.status().breaker().equals("CLOSED"));
        assertInOrder(receiver.attempts());
        scrape = registry.scrape();
        assertThat(scrape).containsPattern("caskade_webhook_breaker_state\\{[^}]*\\} 0\\.0");
        assertThat(scrape).containsPattern("caskade_webhook_deliveries_total\\{[^}]*\\} 1\\.0");
        assertThat(scrape).containsPattern("caskade_webhook_delivered_revision\\{[^}]*\\} " + rev + "\\.0");
    }

    @Test
    void aRestartResumesFromThePositionRepeatingOnlyTheUnacknowledgedCommit() throws Exception {
        Caskade db = server.store();
        List<Long> expected = new ArrayList<>();
        Webhook first = remote(options("state"));
        for (int i = 0; i < 5; i++) expected.add(db.put("app/" + i, "v" + i));
        await().atMost(Duration.ofSeconds(5))
                .until(() -> receiver.processedRevisions().size() == 5);

        receiver.mode(WebhookReceiver.Mode.STALL); // processed, but answered too late: never acknowledged
        long stalled = db.put("app/stalled", "s");
        expected.add(stalled);
        await().atMost(Duration.ofSeconds(5))
                .until(() -> receiver.attempts().stream().anyMatch(a -> a.revision() == stalled));
        first.close();
        assertThat(first.status().position()).isEqualTo(expected.get(4));

        for (int i = 0; i < 4; i++) expected.add(db.put("app/later" + i, "w" + i)); // while the adapter is down
        receiver.mode(WebhookReceiver.Mode.OK);
        int before = receiver.attemptCount();
        Webhook second = remote(options("state").withFrom(999L)); // --from is ignored once a position exists
        await().atMost(Duration.ofSeconds(5))
                .until(() -> receiver.processedRevisions().size() == expected.size());

        assertThat(receiver.processedRevisions()).isEqualTo(expected);
        List<WebhookReceiver.Attempt> after = receiver.attempts().subList(before, receiver.attemptCount());
        assertThat(after.getFirst().revision())
                .as("resumed at the unacknowledged commit")
                .isEqualTo(stalled);
        assertThat(after).allMatch(a -> a.revision() >= stalled);
        assertInOrder(after);
        await().atMost(Duration.ofSeconds(2)).until(() -> second.status().position() == expected.getLast());
    }

    @Test
    void aRefusedCommitIsParkedUntilTheReceiverTakesItOrSkippedWithSkip() throws Exception {
        Caskade db = server.store();
        Webhook parked = remote(options("parked"));
        long a = db.put("app/a", "1");
        long refused = db.put("app/refused", "2");
        long c = db.put("app/c", "3");
        receiver.refuse(r -> r == refused);
        await().atMost(Duration.ofSeconds(5))
                .until(() -> parked.status().state().equals("parked"));
        Thread.sleep(300);
        assertThat(receiver.processedRevisions()).containsExactly(a);
        assertThat(receiver.attempts()).noneMatch(x -> x.revision() == c);
        assertThat(parked.status().refusals()).isPositive();
        assertThat(parked.status().position()).isEqualTo(a);

        receiver.refuse(r -> false); // the receiver is fixed
        await().atMost(Duration.ofSeconds(3))
                .until(() -> receiver.processedRevisions().size() == 3);
        assertThat(receiver.processedRevisions()).containsExactly(a, refused, c);
        parked.close();

        // a second adapter (its own state and key) that skips: the refused commit is counted and passed over
        WebhookReceiver.Mode ok = WebhookReceiver.Mode.OK;
        receiver.mode(ok);
        receiver.refuse(r -> r == refused);
        Webhook skipping = remote(options("skipping")
                .withOnRefusal(WebhookOptions.OnRefusal.SKIP)
                .withHeaders(List.of("X-Adapter: skipping")));
        await().atMost(Duration.ofSeconds(5)).until(() -> skipping.status().position() == c);
        assertThat(skipping.status().skipped()).isEqualTo(1);
        assertThat(skipping.status().deliveries()).isEqualTo(2);
    }

    @Test
    void aPositionBehindTheRetainedHistoryResumesFromTheOldestWithACountedGap() throws Exception {
        CaskadeOptions d = CaskadeOptions.defaults();
        CaskadeOptions o = d.withDurability(Durability.NONE)
                .withSegmentBytes(4096)
                .withHistory(Duration.ZERO, 0)
                .withMerge(d.mergeFragmentation(), d.mergeDeadBytes(), d.mergeBytesPerSecond(), Duration.ZERO);
        try (Caskade db = Caskade.open(dir.resolve("local"), o)) {
            WebhookFeed feed = new WebhookFeed.Local(db, dir.resolve("local"));
            Webhook first = Webhook.start(feed, options("gap"));
            hooks.add(first);
            long r1 = db.put("app/1", "one");
            await().atMost(Duration.ofSeconds(5))
                    .until(() -> receiver.processedRevisions().contains(r1));
            await().atMost(Duration.ofSeconds(2)).until(() -> first.status().position() == r1);
            first.close();

            String big = "x".repeat(200);
            for (int i = 0; i < 200; i++) db.put("app/k" + (i % 3), big + i);
            for (int i = 0; i < 5 && db.compactedRevision() <= r1; i++) db.merge();
            long oldest = db.compactedRevision();
            assertThat(oldest).as("merge compacted the history").isGreaterThan(r1);

            Webhook second = Webhook.start(feed, options("gap"));
            hooks.add(second);
            long r2 = db.put("app/2", "two");
            await().atMost(Duration.ofSeconds(5))
                    .until(() -> receiver.processedRevisions().contains(r2));
            Webhook.Status s = second.status();
            assertThat(s.gaps()).isEqualTo(1);
            assertThat(s.gapRevisions()).isEqualTo(oldest - r1);
            assertThat(receiver.processedRevisions()).allMatch(r -> r == r1 || r > oldest);
            assertInOrder(receiver.attempts());
            second.close();
        }
    }
}
