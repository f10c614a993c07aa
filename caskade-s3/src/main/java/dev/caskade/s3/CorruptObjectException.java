package dev.caskade.s3;

import dev.caskade.CaskadeException;

/** An object at a destination failed a check: a checksum, a length, a name that does not match its content. */
public final class CorruptObjectException extends CaskadeException {
    private static final long serialVersionUID = 1L;
    private final String object;
    private final long offset;

    public CorruptObjectException(String what, String object, long offset) {
        this(what, object, offset, null);
    }

    public CorruptObjectException(String what, String object, long offset, Throwable cause) {
        super(what + ": object=" + object + " offset=" + offset, cause);
        this.object = object;
        this.offset = offset;
    }

    public String object() {
        return object;
    }

    public long offset() {
        return offset;
    }
}
