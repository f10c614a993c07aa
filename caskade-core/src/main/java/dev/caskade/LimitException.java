package dev.caskade;

/** A key or value is larger than the configured limit, or a key is empty. Nothing was written. */
public class LimitException extends CaskadeException {
    private static final long serialVersionUID = 1L;

    /** A limit was broken; the message names it. */
    public LimitException(String message) {
        super(message);
    }
}
