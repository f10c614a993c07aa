package dev.caskade;

/** What a commit did to one key. */
public enum ChangeType {
    /** The key was written. */
    PUT,
    /** The key was deleted by a caller. */
    DELETE,
    /** The key's time-to-live ran out and the reaper deleted it. */
    EXPIRE
}
