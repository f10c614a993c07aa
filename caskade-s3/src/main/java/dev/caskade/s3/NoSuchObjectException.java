package dev.caskade.s3;

/** The object does not exist (where an operation needs it to). Not retryable. */
public class NoSuchObjectException extends ObjectStoreException {
    private static final long serialVersionUID = 1L;

    /** The object {@code object} is absent from {@code url}. */
    public NoSuchObjectException(String url, String operation, String object, Throwable cause) {
        super(url, operation, object, 404, false, "no such object", cause);
    }
}
