package dev.caskade.server;

/**
 * What a server serving a copy (not its own primary store) reports about where the copy comes from: a follower's
 * primary, or a cluster node's shared log. Shown in {@code /v1/status}, {@code INFO replication} and {@code
 * /metrics}; a primary has none.
 */
public sealed interface Role permits FollowStatus, ClusterStatus {
    /** {@code follower} or {@code node}, the role's name in {@code /v1/status}. */
    String role();

    /** The last revision applied to the copy. */
    long revision();

    /** Revisions the source has that the copy has not applied yet. */
    long lagRevisions();

    /** Whether the copy is following its source live right now. */
    boolean live();

    /** The circuit breaker around the source: CLOSED, OPEN or HALF_OPEN. */
    String breaker();

    /** The lines of {@code INFO replication}. */
    String info();

    /** The prefix of its /metrics series: {@code caskade_follow} or {@code caskade_cluster}. */
    String metricPrefix();
}
