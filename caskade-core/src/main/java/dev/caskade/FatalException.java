package dev.caskade;

/**
 * The store hit an error it cannot recover from while running (a failed fsync or write) and refuses
 * further writes. Reads of acknowledged data still work; close and reopen to recover from the log.
 */
public class FatalException extends CaskadeException {
    private static final long serialVersionUID = 1L;

    /** A fatal failure and its cause. */
    public FatalException(String message, Throwable cause) {
        super(message, cause);
    }
}
