package dev.caskade.server;

import dev.caskade.Caskade;
import dev.caskade.Stats;
import dev.caskade.s3.GuardedStore;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.ToDoubleFunction;

/**
 * The server's Prometheus metrics, served at {@code GET /metrics}: the store (revision, keys, bytes, watches),
 * requests per protocol, replication per destination, and the JVM. Store series are prefixed {@code caskade_}.
 */
final class Metrics {
    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final Caskade db;
    private final Counter httpRequests;
    private final AtomicInteger webSockets = new AtomicInteger();
    /** One stats() per scrape, not one per gauge: it walks the segment files. */
    private volatile Stats cached;

    private volatile long cachedAt;

    Metrics(Caskade db) {
        this.db = db;
        store("caskade.revision", "the revision of the last commit", Stats::revision);
        store("caskade.compacted.revision", "history after this revision is complete", Stats::compactedRevision);
        store("caskade.keys", "live keys", Stats::keys);
        store("caskade.segments", "segment files", Stats::segments);
        store("caskade.disk.bytes", "bytes of segment and hint files", Stats::diskBytes);
        store("caskade.live.bytes", "log bytes the key directory points to", Stats::liveBytes);
        store("caskade.dead.bytes", "log bytes merge can reclaim", Stats::deadBytes);
        store("caskade.keydir.bytes", "estimated heap of the key directory", Stats::keyDirBytes);
        store("caskade.watches", "open watches", Stats::watches);
        store("caskade.snapshots", "open snapshots", Stats::snapshots);
        store("caskade.merges", "merges since open", Stats::merges);
        store("caskade.fsyncs", "group-commit fsyncs since open", Stats::fsyncs);
        store("caskade.pins.dropped", "times merge compacted past a file pin over the pin budget", Stats::pinsDropped);
        httpRequests = Counter.builder("caskade.http.requests")
                .description("HTTP requests answered")
                .register(registry);
        Gauge.builder("caskade.http.websockets", webSockets, AtomicInteger::get)
                .description("open WebSockets of GET /v1/ws (their watches count in caskade_watches)")
                .register(registry);
        new JvmMemoryMetrics().bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
    }

    private void store(String name, String description, ToDoubleFunction<Stats> value) {
        Gauge.builder(name, this, m -> {
                    Stats s = m.stats();
                    return s == null ? Double.NaN : value.applyAsDouble(s);
                })
                .description(description)
                .register(registry);
    }

    private Stats stats() {
        long now = System.nanoTime();
        if (cached == null || now - cachedAt > 100_000_000L) {
            try {
                cached = db.stats();
                cachedAt = now;
            } catch (IllegalStateException closed) {
                return null;
            }
        }
        return cached;
    }

    /** Adds the Redis-protocol listener's counters. */
    void bind(RespServer resp) {
        FunctionCounter.builder("caskade.resp.commands", resp, r -> (double) r.totalCommands())
                .description("Redis-protocol commands executed")
                .register(registry);
        Gauge.builder("caskade.resp.clients", resp, r -> r.sessions().size())
                .description("connected Redis-protocol clients")
                .register(registry);
    }

    /**
     * A served copy's lag behind its source, its revision, whether it follows live and whether its breaker is open:
     * {@code caskade_follow_*} on a follower, {@code caskade_cluster_*} on a cluster node.
     */
    void bind(java.util.function.Supplier<Role> role) {
        String p = role.get().metricPrefix();
        Gauge.builder(p + ".lag.revisions", role, r -> r.get().lagRevisions())
                .description("revisions the source has that this copy has not applied")
                .register(registry);
        Gauge.builder(p + ".revision", role, r -> r.get().revision())
                .description("the last revision this copy applied")
                .register(registry);
        Gauge.builder(p + ".live", role, r -> r.get().live() ? 1 : 0)
                .description("1 while the copy follows its source live")
                .register(registry);
        Gauge.builder(p + ".breaker.open", role, r -> "CLOSED".equals(r.get().breaker()) ? 0 : 1)
                .description("1 while the circuit breaker around the source is not closed")
                .register(registry);
    }

