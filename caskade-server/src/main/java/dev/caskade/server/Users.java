package dev.caskade.server;

import static java.nio.charset.StandardCharsets.UTF_8;

import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The users of a server, and logging them in. None at all means an open server: every connection acts as an
 * unrestricted {@code default} user without proving anything.
 *
 * <p>A password check is a PBKDF2 run (a quarter of a second at the default cost), so the last password that
 * verified for each user is remembered, as an HMAC under a key that lives only in this process: a connection
 * pool opening connections, or HTTP Basic on every request, pays for PBKDF2 once. Wrong passwords are never
 * remembered, so guessing stays slow.
 */
public final class Users {
    /** No users: the server is open. */
    public static final Users NONE = new Users(List.of());

    private final Map<String, User> byName;
    private final Map<String, byte[]> verified = new ConcurrentHashMap<>();
    private final SecretKeySpec cacheKey;
    /** Checked when the user name is unknown, so that the answer takes as long as for a known one. */
    private final Credential decoy;

    private Users(List<User> users) {
        Map<String, User> m = new LinkedHashMap<>();
        int iterations = Credential.MIN_ITERATIONS;
        for (User u : users) {
            Objects.requireNonNull(u, "user");
            if (m.putIfAbsent(u.name(), u) != null)
                throw new IllegalArgumentException("two users are named " + u.name());
            if (u.password() instanceof Credential.Pbkdf2 p) iterations = Math.max(iterations, p.iterations());
        }
        this.byName = m;
        byte[] key = new byte[32];
        new SecureRandom().nextBytes(key);
        this.cacheKey = new SecretKeySpec(key, "HmacSHA256");
        byte[] salt = new byte[16];
        new SecureRandom().nextBytes(salt);
        this.decoy = new Credential.Pbkdf2(iterations, salt, new byte[32]);
    }

    /** These users; names must differ. */
    public static Users of(List<User> users) {
        return users.isEmpty() ? NONE : new Users(List.copyOf(users));
    }

    /** True if there are no users: nothing to authenticate, everything allowed. */
    public boolean isEmpty() {
        return byName.isEmpty();
    }

    /** The users, in the order given. */
    public List<User> list() {
        return List.copyOf(byName.values());
    }

    /** The user named {@code name}, if any. */
    public Optional<User> find(String name) {
        return Optional.ofNullable(byName.get(name));
    }

    /** The user a connection acts as before it logs in: {@link User#OPEN} when there are no users, else none. */
    User anonymous() {
        return isEmpty() ? User.OPEN : null;
    }

    /** The user {@code name} if {@code secret} is its password or its token. */
    public Optional<User> login(String name, String secret) {
        User u = byName.get(name);
        if (u == null) {
            decoy.matches(secret);
            return Optional.empty();
        }
        if (u.token() != null && u.token().matches(secret)) return Optional.of(u);
        if (u.password() == null) return Optional.empty();
        byte[] mac = mac(secret);
        byte[] known = verified.get(name);
        if (known != null && MessageDigest.isEqual(known, mac)) return Optional.of(u);
        if (!u.password().matches(secret)) return Optional.empty();
        verified.put(name, mac);
        return Optional.of(u);
    }

    /** The user whose bearer token this is. */
    public Optional<User> bearer(String token) {
        User found = null;
        for (User u : byName.values()) { // all of them: the time taken does not tell which matched
            if (u.token() != null && u.token().matches(token) && found == null) found = u;
        }
        return Optional.ofNullable(found);
    }

    private byte[] mac(String secret) {
        try {
            Mac m = Mac.getInstance("HmacSHA256");
            m.init(cacheKey);
            return m.doFinal(secret.getBytes(UTF_8));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("the JDK lacks HmacSHA256", e);
        }
    }

    @Override
    public String toString() {
        return "Users" + byName.values(); // User's toString shows no credential
    }
}
