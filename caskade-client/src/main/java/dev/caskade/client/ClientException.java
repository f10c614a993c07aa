package dev.caskade.client;

/**
 * A request the server refused or that could not reach it. {@link #status()} is the HTTP status (0 when no answer
 * came: the server was unreachable, the connection broke or the request timed out); {@link #error()} is the
 * server's own message from its {@code {"error", "code"}} body, or null.
 */
public class ClientException extends RuntimeException {
    private final int status;
    private final String error;

    public ClientException(int status, String error, String message, Throwable cause) {
        super(message, cause);
        this.status = status;
        this.error = error;
    }

    public ClientException(int status, String error, String message) {
        this(status, error, message, null);
    }

    /** The HTTP status, or 0 when there was no answer. */
    public int status() {
        return status;
    }

    /** The server's {@code error} message, or null. */
    public String error() {
        return error;
    }
}
