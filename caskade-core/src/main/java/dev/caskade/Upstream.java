package dev.caskade;

import java.util.List;

/**
 * Where a follower's writes go: its primary. A store opened with {@link CaskadeOptions#withUpstream} hands every
 * write ({@code put}, {@code delete}, {@code commit}, {@code compareAndSet}) to its upstream instead of writing its
 * own log, and takes the primary's commits only through {@link Caskade#apply}; so every write is decided once, at
 * the primary, and the follower's revisions stay the primary's.
 */
public interface Upstream {
    /**
     * Commits {@code changes} at the primary, atomically, if every precondition holds there, and returns once this
     * store has applied the commit, so that a read here right after the call sees it (read-your-writes).
     *
     * @param changes {@link ChangeType#PUT}s (with an absolute {@link Change#expiresAt()}, 0 = never) and {@link
     *     ChangeType#DELETE}s, in order
     * @param expects preconditions on per-key revisions (0 = absent), checked at the primary
     * @return the commit's revision; 0 when a precondition failed (nothing was written), or when {@code changes} is
     *     a single delete of a key the primary did not have
     * @throws ReadOnlyException when this follower takes no writes
     * @throws UnavailableException when the primary cannot be reached, or the commit did not arrive here in time
     */
    long commit(List<Change> changes, List<Batch.Expect> expects);

    /**
     * The store's reaper found these versions ({@link Batch.Expect key at revision}) past their time to live. An
     * upstream that decides expiries for every copy (a cluster) deletes each at most once, as an {@link
     * ChangeType#EXPIRE}, and only if it is still that version; applying that commit here retires the expiry, and
     * until then the reaper asks again on its next pass. The default does nothing: a primary reaps its own keys
     * and its EXPIRE changes arrive through {@link Caskade#apply}. Called without any lock held; failures are
     * retried on the next pass.
     */
    default void expire(List<Batch.Expect> versions) {}
}
