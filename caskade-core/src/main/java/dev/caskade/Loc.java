package dev.caskade;

/**
 * Where one version of a key lives in the log. The key directory maps each key to its newest version.
 *
 * <p>Memory is the key directory's whole cost, so the common case (a put without TTL that no snapshot
 * needs an older version of) is this 32-byte object; a version with a TTL, a tombstone kept for a
 * snapshot, or one with older versions chained behind it is a {@link Full}.
 */
class Loc {
    final Segment segment;
    final int offset;
    final int size;
    final long revision;

    Loc(Segment segment, int offset, int size, long revision) {
        this.segment = segment;
        this.offset = offset;
        this.size = size;
        this.revision = revision;
    }

    static Loc of(Segment segment, int offset, int size, long revision, long expiresAt, byte type) {
        return expiresAt == 0 && type == EntryCodec.PUT
                ? new Loc(segment, offset, size, revision)
                : new Full(segment, offset, size, revision, expiresAt, type, null);
    }

    /** Epoch ms at which the version expires; 0 = never. */
    long expiresAt() {
        return 0;
    }

    /** PUT, or DELETE/EXPIRE for a tombstone kept for a snapshot. */
    byte type() {
        return EntryCodec.PUT;
    }

    /** The next older version, kept only while a snapshot may need it. */
    Loc prev() {
        return null;
    }

    boolean isPut() {
        return type() == EntryCodec.PUT;
    }

    boolean expiredAt(long now) {
        long e = expiresAt();
        return e != 0 && now >= e;
    }

    /** The same version with {@code older} chained behind it. */
    Loc withPrev(Loc older) {
        return new Full(segment, offset, size, revision, expiresAt(), type(), older);
    }

    /** The same version, moved to another place by merge. */
    Loc movedTo(Segment s, int newOffset) {
        Loc p = prev();
        return p == null && expiresAt() == 0 && isPut()
                ? new Loc(s, newOffset, size, revision)
                : new Full(s, newOffset, size, revision, expiresAt(), type(), p);
    }

    /** A version with a TTL, a tombstone, or older versions behind it. */
    static final class Full extends Loc {
        private final long expiresAt;
        private final byte type;
        private volatile Loc prev;

        Full(Segment segment, int offset, int size, long revision, long expiresAt, byte type, Loc prev) {
            super(segment, offset, size, revision);
            this.expiresAt = expiresAt;
            this.type = type;
            this.prev = prev;
        }

        @Override
        long expiresAt() {
            return expiresAt;
        }

        @Override
        byte type() {
            return type;
        }

        @Override
        Loc prev() {
            return prev;
        }

        /** Cuts the chain here: no open snapshot needs anything older. */
        void dropPrev() {
            prev = null;
        }
    }
}
