package dev.caskade.server;

import dev.caskade.Caskade;
import dev.caskade.Stats;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.ToDoubleFunction;

/**
 * The server's Prometheus metrics, served at {@code GET /metrics}: the store (revision, keys, bytes, watches),
 * requests per protocol, and the JVM. Store series are prefixed {@code caskade_}.
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

    void countHttpRequest() {
        httpRequests.increment();
    }

    /** Counts an open ({@code +1}) or closed ({@code -1}) WebSocket. */
    void countWebSocket(int delta) {
        webSockets.addAndGet(delta);
    }

    /** The Prometheus text exposition of every series. */
    String scrape() {
        return registry.scrape();
    }
}
