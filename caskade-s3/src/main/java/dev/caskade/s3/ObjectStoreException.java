package dev.caskade.s3;

import dev.caskade.CaskadeException;

/**
 * A call to a destination failed. The message names the destination, the operation, the object and the HTTP
 * status when there was one. {@link #retryable()} says whether trying again later may succeed: server errors,
 * throttling, timeouts and refused or reset connections are; a missing bucket, a refused signature or a bad request
 * are not.
 */
public class ObjectStoreException extends CaskadeException {
    private static final long serialVersionUID = 1L;

    private final String url;
    private final String operation;
    private final String object;
    private final int status;
    private final boolean retryable;

    /**
     * @param url the destination ({@link ObjectStore#url()})
     * @param operation what was being done ("put", "get", "list", ...)
     * @param object the object name, or null for calls about no single object
     * @param status the HTTP status, or 0 when there was no answer (or no HTTP)
     * @param retryable whether trying again may succeed
     * @param detail what went wrong
     * @param cause the underlying error, or null
     */
    public ObjectStoreException(
            String url,
            String operation,
            String object,
            int status,
            boolean retryable,
            String detail,
            Throwable cause) {
        super(message(url, operation, object, status, detail), cause);
        this.url = url;
        this.operation = operation;
        this.object = object;
        this.status = status;
        this.retryable = retryable;
    }

    private static String message(String url, String operation, String object, int status, String detail) {
        var b = new StringBuilder(operation);
        if (object != null) {
            b.append(" '").append(object).append('\'');
        }
        b.append(" at ").append(url).append(" failed");
        if (status > 0) {
            b.append(" (HTTP ").append(status).append(')');
        }
        return b.append(": ").append(detail).toString();
    }

    /** Whether trying again later may succeed (the destination is down or overloaded, not misconfigured). */
    public boolean retryable() {
        return retryable;
    }

    /** The destination's URL. */
    public String url() {
        return url;
    }

    /** The operation that failed ("put", "get", "list", "delete", ...). */
    public String operation() {
        return operation;
    }

    /** The object's name, or null. */
    public String object() {
        return object;
    }

    /** The HTTP status, or 0 when there was none. */
    public int status() {
        return status;
    }
}
