package dev.caskade.cli;

import dev.caskade.Change;
import dev.caskade.ChangeType;
import dev.caskade.WatchEvent;
import io.github.resilience4j.circuitbreaker.CallNotPermittedException;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;
import java.util.HexFormat;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.core.JsonGenerator;
import tools.jackson.databind.json.JsonMapper;

/**
 * The webhook adapter: follows a {@link WebhookFeed} under a prefix and delivers each commit as one JSON {@code POST}
 * to a receiver, in revision order, at least once, with an {@code Idempotency-Key} that is the same for the same
 * commit across retries and restarts. After each 2xx the commit's revision becomes the durable position ({@link
 * WebhookPosition}); a restart resumes after it, so the only repeat a crash can cause is the commit whose answer was
 * not yet recorded.
 *
 * <p>One delivery in flight at a time (that is the order), each bounded by {@link WebhookOptions#requestTimeout()}.
 * Failed attempts (no answer, a timeout, 5xx, 408, 429) are retried after an exponential backoff with jitter, through
 * a Resilience4j circuit breaker: once it opens, no request at all is sent for {@link WebhookOptions#openWait()},
 * then one probe decides. Nothing piles up meanwhile: the stream is read only as fast as commits are delivered, and a
 * server stream that falls too far behind ends and is reopened from the position. A permanent refusal (another 4xx,
 * a 3xx) is logged as an ERROR and counted, then parked or skipped ({@link WebhookOptions#onRefusal()}). When the
 * position fell behind the source's retained history, the adapter logs an ERROR, counts the gap and resumes from the
 * oldest revision still there.
 */
