package dev.caskade;

/** A watch asked for history that merge has already compacted away. */
public class CompactedException extends CaskadeException {
    private static final long serialVersionUID = 1L;
    private final long requested;
    private final long oldest;

    /** History after {@code requested} was asked for; it is complete only after {@code oldest}. */
    public CompactedException(long requested, long oldest) {
        super("revision compacted: requested from=" + requested + " oldest available from=" + oldest);
        this.requested = requested;
        this.oldest = oldest;
    }

    /** The {@code fromRevision} that was asked for. */
    public long requested() {
        return requested;
    }

    /** The smallest {@code fromRevision} a watch may start from now. */
    public long oldest() {
        return oldest;
    }
}
