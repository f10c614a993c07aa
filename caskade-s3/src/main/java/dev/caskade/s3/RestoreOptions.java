package dev.caskade.s3;

import java.time.Instant;

/**
 * What {@link Restore} restores.
 *
 * @param revision restore exactly this revision (null: the latest, or by timestamp)
 * @param timestamp restore the last commit at or before this instant (null: the latest, or by revision)
 * @param generation restore from this generation (null: chosen by the target)
 * @param ifReplicaExists do nothing, successfully, when the destination holds no backup
 * @param ifDbNotExists do nothing, successfully, when the target directory already holds a store
 * @param parallelism how many objects are fetched and decoded at once
 * @param dryRun plan only: say what would be restored, write nothing
 */
public record RestoreOptions(
        Long revision,
        Instant timestamp,
        String generation,
        boolean ifReplicaExists,
        boolean ifDbNotExists,
        int parallelism,
        boolean dryRun) {

    public RestoreOptions {
        if (revision != null && timestamp != null) {
            throw new IllegalArgumentException("give a revision or a timestamp, not both");
        }
        if (revision != null && revision < 0) throw new IllegalArgumentException("revision must be >= 0: " + revision);
        if (parallelism < 1 || parallelism > 256) {
            throw new IllegalArgumentException("parallelism must be in [1, 256]: " + parallelism);
        }
        if (generation != null && !Layout.isGenerationId(generation)) {
            throw new IllegalArgumentException("not a generation id: " + generation);
        }
    }

    public static RestoreOptions latest() {
        return new RestoreOptions(
                null, null, null, false, false, Math.max(2, Runtime.getRuntime().availableProcessors()), false);
    }

    public RestoreOptions atRevision(long r) {
        return new RestoreOptions(r, null, generation, ifReplicaExists, ifDbNotExists, parallelism, dryRun);
    }

    public RestoreOptions atTime(Instant t) {
        return new RestoreOptions(null, t, generation, ifReplicaExists, ifDbNotExists, parallelism, dryRun);
    }

    public RestoreOptions fromGeneration(String g) {
        return new RestoreOptions(revision, timestamp, g, ifReplicaExists, ifDbNotExists, parallelism, dryRun);
    }

    public RestoreOptions withGuards(boolean ifReplica, boolean ifDb) {
        return new RestoreOptions(revision, timestamp, generation, ifReplica, ifDb, parallelism, dryRun);
    }

    public RestoreOptions withParallelism(int n) {
        return new RestoreOptions(revision, timestamp, generation, ifReplicaExists, ifDbNotExists, n, dryRun);
    }

    public RestoreOptions withDryRun(boolean d) {
        return new RestoreOptions(revision, timestamp, generation, ifReplicaExists, ifDbNotExists, parallelism, d);
    }
}