final class Webhook implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Webhook.class);
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final long REVISION_REFRESH_NANOS = TimeUnit.SECONDS.toNanos(5);

    /**
     * What the adapter is doing.
     *
     * @param state {@code starting}, {@code live} (stream open, delivering), {@code retrying} (the receiver failed),
     *     {@code parked} (the receiver refused a commit for good), {@code reconnecting} (the source is away), {@code
     *     closed}
     * @param position the last revision the receiver acknowledged (-1 before the first start resolved it)
     * @param sourceRevision the newest revision the adapter knows the source has (never below {@code position})
     * @param lagRevisions {@code sourceRevision - position}: with a prefix, an upper bound that includes commits
     *     outside it (drops to 0 with the next commit under the prefix)
     * @param breaker {@code CLOSED}, {@code OPEN} or {@code HALF_OPEN}
     */
    record Status(
            String state,
            long position,
            long sourceRevision,
            long lagRevisions,
            long deliveries,
            long failures,
            long rejected,
            long refusals,
            long skipped,
            long gaps,
            long gapRevisions,
            String breaker,
            String lastError) {}

    private final WebhookFeed feed;
    private final WebhookOptions options;
    private final WebhookPosition position;
    private final byte[] prefix;
    private final String keyPrefix;
    private final HttpClient http;
    private final CircuitBreaker breaker;
    private final Thread thread;
    private final Object wake = new Object();
    private final AtomicBoolean refreshing = new AtomicBoolean();
    private final AtomicLong sourceRevision = new AtomicLong();
    private final AtomicLong deliveries = new AtomicLong();
    private final AtomicLong failures = new AtomicLong();
    private final AtomicLong rejected = new AtomicLong();
    private final AtomicLong refusals = new AtomicLong();
    private final AtomicLong skipped = new AtomicLong();
    private final AtomicLong gaps = new AtomicLong();
    private final AtomicLong gapRevisions = new AtomicLong();
    private volatile boolean started;
    private volatile boolean closed;
    private volatile String state = "starting";
    private volatile String lastError;
    private volatile long probeAtNanos;
    private volatile WebhookFeed.Stream stream;
    private long refreshedAtNanos;

    private Webhook(WebhookFeed feed, WebhookOptions options) {
        this.feed = feed;
        this.options = options;
        this.prefix = options.prefix().getBytes(StandardCharsets.UTF_8);
        this.position = WebhookPosition.open(options.state(), feed.identity(), options.prefix());
        if (position.existed() && options.from() != null)
            LOG.warn(
                    "webhook: --from {} ignored: {} holds the position {} (delete it to start over)",
                    options.from(),
                    options.state(),
                    position.revision());
        this.started = position.existed();
        this.keyPrefix = sourceKey(feed.identity(), options.prefix());
        this.http = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(options.requestTimeout())
                .followRedirects(HttpClient.Redirect.NEVER)
                .build();
        this.breaker = CircuitBreaker.of(
                "webhook " + options.postTo(),
                CircuitBreakerConfig.custom()
                        .slidingWindowType(CircuitBreakerConfig.SlidingWindowType.COUNT_BASED)
                        .slidingWindowSize(options.window())
                        .minimumNumberOfCalls(Math.min(options.minimumCalls(), options.window()))
                        .failureRateThreshold(options.failureRatePercent())
                        .waitDurationInOpenState(options.openWait())
                        .permittedNumberOfCallsInHalfOpenState(1)
                        .build());
        breaker.getEventPublisher().onStateTransition(e -> {
            switch (e.getStateTransition().getToState()) {
                case OPEN, FORCED_OPEN -> {
                    probeAtNanos = System.nanoTime() + options.openWait().toNanos();
                    LOG.warn(
                            "webhook {}: circuit breaker OPEN ({}% of the last attempts failed); no request for {}",
                            options.postTo(), breaker.getMetrics().getFailureRate(), options.openWait());
                }
                case HALF_OPEN -> LOG.info("webhook {}: circuit breaker HALF_OPEN, probing", options.postTo());
                case CLOSED -> LOG.info("webhook {}: circuit breaker CLOSED", options.postTo());
                default -> {}
            }
        });
        this.thread = Thread.ofPlatform().name("caskade-webhook").daemon().unstarted(this::run);
    }

    /** Starts delivering in the background; the state directory is locked until {@link #close()}. */
    static Webhook start(WebhookFeed feed, WebhookOptions options) {
        Webhook w = new Webhook(feed, options);
        w.thread.start();
        return w;
    }

    /** {@code <16 hex digits of SHA-256(source, prefix)>-}: the idempotency key's stable first half. */
    static String sourceKey(String source, String prefix) {
        try {
            MessageDigest d = MessageDigest.getInstance("SHA-256");
            d.update(source.getBytes(StandardCharsets.UTF_8));
            d.update((byte) 0);
            d.update(prefix.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(d.digest(), 0, 8) + "-";
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The {@code Idempotency-Key} of the commit at {@code revision}. */
    String idempotencyKey(long revision) {
        return keyPrefix + revision;
    }

    Status status() {
        long pos = started ? position.revision() : -1;
        long src = Math.max(sourceRevision.get(), pos);
        return new Status(
                closed ? "closed" : state,
                pos,
                src,
                pos < 0 ? 0 : src - pos,
                deliveries.get(),
                failures.get(),
                rejected.get(),
                refusals.get(),
                skipped.get(),
                gaps.get(),
                gapRevisions.get(),
                breaker.getState().name(),
                lastError);
    }

    /** The adapter's series in {@code registry}, tagged with the receiver and the prefix. */
    void bind(MeterRegistry registry) {
        Tags t = Tags.of("receiver", options.postTo().toString(), "prefix", options.prefix());
        Gauge.builder("caskade.webhook.lag.revisions", this, w -> w.status().lagRevisions())
                .tags(t)
                .description("source revisions not delivered yet (an upper bound with a prefix)")
                .register(registry);
        Gauge.builder(
                        "caskade.webhook.delivered.revision",
                        this,
                        w -> w.status().position())
                .tags(t)
                .description("the last revision the receiver acknowledged (the durable position)")
                .register(registry);
        Gauge.builder("caskade.webhook.source.revision", this, w -> w.status().sourceRevision())
                .tags(t)
                .description("the newest revision known at the source")
                .register(registry);
        Gauge.builder("caskade.webhook.breaker.state", this, w -> switch (w.breaker.getState()) {
                    case CLOSED -> 0;
                    case HALF_OPEN -> 2;
                    default -> 1;
                })
                .tags(t)
                .description("the receiver's circuit breaker: 0 closed, 1 open, 2 half-open")
                .register(registry);
        Gauge.builder("caskade.webhook.parked", this, w -> "parked".equals(w.state) ? 1 : 0)
                .tags(t)
                .description("1 while a commit the receiver refused for good holds the delivery")
                .register(registry);
        counter(registry, t, "caskade.webhook.deliveries", deliveries, "commits the receiver acknowledged (2xx)");
        counter(
                registry,
                t,
                "caskade.webhook.failures",
                failures,
                "attempts that failed: no answer, timeout, 5xx, 408, 429");
        counter(registry, t, "caskade.webhook.rejected", rejected, "attempts not made because the breaker was open");
        counter(registry, t, "caskade.webhook.refusals", refusals, "permanent refusals (4xx other than 408, 429; 3xx)");
        counter(registry, t, "caskade.webhook.skipped", skipped, "refused commits skipped (on-refusal skip)");
        counter(registry, t, "caskade.webhook.gaps", gaps, "times the position fell behind the source's history");
        counter(
                registry,
                t,
                "caskade.webhook.gap.revisions",
                gapRevisions,
                "revisions lost in those gaps (upper bound)");
    }

    private static void counter(MeterRegistry r, Tags t, String name, AtomicLong value, String description) {
        FunctionCounter.builder(name, value, AtomicLong::get)
                .tags(t)
                .description(description)
                .register(r);
    }

    // ---- the loop

    private void run() {
        long backoff = options.backoffInitial().toMillis();
        while (!closed) {
            BlockingQueue<WebhookFeed.Event> events = new ArrayBlockingQueue<>(256);
            AtomicBoolean done = new AtomicBoolean();
            WebhookFeed.Stream s = null;
            boolean again = false; // reopen at once, without backoff
            try {
                if (!started) begin();
                long from = position.revision();
                s = feed.open(prefix, from, e -> offer(events, done, e));
                stream = s;
                if (closed) break;
                state = "live";
                lastError = null;
                long idle = options.idleTimeout().toNanos();
                long busyUntil = System.nanoTime(); // while delivering, the stream is not read: not its silence
                while (!closed) {
                    WebhookFeed.Event e = events.poll(250, TimeUnit.MILLISECONDS);
                    refreshSourceRevision();
                    if (e == null) {
                        if (System.nanoTime() - Math.max(s.lastReceivedNanos(), busyUntil) > idle)
                            throw new IllegalStateException("the stream was silent for " + options.idleTimeout());
                        continue;
                    }
                    if (e instanceof WebhookFeed.Commit c) {
                        noteSourceRevision(c.commit().revision());
                        if (c.commit().revision() <= position.revision()) continue;
                        deliver(c.commit());
                        busyUntil = System.nanoTime();
                        backoff = options.backoffInitial().toMillis();
                    } else if (e instanceof WebhookFeed.Compacted c) {
                        again = gap(c.oldest()); // else a confused source: reopen after the backoff
                        break;
                    } else if (e instanceof WebhookFeed.Ended end) {
                        if (end.cause() != null) throw end.cause();
                        again = true;
                        break;
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            } catch (Throwable t) {
                if (closed) break;
                lastError = t.toString();
                state = "reconnecting";
                LOG.warn("webhook: the source {} failed: {}; reconnecting", feed.identity(), t.toString());
            } finally {
                done.set(true);
                if (s != null) s.close();
                stream = null;
            }
            if (!again && !closed) {
                sleep(backoff / 2 + ThreadLocalRandom.current().nextLong(backoff + 1));
                backoff = Math.min(backoff * 2, options.backoffMax().toMillis());
            }
        }
    }

    /** The first start: --from, else the source's revision now; stored at once, so a restart does not skip ahead. */
    private void begin() {
        long from = options.from() != null ? options.from() : feed.revision();
        position.save(from);
        started = true;
        LOG.info("webhook: first start, delivering the commits after revision {}", from);
    }

    /** Hands an event over; blocks (the stream waits) while the adapter is busy, until the stream is done. */
    private static void offer(BlockingQueue<WebhookFeed.Event> q, AtomicBoolean done, WebhookFeed.Event e) {
        try {
            while (!done.get()) if (q.offer(e, 100, TimeUnit.MILLISECONDS)) return;
        } catch (InterruptedException interrupted) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("the webhook stream is closing");
        }
    }

    /** Moves the position past compacted history; false when there was nothing to skip. */
    private boolean gap(long oldest) {
        long at = position.revision();
        if (oldest <= at) return false;
        gaps.incrementAndGet();
        gapRevisions.addAndGet(oldest - at);
        LOG.error(
                "webhook {}: the source's history after revision {} is compacted (oldest now {}): the commits of"
                        + " revisions {} to {} under '{}' are LOST for the receiver; resuming after {}",
                options.postTo(),
                at,
                oldest,
                at + 1,
                oldest,
                options.prefix(),
                oldest);
        position.save(oldest);
        noteSourceRevision(oldest);
        return true;
    }

    /** Sends one commit until the receiver acknowledges it (or, with on-refusal skip, refuses it for good). */
    private void deliver(WatchEvent.Commit c) throws InterruptedException {
        byte[] body = body(c);
        String key = idempotencyKey(c.revision());
        long backoff = options.backoffInitial().toMillis();
        boolean parkLogged = false;
        while (!closed) {
            int status;
            try {
                status = breaker.executeCallable(() -> post(body, key, c.revision()));
            } catch (CallNotPermittedException open) {
                rejected.incrementAndGet();
                state = "retrying";
                sleep(Math.max(10, TimeUnit.NANOSECONDS.toMillis(probeAtNanos - System.nanoTime())));
                continue;
            } catch (InterruptedException e) {
                throw e;
            } catch (Exception e) {
                if (closed) return; // close() cut the request short: the next start sends it again
                failures.incrementAndGet();
                lastError = "revision " + c.revision() + ": " + e.getMessage();
                state = "retrying";
                LOG.warn(
                        "webhook {}: delivering revision {} failed: {}",
                        options.postTo(),
                        c.revision(),
                        e.getMessage());
                sleep(backoff / 2 + ThreadLocalRandom.current().nextLong(backoff + 1));
                backoff = Math.min(backoff * 2, options.backoffMax().toMillis());
                continue;
            }
            if (status / 100 == 2) {
                position.save(c.revision());
                deliveries.incrementAndGet();
                if (!"live".equals(state)) LOG.info("webhook {}: delivering again", options.postTo());
                state = "live";
                lastError = null;
                return;
            }
            refusals.incrementAndGet();
            lastError = "revision " + c.revision() + " refused with " + status;
            if (options.onRefusal() == WebhookOptions.OnRefusal.SKIP) {
                LOG.error(
                        "webhook {}: the receiver refused revision {} with {}: SKIPPED (on-refusal skip); it will not"
                                + " be sent again",
                        options.postTo(),
                        c.revision(),
                        status);
                skipped.incrementAndGet();
                position.save(c.revision());
                return;
            }
            if (!parkLogged)
                LOG.error(
                        "webhook {}: the receiver refused revision {} with {}: PARKED, offered again every {} (fix the"
                                + " receiver, or restart with on-refusal skip to move on)",
                        options.postTo(),
                        c.revision(),
                        status,
                        options.backoffMax());
            parkLogged = true;
            state = "parked";
            sleep(options.backoffMax().toMillis());
        }
    }

    /** One attempt: the status of a final answer, or an exception for one to retry (which the breaker counts). */
    private int post(byte[] body, String key, long revision) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(options.postTo())
                .timeout(options.requestTimeout())
                .header("Content-Type", "application/json")
                .header("Idempotency-Key", key)
                .header("Caskade-Revision", Long.toString(revision))
                .POST(HttpRequest.BodyPublishers.ofByteArray(body));
        for (String h : options.headers()) {
            int colon = h.indexOf(':');
            b.header(h.substring(0, colon).trim(), h.substring(colon + 1).trim());
        }
        HttpResponse<Void> r = http.send(b.build(), HttpResponse.BodyHandlers.discarding());
        int status = r.statusCode();
        if (status >= 500 || status == 408 || status == 429)
            throw new IOException(options.postTo() + " answered " + status);
        return status;
    }

    /** The body: the SSE commit event's data, {@code {"revision","timestamp","changes":[...]}}. */
    static byte[] body(WatchEvent.Commit c) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(256);
        try (JsonGenerator g = JSON.createGenerator(out)) {
            g.writeStartObject();
            g.writeNumberProperty("revision", c.revision());
            g.writeNumberProperty("timestamp", c.timestamp());
            g.writeArrayPropertyStart("changes");
            for (Change ch : c.changes()) {
                g.writeStartObject();
                g.writeStringProperty("type", ch.type().name().toLowerCase(java.util.Locale.ROOT));
                bytes(g, "key", ch.key());
                bytes(g, "value", ch.type() == ChangeType.PUT ? ch.value() : new byte[0]);
                if (ch.expiresAt() != 0) g.writeNumberProperty("expiresAt", ch.expiresAt());
                g.writeEndObject();
            }
            g.writeEndArray();
            g.writeEndObject();
        }
        return out.toByteArray();
    }

    private static void bytes(JsonGenerator g, String name, byte[] value) {
        java.util.Optional<String> s = Json.utf8(value);
        if (s.isPresent()) g.writeStringProperty(name, s.get());
        else g.writeStringProperty(name + "_base64", Base64.getEncoder().encodeToString(value));
    }

    private void noteSourceRevision(long revision) {
        sourceRevision.accumulateAndGet(revision, Math::max);
    }

    /** Asks the source's revision now and then, off the delivery thread (a slow server must not hold it up). */
    private void refreshSourceRevision() {
        long now = System.nanoTime();
        if (now - refreshedAtNanos < REVISION_REFRESH_NANOS || !refreshing.compareAndSet(false, true)) return;
        refreshedAtNanos = now;
        Thread.ofVirtual().name("caskade-webhook-revision").start(() -> {
            try {
                if (!closed) noteSourceRevision(feed.revision());
            } catch (RuntimeException e) {
                LOG.debug("webhook: cannot ask the source's revision: {}", e.toString());
            } finally {
                refreshing.set(false);
            }
        });
    }

    /** Waits; close() cuts it short (never an interrupt: it would break the position's fsync). */
    private void sleep(long ms) {
        synchronized (wake) {
            if (closed) return;
            try {
                wake.wait(Math.max(1, ms));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * Stops: a delivery in flight is abandoned (its commit is sent again by the next start), the stream closed, the
     * state directory unlocked. Idempotent.
     */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        synchronized (wake) {
            wake.notifyAll();
        }
        WebhookFeed.Stream s = stream;
        if (s != null) s.close();
        http.shutdownNow(); // a request in flight fails at once
        try {
            thread.join(options.requestTimeout().toMillis() + 5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        position.close();
    }
}
