package dev.caskade;

/**
 * Where one version of a key lives in the log. The key directory maps each key to its newest version;
 * older versions hang off {@link #prev} only while an open snapshot may still need them.
 */
final class Loc {
    final Segment segment;
    final int offset;
    final int size;
    final long revision;
    final long expiresAt;
    /** PUT, or DELETE/EXPIRE for a tombstone kept for a snapshot. */
    final byte type;

    volatile Loc prev;

    Loc(Segment segment, int offset, int size, long revision, long expiresAt, byte type) {
        this.segment = segment;
        this.offset = offset;
        this.size = size;
        this.revision = revision;
        this.expiresAt = expiresAt;
        this.type = type;
    }

    boolean isPut() {
        return type == EntryCodec.PUT;
    }

    boolean expiredAt(long now) {
        return expiresAt != 0 && now >= expiresAt;
    }

    /** The same version, moved to another place by merge. */
    Loc movedTo(Segment s, int newOffset) {
        Loc l = new Loc(s, newOffset, size, revision, expiresAt, type);
        l.prev = prev;
        return l;
    }
}