    /** Adds one set of replication series per destination, tagged {@code destination=<url>}. */
    void bind(Replication replication) {
        for (Replication.Replica r : replication.replicas()) {
            Tags d = Tags.of("destination", r.url);
            Gauge.builder("caskade.replication.lag.revisions", r, x -> x.status.lagRevisions())
                    .tags(d)
                    .description("commits the destination does not hold yet")
                    .register(registry);
            Gauge.builder("caskade.replication.lag.seconds", r, x -> x.status.lagSeconds())
                    .tags(d)
                    .description("seconds since the moment of which the destination holds every commit")
                    .register(registry);
            Gauge.builder("caskade.replication.shipped.revision", r, x -> x.status.shippedRevision())
                    .tags(d)
                    .description("the last revision the destination holds")
                    .register(registry);
            Gauge.builder("caskade.replication.breaker.state", r, Replication.Replica::breakerCode)
                    .tags(d)
                    .description("the destination's circuit breaker: 0 closed, 1 open, 2 half-open")
                    .register(registry);
            counter(
                    "caskade.replication.uploaded.bytes",
                    "bytes of log and snapshot objects uploaded",
                    r,
                    d,
                    x -> x.status.uploadedBytes());
            counter(
                    "caskade.replication.downloaded.bytes",
                    "bytes read from the destination",
                    r,
                    d,
                    x -> x.metrics.bytesDownloaded());
            counter("caskade.replication.log.objects", "log objects uploaded", r, d, x -> x.status.logObjects());
            counter("caskade.replication.snapshots", "snapshots uploaded", r, d, x -> x.status.snapshots());
            counter("caskade.replication.generations", "generations started", r, d, x -> x.status.generations());
            counter(
                    "caskade.replication.fallbacks",
                    "times the log a destination needed was gone and a fresh snapshot was sent",
                    r,
                    d,
                    x -> x.status.fallbacks());
            counter("caskade.replication.failures", "shipping attempts that failed", r, d, x -> x.status.failures());
            counter("caskade.replication.retries", "requests that were retries", r, d, x -> x.metrics.retries());
            for (GuardedStore.Request type : GuardedStore.Request.values()) {
                for (GuardedStore.Outcome outcome : GuardedStore.Outcome.values()) {
                    counter(
                            "caskade.replication.requests",
                            "requests to the destination (attempts) by type and outcome",
                            r,
                            d.and("type", type.name().toLowerCase(Locale.ROOT))
                                    .and("outcome", outcome.name().toLowerCase(Locale.ROOT)),
                            x -> x.metrics.requests(type, outcome));
                }
            }
            if (replication.options().validationInterval() != null) {
                String what = "validations (restore and compare digests) by result";
                counter("caskade.replication.validations", what, r, d.and("result", "ok"), x -> x.validationsOk.get());
                counter(
                        "caskade.replication.validations",
                        what,
                        r,
                        d.and("result", "mismatch"),
                        x -> x.validationsMismatch.get());
                counter(
                        "caskade.replication.validations",
                        what,
                        r,
                        d.and("result", "error"),
                        x -> x.validationsError.get());
                Gauge.builder("caskade.replication.validated.revision", r, x -> x.validatedRevision)
                        .tags(d)
                        .description("the last revision whose restore matched the live store (-1: none yet)")
                        .register(registry);
            }
        }
    }

    private void counter(
            String name,
            String description,
            Replication.Replica replica,
            Tags tags,
            ToDoubleFunction<Replication.Replica> value) {
        FunctionCounter.builder(name, replica, value)
                .tags(tags)
                .description(description)
                .register(registry);
    }

    void countHttpRequest() {
        httpRequests.increment();
    }

    /** Counts an open ({@code +1}) or closed ({@code -1}) WebSocket. */
    void countWebSocket(int delta) {
        webSockets.addAndGet(delta);
    }

    /** The registry behind {@code /metrics}, for series of components outside this module (the webhook adapter). */
    io.micrometer.core.instrument.MeterRegistry registry() {
        return registry;
    }

    /** The Prometheus text exposition of every series. */
    String scrape() {
        return registry.scrape();
    }
}
