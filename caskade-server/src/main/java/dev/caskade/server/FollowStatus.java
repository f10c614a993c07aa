package dev.caskade.server;

import java.time.Instant;

/**
 * What a follower server ({@code caskade serve --follow}) reports about its primary, in {@code /v1/status} and
 * {@code INFO replication}.
 *
 * @param primary the URL it follows
 * @param prefix the keys it copies ("" for all)
 * @param readOnly whether it refuses writes instead of forwarding them
 * @param state the copy's state: {@code connecting}, {@code bootstrapping}, {@code live}, {@code reconnecting}
 * @param revision the last revision applied here
 * @param primaryRevision the newest revision known at the primary
 * @param lagRevisions {@code primaryRevision - revision}
 * @param breaker the circuit breaker around the change stream: {@code CLOSED}, {@code OPEN} or {@code HALF_OPEN}
 * @param writeBreaker the circuit breaker around forwarded writes
 * @param lastError why the last stream or attempt failed, or null
 * @param lastAppliedAt when a commit or snapshot was last applied here, or null
 */
public record FollowStatus(
        String primary,
        String prefix,
        boolean readOnly,
        String state,
        long revision,
        long primaryRevision,
        long lagRevisions,
        String breaker,
        String writeBreaker,
        String lastError,
        Instant lastAppliedAt)
        implements Role {

    @Override
    public String role() {
        return "follower";
    }

    @Override
    public boolean live() {
        return "live".equals(state);
    }

    @Override
    public String metricPrefix() {
        return "caskade.follow";
    }

    /** The lines of {@code INFO replication}, Redis's names first (so that Redis tools understand them). */
    @Override
    public String info() {
        String host = primary;
        String port = "";
        try {
            java.net.URI u = java.net.URI.create(primary);
            host = u.getHost();
            port = u.getPort() < 0 ? "" : Integer.toString(u.getPort());
        } catch (IllegalArgumentException e) {
            // keep the URL as it is
        }
        long ago = lastAppliedAt == null ? -1 : (System.currentTimeMillis() - lastAppliedAt.toEpochMilli()) / 1000;
        return "role:slave\r\nmaster_host:" + host + "\r\nmaster_port:" + port + "\r\nmaster_link_status:"
                + ("live".equals(state) ? "up" : "down") + "\r\nmaster_last_io_seconds_ago:" + ago
                + "\r\nmaster_sync_in_progress:" + ("bootstrapping".equals(state) ? 1 : 0)
                + "\r\nslave_repl_offset:" + revision + "\r\nslave_read_only:" + (readOnly ? 1 : 0)
                + "\r\nconnected_slaves:0\r\nmaster_repl_offset:" + primaryRevision
                + "\r\ncaskade_primary:" + primary + "\r\ncaskade_prefix:" + prefix
                + "\r\ncaskade_follow_state:" + state + "\r\ncaskade_lag_revisions:" + lagRevisions
                + "\r\ncaskade_breaker:" + breaker + "\r\ncaskade_write_breaker:" + writeBreaker + "\r\n";
    }
}
