package dev.caskade.server;

import java.io.Serial;

/** A request the API refuses, with the HTTP status to answer; the message goes to the client. */
final class HttpFailure extends RuntimeException {
    @Serial
    private static final long serialVersionUID = 1L;

    private final int status;

    HttpFailure(int status, String message) {
        super(message, null, false, false);
        this.status = status;
    }

    static HttpFailure badRequest(String message) {
        return new HttpFailure(400, message);
    }

    int status() {
        return status;
    }
}
