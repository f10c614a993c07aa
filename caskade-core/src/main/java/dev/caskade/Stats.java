package dev.caskade;

/**
 * A point-in-time summary of a store.
 *
 * @param revision the last committed revision
 * @param keys live keys (expired but not yet reaped keys included)
 * @param segments segment files on disk (data and merged)
 * @param diskBytes bytes of all segment and hint files
 * @param liveBytes bytes of log entries that the key directory points to
 * @param deadBytes bytes of log entries that no key points to any more (overwritten, deleted, tombstones)
 * @param compactedRevision history after this revision is complete; a watch may start from here
 * @param keyDirBytes estimated heap used by the key directory
 * @param watches open watches
 * @param snapshots open snapshots
 * @param merges merges completed since open
 * @param durability the durability mode in force
 * @param fsyncs fsyncs that group commit ran since open; commits per fsync is how well writers share them
 * @param pinsDropped times since open that merge compacted past a file pin ({@link Pin}) because the bytes file
 *     pins held back exceeded {@link CaskadeOptions#pinBytes()}; that pin's owner must start over from a snapshot
 */
public record Stats(
        long revision,
        long keys,
        int segments,
        long diskBytes,
        long liveBytes,
        long deadBytes,
        long compactedRevision,
        long keyDirBytes,
        int watches,
        int snapshots,
        long merges,
        String durability,
        long fsyncs,
        long pinsDropped) {}
