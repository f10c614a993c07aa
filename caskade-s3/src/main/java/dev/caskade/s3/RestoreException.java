package dev.caskade.s3;

import dev.caskade.CaskadeException;

/** A restore cannot be done as asked: nothing to restore, a target out of range, a non-empty directory. */
public final class RestoreException extends CaskadeException {
    private static final long serialVersionUID = 1L;

    public RestoreException(String message) {
        super(message);
    }
}
