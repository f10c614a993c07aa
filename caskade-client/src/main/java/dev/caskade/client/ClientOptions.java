package dev.caskade.client;

import java.time.Duration;
import java.util.Objects;
import javax.net.ssl.SSLContext;

/**
 * How a {@link CaskadeClient} connects. Start from {@link #defaults()} and change what you need with the withers;
 * every field is validated.
 *
 * @param token sent as {@code Authorization: Bearer <token>}, or null
 * @param user with {@code password}, sent as Basic credentials, or null; not together with a token
 * @param password the user's password (null without a user)
 * @param sslContext the TLS context for {@code https://} servers; null = the JDK's default (its trust store)
 * @param connectTimeout how long a TCP (and TLS) connect may take
 * @param requestTimeout how long a request may wait for its answer (for a watch: for the stream's head)
 * @param pageSize keys per request while {@link CaskadeClient#scan scanning} (the server allows 1 to 10,000)
 * @param offlineWrites a {@link LocalReplica}'s writes go to a durable outbox in its directory first and are sent
 *     from there, in order, each exactly once, also across restarts and while the server is unreachable
 * @param localEcho with {@code offlineWrites}: a replica's reads show its queued writes at once, until the server's
 *     commit of each is applied locally
 */
public record ClientOptions(
        String token,
        String user,
        String password,
        SSLContext sslContext,
        Duration connectTimeout,
        Duration requestTimeout,
        int pageSize,
        boolean offlineWrites,
        boolean localEcho) {

    public ClientOptions {
        Objects.requireNonNull(connectTimeout, "connectTimeout");
        Objects.requireNonNull(requestTimeout, "requestTimeout");
        if (token != null && user != null) throw new IllegalArgumentException("give a token or a user, not both");
        if (token != null && (token.isBlank() || !printable(token)))
            throw new IllegalArgumentException("the token must be printable ASCII without spaces");
        if (user != null) {
            if (password == null) throw new IllegalArgumentException("a user needs a password");
            if (user.isEmpty() || user.indexOf(':') >= 0)
                throw new IllegalArgumentException("the user name must be non-empty and hold no ':'");
        } else if (password != null) {
            throw new IllegalArgumentException("a password needs a user");
        }
        positive(connectTimeout, "connectTimeout");
        positive(requestTimeout, "requestTimeout");
        if (pageSize < 1 || pageSize > 10_000)
            throw new IllegalArgumentException("pageSize must be in [1, 10000]: " + pageSize);
        if (localEcho && !offlineWrites) throw new IllegalArgumentException("localEcho needs offlineWrites");
    }

    /**
     * No credentials, the default TLS context, 10 s to connect, 60 s per request, 1,000 keys per page, no offline
     * writes.
     */
    public static ClientOptions defaults() {
        return new ClientOptions(
                null, null, null, null, Duration.ofSeconds(10), Duration.ofSeconds(60), 1000, false, false);
    }

    /** A copy that authenticates with this bearer token (and no user). */
    public ClientOptions withToken(String value) {
        return new ClientOptions(
                value, null, null, sslContext, connectTimeout, requestTimeout, pageSize, offlineWrites, localEcho);
    }

    /** A copy that authenticates with this user and password (Basic, and no token). */
    public ClientOptions withUser(String name, String secret) {
        return new ClientOptions(
                null, name, secret, sslContext, connectTimeout, requestTimeout, pageSize, offlineWrites, localEcho);
    }

    /** A copy with this TLS context (null: the JDK's default). */
    public ClientOptions withSslContext(SSLContext value) {
        return new ClientOptions(
                token, user, password, value, connectTimeout, requestTimeout, pageSize, offlineWrites, localEcho);
    }

    /** A copy with another connect timeout. */
    public ClientOptions withConnectTimeout(Duration value) {
        return new ClientOptions(
                token, user, password, sslContext, value, requestTimeout, pageSize, offlineWrites, localEcho);
    }

    /** A copy with another request timeout. */
    public ClientOptions withRequestTimeout(Duration value) {
        return new ClientOptions(
                token, user, password, sslContext, connectTimeout, value, pageSize, offlineWrites, localEcho);
    }

    /** A copy that scans this many keys per request. */
    public ClientOptions withPageSize(int value) {
        return new ClientOptions(
                token, user, password, sslContext, connectTimeout, requestTimeout, value, offlineWrites, localEcho);
    }

    /** A copy whose replicas queue their writes in a durable outbox (off: they send directly; localEcho goes too). */
    public ClientOptions withOfflineWrites(boolean value) {
        return new ClientOptions(
                token, user, password, sslContext, connectTimeout, requestTimeout, pageSize, value, value && localEcho);
    }

    /** A copy whose replicas show their queued writes at once (needs {@link #withOfflineWrites offline writes}). */
    public ClientOptions withLocalEcho(boolean value) {
        return new ClientOptions(
                token, user, password, sslContext, connectTimeout, requestTimeout, pageSize, offlineWrites, value);
    }

    /** Never shows the token or the password: options end up in logs. */
    @Override
    public String toString() {
        return "ClientOptions[auth=" + (token != null ? "token" : user != null ? "user " + user : "none")
                + ", tls=" + (sslContext == null ? "default" : sslContext.getProtocol())
                + ", connectTimeout=" + connectTimeout + ", requestTimeout=" + requestTimeout
                + ", pageSize=" + pageSize + ", offlineWrites=" + offlineWrites + ", localEcho=" + localEcho + "]";
    }

    private static boolean printable(String s) {
        return s.chars().allMatch(c -> c > ' ' && c < 0x7f);
    }

    private static void positive(Duration d, String name) {
        if (d.isNegative() || d.isZero()) throw new IllegalArgumentException(name + " must be positive: " + d);
    }
}
