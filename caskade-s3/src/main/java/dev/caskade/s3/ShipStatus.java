package dev.caskade.s3;

import java.time.Instant;

/**
 * What a {@link Shipper} reports about one destination: for {@code /v1/status}, {@code INFO replication},
 * {@code /metrics} and the readiness check.
 *
 * @param destination the destination's URL (no credentials)
 * @param state {@code starting}, {@code shipping} (caught up or catching up), {@code failing} (the last attempt
 *     failed; the backlog is kept), {@code fenced} (another writer holds the lease) or {@code stopped}
 * @param breaker the circuit breaker's state: {@code CLOSED}, {@code OPEN}, {@code HALF_OPEN} (or {@code NONE})
 * @param generation the current generation id (null before the first upload)
 * @param shippedRevision the last revision the destination holds
 * @param revision the source store's revision when this status was taken
 * @param lagRevisions commits not yet at the destination
 * @param lagSeconds how old the destination's view is: seconds since the moment of which it holds every commit
 *     (0 when caught up)
 * @param logObjects log objects uploaded since start
 * @param uploadedBytes bytes uploaded since start (log and snapshots)
 * @param snapshots snapshots uploaded since start
 * @param generations generations started since start
 * @param fallbacks times the log the destination needed was gone (pin over budget) and a fresh snapshot was sent
 * @param failures ticks that failed since start
 * @param lastError the last failure's message, or null once a tick succeeds again
 * @param lastShipped when the destination last received commits, or null
 */
public record ShipStatus(
        String destination,
        String state,
        String breaker,
        String generation,
        long shippedRevision,
        long revision,
        long lagRevisions,
        double lagSeconds,
        long logObjects,
        long uploadedBytes,
        long snapshots,
        long generations,
        long fallbacks,
        long failures,
        String lastError,
        Instant lastShipped) {}
