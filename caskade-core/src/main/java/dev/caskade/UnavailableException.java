package dev.caskade;

/**
 * A follower could not complete a write at its primary: the primary cannot be reached (or its circuit breaker is
 * open), or the commit was made there but has not arrived here in time. The message says which; only the first
 * case means nothing was written.
 */
public class UnavailableException extends CaskadeException {
    private static final long serialVersionUID = 1L;

    public UnavailableException(String message) {
        super(message);
    }

    public UnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
