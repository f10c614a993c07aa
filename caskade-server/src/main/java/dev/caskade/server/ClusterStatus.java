package dev.caskade.server;

/**
 * What a cluster node ({@code caskade serve --cluster}) reports, in {@code /v1/status} and {@code INFO replication}.
 *
 * @param cluster the cluster's name
 * @param nodeId this node's id
 * @param redis the Redis URL holding the cluster's stream (without password)
 * @param state {@code joining}, {@code live}, {@code reconnecting}, {@code bootstrapping}
 * @param revision the last revision applied here: the node's position in the stream
 * @param streamHead the cluster's last revision as last seen in Redis
 * @param lagRevisions {@code streamHead - revision}
 * @param breaker the circuit breaker around Redis
 * @param whenBusDown what writes do while Redis is unreachable: {@code REJECT} or {@code QUEUE}
 * @param queuedWrites writes waiting in the durable queue for Redis
 * @param bootstraps how many times a peer's snapshot replaced the store
 * @param lastError the last failure, or null
 * @param shards how many streams the cluster's keys are spread over; with more than one, {@code revision} is this
 *     node's own numbering and {@code positions} say where it stands in each stream
 * @param positions per shard, the last stream revision applied here
 */
public record ClusterStatus(
        String cluster,
        String nodeId,
        String redis,
        String state,
        long revision,
        long streamHead,
        long lagRevisions,
        String breaker,
        String whenBusDown,
        long queuedWrites,
        long bootstraps,
        String lastError,
        int shards,
        java.util.List<Long> positions)
        implements Role {

    @Override
    public String role() {
        return "node";
    }

    @Override
    public boolean live() {
        return "live".equals(state);
    }

    @Override
    public String metricPrefix() {
        return "caskade.cluster";
    }

    /** Every node takes writes, so Redis tools see a master; the cluster's fields follow. */
    @Override
    public String info() {
        return "role:master\r\nconnected_slaves:0\r\ncaskade_cluster:" + cluster + "\r\ncaskade_node_id:" + nodeId
                + "\r\ncaskade_cluster_redis:" + redis + "\r\ncaskade_cluster_state:" + state
                + "\r\ncaskade_stream_head:" + streamHead + "\r\ncaskade_lag_revisions:" + lagRevisions
                + "\r\ncaskade_breaker:" + breaker + "\r\ncaskade_when_bus_down:" + whenBusDown
                + "\r\ncaskade_queued_writes:" + queuedWrites + "\r\ncaskade_bootstraps:" + bootstraps
                + "\r\ncaskade_cluster_shards:" + shards + "\r\ncaskade_cluster_positions:"
                + String.join(",", positions.stream().map(String::valueOf).toList()) + "\r\n";
    }
}
