package dev.caskade;

/** The root of Caskade's exceptions. All are unchecked; the message says where and what. */
public class CaskadeException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** An error with a message only. */
    public CaskadeException(String message) {
        super(message);
    }

    /** An error caused by another. */
    public CaskadeException(String message, Throwable cause) {
        super(message, cause);
    }
}
