package dev.caskade.client;

/**
 * A write of a {@link LocalReplica} that the server did not apply: a compare-and-set that lost its race (the key was
 * not at the expected revision when it arrived), or a write the server refused for good (too large, forbidden).
 * Reported to {@link LocalReplica#onConflict}, never dropped silently.
 *
 * @param write the write
 * @param expectedRevision the revision the write expected the key at (0: absent; 0 too for an unconditional write)
 * @param actualRevision the key's revision on the server when this was reported (0: absent), -1 if not known
 * @param reason why, in words
 */
public record Conflict(OfflineWrite write, long expectedRevision, long actualRevision, String reason) {}
