package dev.caskade;

import java.util.List;

/** What a {@link Watch} delivers to its listener: commits in revision order, then at most one end. */
public sealed interface WatchEvent {

    /**
     * One commit that touched the watched prefix.
     *
     * @param revision the commit's revision
     * @param timestamp epoch milliseconds at which the commit was made
     * @param changes the commit's changes under the watched prefix, in the order they were made
     */
    record Commit(long revision, long timestamp, List<Change> changes) implements WatchEvent {}

    /**
     * The watch is over; no event follows.
     *
     * @param resumeFrom pass this as {@code fromRevision} to a new watch to continue without a gap
     * @param reason why it ended
     */
    record End(long resumeFrom, Reason reason) implements WatchEvent {}

    /** Why a watch ended. */
    enum Reason {
        /** {@link Watch#close()} was called. */
        CLOSED,
        /** The listener fell behind and its bounded buffer filled up. */
        OVERFLOW,
        /** The store was closed. */
        STORE_CLOSED,
        /** The listener threw, or history could not be read. */
        FAILED
    }
}
