package dev.caskade.server;

import dev.caskade.Caskade;
import dev.caskade.s3.Destination;
import dev.caskade.s3.GuardedStore;
import dev.caskade.s3.Restore;
import dev.caskade.s3.RestoreOptions;
import dev.caskade.s3.ShipStatus;
import dev.caskade.s3.Shipper;
import dev.caskade.s3.Validation;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The server's shippers, one per destination ({@code serve --replicate-to}), and what the server reports about
 * them: {@code /v1/status}, {@code INFO replication}, {@code /metrics} and the readiness check. The status is
 * refreshed in the background every {@value #REFRESH_MS} ms, so that none of those waits for a shipper that is in
 * the middle of reading the log (INFO runs on an event loop). With a validation interval, each destination is
 * restored into {@code DIR/replication/validate} now and then and compared with the live store.
 */
final class Replication implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Replication.class);
    static final long REFRESH_MS = 250;

    private final Caskade db;
    private final ReplicationOptions options;
    private final List<Replica> replicas;
    private final ScheduledExecutorService refresher;
    private final ScheduledExecutorService validator;

    /** One destination: its guarded store, its shipper and the last status taken of them. */
    static final class Replica {
        final String url;
        final GuardedStore store;
        final Shipper shipper;
        final AtomicLong validationsOk = new AtomicLong();
        final AtomicLong validationsMismatch = new AtomicLong();
        final AtomicLong validationsError = new AtomicLong();
        volatile long validatedRevision = -1;
        volatile String lastValidation;
        volatile Instant lastValidationAt;
        volatile ShipStatus status;
        volatile GuardedStore.Metrics metrics;

        Replica(GuardedStore store, Shipper shipper) {
            this.url = store.url();
            this.store = store;
            this.shipper = shipper;
            this.status = shipper.status();
            this.metrics = store.metrics();
        }

        void refresh() {
            metrics = store.metrics();
            try {
                status = shipper.status();
            } catch (RuntimeException e) {
                // closed (it cannot read the log any more): keep what was last seen
            }
        }

        /** The breaker's state as a number for /metrics: 0 closed, 1 open, 2 half-open. */
        int breakerCode() {
            return switch (metrics.state()) {
                case CLOSED -> 0;
                case OPEN -> 1;
                case HALF_OPEN -> 2;
            };
        }
    }

    /**
     * What {@code /v1/status} says about one destination.
     *
     * @param requests attempts by request type (put, get, list, delete, head)
     * @param outcomes attempts by outcome (ok, not_found, conflict, transient_error, permanent_error, rejected)
     */
    record ReplicaStatus(
            String url,
            String state,
            String breaker,
            String generation,
            long shippedRevision,
            long revision,
            long lagRevisions,
            double lagSeconds,
            String lastError,
            String lastShipped,
            long uploadedBytes,
            long downloadedBytes,
            long logObjects,
            long snapshots,
            long generations,
            long fallbacks,
            long failures,
            long retries,
            float failureRate,
            Map<String, Long> requests,
            Map<String, Long> outcomes,
            Validations validation) {}

    /** The validations of one destination ({@code serve --validation-interval}); null in the status when off. */
    record Validations(long ok, long mismatch, long error, long validatedRevision, String last, String lastAt) {}

    private Replication(
            Caskade db,
            ReplicationOptions options,
            List<Replica> replicas,
            ScheduledExecutorService refresher,
            ScheduledExecutorService validator) {
        this.db = db;
        this.options = options;
        this.replicas = replicas;
        this.refresher = refresher;
        this.validator = validator;
    }

    /** Opens every destination (sends nothing yet); a bad URL throws before anything else is done. */
    static List<GuardedStore> open(ReplicationOptions options) {
        List<GuardedStore> stores = new ArrayList<>();
        try {
            for (String url : options.destinations())
                stores.add(Destination.open(url, options.s3(), options.breaker()));
            return stores;
        } catch (RuntimeException e) {
            stores.forEach(GuardedStore::close);
            throw new IllegalArgumentException("replicate-to: " + e.getMessage(), e);
        }
    }

    /** Starts one shipper per store in the background; the stores are closed with this (not when this throws). */
    static Replication start(Caskade db, ReplicationOptions options, List<GuardedStore> stores) {
        List<Replica> replicas = new ArrayList<>();
        try {
            for (GuardedStore store : stores) {
                Shipper shipper = Shipper.live(db, store, options.ship());
                replicas.add(new Replica(store, shipper));
                shipper.start();
            }
        } catch (RuntimeException e) {
            for (Replica r : replicas) r.shipper.close();
            throw e; // the caller closes the stores
        }
        ScheduledExecutorService refresher = Executors.newSingleThreadScheduledExecutor(
                Thread.ofPlatform().daemon().name("caskade-replication-status").factory());
        ScheduledExecutorService validator = options.validationInterval() == null
                ? null
                : Executors.newSingleThreadScheduledExecutor(
                        Thread.ofPlatform().daemon().name("caskade-validate").factory());
        if (validator != null) removeScratch(scratch(db));
        Replication r = new Replication(db, options, List.copyOf(replicas), refresher, validator);
        refresher.scheduleWithFixedDelay(r::refresh, REFRESH_MS, REFRESH_MS, TimeUnit.MILLISECONDS);
        if (validator != null) {
            long every = options.validationInterval().toMillis();
            validator.scheduleWithFixedDelay(r::validateAll, every, every, TimeUnit.MILLISECONDS);
        }
        LOG.info(
                "shipping to {} (sync every {}, snapshot every {}, retention {}, breaker {})",
                String.join(", ", options.destinations()),
                human(options.ship().syncInterval()),
                human(options.ship().snapshotInterval()),
                human(options.ship().retention()),
                options.breaker());
        return r;
    }

    /**
     * Restores {@code url} into {@code dir} when {@code dir} is empty or absent ({@code --restore-if-empty}); a
     * destination without a backup leaves it empty. An unreachable destination fails: starting empty then would
     * hide the backup.
     */
    static void restoreIfEmpty(Path dir, ReplicationOptions options) {
        String url = options.restoreIfEmpty();
        if (url == null) return;
        GuardedStore store;
        try {
            store = Destination.open(url, options.s3(), options.breaker());
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("restore-if-empty: " + e.getMessage(), e);
        }
        try (store) {
            Restore.Result r = Restore.run(
                    store,
                    dir,
                    RestoreOptions.latest().withGuards(true, true),
                    Restore.Progress.logged("restoring from " + url, java.time.Duration.ofSeconds(5)));
            if (r.restored()) {
                LOG.info(
                        "restored {} into {}: revision {}, {} keys, digest {} ({} objects, {} bytes in {} ms)",
                        url,
                        dir,
                        r.digest().revision(),
                        r.digest().keys(),
                        r.digest().sha256(),
                        r.plan().objects(),
                        r.plan().bytes(),
                        r.took().toMillis());
            } else {
                LOG.info("restore-if-empty {}: {}; starting with the store as it is", url, r.message());
            }
        }
    }

    List<Replica> replicas() {
        return replicas;
    }

    ReplicationOptions options() {
        return options;
    }

    private void refresh() {
        for (Replica r : replicas) {
            try {
                r.refresh();
            } catch (RuntimeException e) {
                // a failed run would cancel the schedule; the next one tries again
                LOG.debug("refreshing the status of {} failed", r.url, e);
            }
        }
    }

    private void validateAll() {
        for (Replica r : replicas) {
            if (Thread.currentThread().isInterrupted()) return;
            validate(r);
        }
    }

    /** Where validations restore to: {@code DIR/replication/validate}. */
    private static Path scratch(Caskade db) {
        return db.directory().resolve("replication").resolve("validate");
    }

    /** A validation cut short by a crash leaves a whole restored store behind. */
    private static void removeScratch(Path dir) {
        if (!Files.isDirectory(dir)) return;
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        } catch (IOException | UncheckedIOException e) {
            LOG.warn("cannot remove the leftovers of a validation in {}: {}", dir, e.toString());
        }
    }

    private void validate(Replica r) {
        Path scratch = scratch(db);
        Duration timeout = options.ship().syncInterval().multipliedBy(10);
        if (timeout.compareTo(Duration.ofSeconds(30)) < 0) timeout = Duration.ofSeconds(30);
        try {
            if (r.shipper.status().generation() == null) return; // nothing shipped yet: nothing to restore
            Validation.Result v = Validation.run(db, r.shipper, scratch, timeout);
            r.lastValidationAt = Instant.now();
            if (v.ok()) {
                r.validationsOk.incrementAndGet();
                r.validatedRevision = v.revision();
                r.lastValidation = "ok";
                LOG.info(
                        "validation of {}: revision {} restores to the live digest ({} keys, {} ms)",
                        r.url,
                        v.revision(),
                        v.live().keys(),
                        v.took().toMillis());
            } else {
                r.validationsMismatch.incrementAndGet();
                r.lastValidation = "mismatch";
                LOG.error(
                        "validation of {} FAILED: revision {} restores to digest {} ({} keys), but the live store has"
                                + " {} ({} keys): the backup would not give back what the store holds",
                        r.url,
                        v.revision(),
                        v.restored().sha256(),
                        v.restored().keys(),
                        v.live().sha256(),
                        v.live().keys());
            }
        } catch (RuntimeException e) {
            if (validator.isShutdown()) return; // stopping: not a failed validation
            r.lastValidationAt = Instant.now();
            r.validationsError.incrementAndGet();
            r.lastValidation = "error: " + e.getMessage();
            LOG.warn("validation of {} could not run: {}", r.url, e.getMessage());
        }
    }

    /** Why the server is not ready because a destination lags more than max-replica-lag, or null. */
    String lagging() {
        Duration max = options.maxReplicaLag();
        if (max == null) return null;
        double limit = max.toMillis() / 1000.0;
        for (Replica r : replicas) {
            ShipStatus s = r.status;
            if (s.lagSeconds() > limit) {
                return String.format(
                        Locale.ROOT,
                        "destination %s is %.1f s (%d revisions) behind, more than max-replica-lag %s; state %s,"
                                + " breaker %s%s",
                        r.url,
                        s.lagSeconds(),
                        s.lagRevisions(),
                        seconds(max),
                        s.state(),
                        breaker(r),
                        s.lastError() == null ? "" : ", last error: " + s.lastError());
            }
        }
        return null;
    }

    private static String seconds(Duration d) {
        return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() + " ms";
    }

    /** The breaker's state in lower case: closed, open, half_open. */
    private static String breaker(Replica r) {
        return r.metrics.state().name().toLowerCase(Locale.ROOT);
    }

    /** One object per destination for {@code /v1/status}. */
    List<ReplicaStatus> statuses() {
        List<ReplicaStatus> out = new ArrayList<>();
        for (Replica r : replicas) {
            ShipStatus s = r.status;
            GuardedStore.Metrics m = r.metrics;
            Map<String, Long> requests = new LinkedHashMap<>();
            for (GuardedStore.Request t : GuardedStore.Request.values())
                requests.put(t.name().toLowerCase(Locale.ROOT), m.requests(t));
            Map<String, Long> outcomes = new LinkedHashMap<>();
            for (GuardedStore.Outcome o : GuardedStore.Outcome.values())
                outcomes.put(o.name().toLowerCase(Locale.ROOT), m.requests(o));
            Validations v = options.validationInterval() == null
                    ? null
                    : new Validations(
                            r.validationsOk.get(),
                            r.validationsMismatch.get(),
                            r.validationsError.get(),
                            r.validatedRevision,
                            r.lastValidation,
                            r.lastValidationAt == null ? null : r.lastValidationAt.toString());
            out.add(new ReplicaStatus(
                    r.url,
                    s.state(),
                    breaker(r),
                    s.generation(),
                    s.shippedRevision(),
                    s.revision(),
                    s.lagRevisions(),
                    s.lagSeconds(),
                    s.lastError(),
                    s.lastShipped() == null ? null : s.lastShipped().toString(),
                    s.uploadedBytes(),
                    m.bytesDownloaded(),
                    s.logObjects(),
                    s.snapshots(),
                    s.generations(),
                    s.fallbacks(),
                    s.failures(),
                    m.retries(),
                    m.failureRate(),
                    requests,
                    outcomes,
                    v));
        }
        return out;
    }

    /** The body of {@code INFO replication}: Redis's role lines, then one {@code destN:} line per destination. */
    String info() {
        StringBuilder sb = new StringBuilder("role:master\r\nconnected_slaves:0\r\n");
        long failing = replicas.stream()
                .filter(r -> !r.status.state().equals("shipping"))
                .count();
        sb.append("caskade_destinations:").append(replicas.size()).append("\r\n");
        sb.append("caskade_destinations_failing:").append(failing).append("\r\n");
        for (int i = 0; i < replicas.size(); i++) {
            Replica r = replicas.get(i);
            ShipStatus s = r.status;
            sb.append("dest")
                    .append(i)
                    .append(":url=")
                    .append(r.url)
                    .append(",state=")
                    .append(s.state())
                    .append(",breaker=")
                    .append(breaker(r))
                    .append(",generation=")
                    .append(s.generation() == null ? "" : s.generation())
                    .append(",shipped_revision=")
                    .append(s.shippedRevision())
                    .append(",lag_revisions=")
                    .append(s.lagRevisions())
                    .append(",lag_seconds=")
                    .append(String.format(Locale.ROOT, "%.3f", s.lagSeconds()))
                    .append(",uploaded_bytes=")
                    .append(s.uploadedBytes())
                    .append(",log_objects=")
                    .append(s.logObjects())
                    .append(",snapshots=")
                    .append(s.snapshots())
                    .append(",failures=")
                    .append(s.failures())
                    .append(",fallbacks=")
                    .append(s.fallbacks())
                    .append("\r\n");
        }
        return sb.toString();
    }

    /**
     * Stops validating, then closes each shipper (one last sync, the lease given up) and its store. Called after
     * the listeners stopped and before the store closes.
     */
    @Override
    public void close() {
        refresher.shutdownNow();
        if (validator != null) {
            validator.shutdownNow();
            try {
                if (!validator.awaitTermination(30, TimeUnit.SECONDS)) LOG.warn("a validation is still running");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        for (Replica r : replicas) {
            try {
                r.shipper.close();
                r.refresh(); // a closed shipper cannot read the log any more: then the last status stays
                ShipStatus s = r.status;
                LOG.info(
                        "stopped shipping to {}: shipped up to revision {} of {}{}",
                        r.url,
                        s.shippedRevision(),
                        s.revision(),
                        s.lastError() == null ? "" : " (last error: " + s.lastError() + ")");
            } catch (RuntimeException e) {
                LOG.warn("closing the shipper of {} failed: {}", r.url, e.toString());
            } finally {
                r.store.close();
            }
        }
    }

    /** 250ms, 1s, 90s, 24h: the way the flags are written. */
    static String human(java.time.Duration d) {
        long ms = d.toMillis();
        if (ms % 3_600_000 == 0) return ms / 3_600_000 + "h";
        if (ms % 60_000 == 0 && ms >= 60_000) return ms / 60_000 + "m";
        if (ms % 1000 == 0) return ms / 1000 + "s";
        return ms + "ms";
    }
}
