package dev.caskade.client;

import java.time.Duration;
import java.util.Objects;

/**
 * How a {@link LocalReplica} reconnects and notices a dead stream. Start from {@link #defaults()} and change what you
 * need with the withers; every field is validated.
 *
 * <p>Between two attempts to open the stream the replica waits {@code backoffInitial}, doubled after each failure up
 * to {@code backoffMax}, with +-50 % jitter (reset once a stream delivers data). Opening the stream is guarded by a
 * circuit breaker: when at least {@code failureRatePercent} of the last {@code window} openings (and at least {@code
 * minimumCalls} of them) failed, it opens and no connection is attempted for {@code openWait}; then {@code
 * halfOpenProbes} openings are let through, and their outcome closes or reopens it. Each probe is one stream opening,
 * so with more than one probe the breaker stays half-open until the stream has been reopened that often.
 *
 * @param backoffInitial the wait after the first failure
 * @param backoffMax the longest wait between attempts while the breaker is closed
 * @param window the breaker judges the failure rate over the last this many openings
 * @param failureRatePercent the breaker opens when at least this share of the window failed (0 < x <= 100)
 * @param minimumCalls no judgement before this many openings were recorded (1 .. window)
 * @param openWait how long an open breaker makes no connection attempt
 * @param halfOpenProbes how many openings a half-open breaker lets through before it decides
 * @param idleTimeout a stream that brings nothing, not even the server's keep-alive comment (every 15 s), for this
 *     long is taken for dead: closed and opened again
 * @param revisionRefresh while live, at most this often the server's revision is asked for ({@code GET /v1/status}),
 *     so that {@link LocalReplica.Status#lagRevisions()} also sees commits the stream does not carry
 * @param readOnly writes to the replica's {@link LocalReplica#store() store} are refused ({@link
 *     dev.caskade.ReadOnlyException}) instead of forwarded to the server
 * @param writeTimeout how long a write forwarded to the server may take, including the wait until the replica has
 *     applied it (past it: {@link dev.caskade.UnavailableException})
 */
public record ReplicaOptions(
        Duration backoffInitial,
        Duration backoffMax,
        int window,
        float failureRatePercent,
        int minimumCalls,
        Duration openWait,
        int halfOpenProbes,
        Duration idleTimeout,
        Duration revisionRefresh,
        boolean readOnly,
        Duration writeTimeout) {

    public ReplicaOptions {
        positive(backoffInitial, "backoffInitial");
        positive(backoffMax, "backoffMax");
        if (backoffMax.compareTo(backoffInitial) < 0)
            throw new IllegalArgumentException(
                    "backoffMax (" + backoffMax + ") is below backoffInitial (" + backoffInitial + ")");
        if (window < 1) throw new IllegalArgumentException("window must be >= 1: " + window);
        if (!(failureRatePercent > 0 && failureRatePercent <= 100))
            throw new IllegalArgumentException("failureRatePercent must be in (0, 100]: " + failureRatePercent);
        if (minimumCalls < 1 || minimumCalls > window)
            throw new IllegalArgumentException("minimumCalls must be in [1, window=" + window + "]: " + minimumCalls);
        positive(openWait, "openWait");
        if (halfOpenProbes < 1) throw new IllegalArgumentException("halfOpenProbes must be >= 1: " + halfOpenProbes);
        positive(idleTimeout, "idleTimeout");
        positive(revisionRefresh, "revisionRefresh");
        positive(writeTimeout, "writeTimeout");
    }

    /**
     * Backoff 100 ms to 5 s; breaker over the last 10 openings, opening at 50 % failed (at least 5), open 10 s, 1
     * probe; idle timeout 45 s (three missed keep-alives); the server's revision refreshed at most every 5 s; writes
     * forwarded, within 10 s.
     */
    public static ReplicaOptions defaults() {
        return new ReplicaOptions(
                Duration.ofMillis(100),
                Duration.ofSeconds(5),
                10,
                50f,
                5,
                Duration.ofSeconds(10),
                1,
                Duration.ofSeconds(45),
                Duration.ofSeconds(5),
                false,
                Duration.ofSeconds(10));
    }

    public ReplicaOptions withBackoff(Duration initial, Duration max) {
        return new ReplicaOptions(
                initial,
                max,
                window,
                failureRatePercent,
                minimumCalls,
                openWait,
                halfOpenProbes,
                idleTimeout,
                revisionRefresh,
                readOnly,
                writeTimeout);
    }

    public ReplicaOptions withBreaker(
            int window, float failureRatePercent, int minimumCalls, Duration openWait, int halfOpenProbes) {
        return new ReplicaOptions(
                backoffInitial,
                backoffMax,
                window,
                failureRatePercent,
                minimumCalls,
                openWait,
                halfOpenProbes,
                idleTimeout,
                revisionRefresh,
                readOnly,
                writeTimeout);
    }

    public ReplicaOptions withIdleTimeout(Duration value) {
        return new ReplicaOptions(
                backoffInitial,
                backoffMax,
                window,
                failureRatePercent,
                minimumCalls,
                openWait,
                halfOpenProbes,
                value,
                revisionRefresh,
                readOnly,
                writeTimeout);
    }

    public ReplicaOptions withRevisionRefresh(Duration value) {
        return new ReplicaOptions(
                backoffInitial,
                backoffMax,
                window,
                failureRatePercent,
                minimumCalls,
                openWait,
                halfOpenProbes,
                idleTimeout,
                value,
                readOnly,
                writeTimeout);
    }

    /** A copy whose store refuses writes ({@code true}) or forwards them to the server ({@code false}). */
    public ReplicaOptions withReadOnly(boolean value) {
        return new ReplicaOptions(
                backoffInitial,
                backoffMax,
                window,
                failureRatePercent,
                minimumCalls,
                openWait,
                halfOpenProbes,
                idleTimeout,
                revisionRefresh,
                value,
                writeTimeout);
    }

    public ReplicaOptions withWriteTimeout(Duration value) {
        return new ReplicaOptions(
                backoffInitial,
                backoffMax,
                window,
                failureRatePercent,
                minimumCalls,
                openWait,
                halfOpenProbes,
                idleTimeout,
                revisionRefresh,
                readOnly,
                value);
    }

    private static void positive(Duration d, String name) {
        Objects.requireNonNull(d, name);
        if (d.isNegative() || d.isZero()) throw new IllegalArgumentException(name + " must be positive: " + d);
    }
}
