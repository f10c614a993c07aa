package dev.caskade.cluster;

import java.nio.file.Path;
import java.util.Objects;

/**
 * Where a node the stream has left behind (away longer than the retention, or new to a cluster whose stream no longer
 * starts at 1) gets the cluster's state when no peer can give it a snapshot: typically a backup that some node of the
 * cluster ships ({@code serve --replicate-to}). Revisions are the cluster's, the same on every node, so a store of any
 * node at revision {@code R} is a valid start when {@code R >= first - 1}, where {@code first} is the stream's oldest
 * entry. Set with {@link ClusterOptions#withBootstrap}; the command line's is {@code serve --bootstrap-from URL}.
 */
@FunctionalInterface
public interface Bootstrap {

    /**
     * Writes a complete store into {@code dir} and returns its revision. The node loads it beside its store, checks
     * the revision and swaps it in as it does a peer's snapshot; after a failure it deletes {@code dir}.
     *
     * @param dir an absent directory (its parent exists)
     * @param atLeast the revision the node needs at least; a source that can tell early that it is older may return
     *     its revision at once without writing anything (the node refuses it, naming both revisions)
     * @return the revision of the store written
     * @throws Exception anything: the node reports it with the peers' failures and tries again
     */
    long load(Path dir, long atLeast) throws Exception;

    /** Names the source in messages and the node's status, without credentials (e.g. the backup's URL). */
    default String description() {
        return "an unnamed bootstrap source";
    }

    /** {@code load}, named {@code description} in messages. */
    static Bootstrap named(String description, Bootstrap load) {
        Objects.requireNonNull(description, "description");
        Objects.requireNonNull(load, "load");
        return new Bootstrap() {
            @Override
            public long load(Path dir, long atLeast) throws Exception {
                return load.load(dir, atLeast);
            }

            @Override
            public String description() {
                return description;
            }

            @Override
            public String toString() {
                return description;
            }
        };
    }
}
