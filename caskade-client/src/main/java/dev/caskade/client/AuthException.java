package dev.caskade.client;

/** 401 (no or wrong credentials) or 403 (authenticated, but a rule of the user denies the request). */
public final class AuthException extends ClientException {
    public AuthException(int status, String error, String message) {
        super(status, error, message);
    }
}
