package dev.caskade.server;

import static java.nio.charset.StandardCharsets.UTF_8;

import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Objects;
import javax.crypto.SecretKeyFactory;
import javax.crypto.spec.PBEKeySpec;

/**
 * How a secret is stored in the config file: never the secret itself, only what can check it. A password is
 * {@code pbkdf2-sha256:<iterations>:<salt hex>:<hash hex>} (slow on purpose: passwords are guessable); a bearer
 * token is {@code sha256:<hex>} (tokens are random, so a fast hash is enough). Checks compare in constant time.
 * {@link #toString()} never shows the hash.
 */
public sealed interface Credential {

    /** OWASP's 2023 advice for PBKDF2-HMAC-SHA256; about a quarter of a second on a small server. */
    int DEFAULT_ITERATIONS = 600_000;

    /** Fewer would make a stolen config file cheap to crack; more would let one login stall a core. */
    int MIN_ITERATIONS = 1_000;

    int MAX_ITERATIONS = 10_000_000;

    /** True if {@code secret} is the one this credential was made from. */
    boolean matches(String secret);

    /** The form written in the config file. */
    String encoded();

    /** Parses {@code pbkdf2-sha256:...} or {@code sha256:...}; the message says what is wrong, never the value. */
    static Credential parse(String encoded) {
        Objects.requireNonNull(encoded, "encoded");
        String[] f = encoded.split(":", -1);
        try {
            if (f[0].equals("pbkdf2-sha256") && f.length == 4) {
                return new Pbkdf2(
                        Integer.parseInt(f[1]),
                        HexFormat.of().parseHex(f[2]),
                        HexFormat.of().parseHex(f[3]));
            }
            if (f[0].equals("sha256") && f.length == 2)
                return new Sha256(HexFormat.of().parseHex(f[1]));
        } catch (IllegalArgumentException e) { // NumberFormatException is one
            throw new IllegalArgumentException("malformed " + f[0] + " hash: " + e.getMessage(), e);
        }
        throw new IllegalArgumentException("not a hash made by 'caskade passwd' or 'caskade token'"
                + " (pbkdf2-sha256:<iterations>:<salt>:<hash> or sha256:<hex>); secrets are never stored in clear");
    }

    /** A password hash with a fresh random salt. */
    static Pbkdf2 password(String password, int iterations) {
        if (password.isEmpty()) throw new IllegalArgumentException("the password is empty");
        byte[] salt = new byte[16];
        new SecureRandom().nextBytes(salt);
        return new Pbkdf2(iterations, salt, Pbkdf2.derive(password, salt, iterations));
    }

    /** The stored form of a bearer token. */
    static Sha256 token(String token) {
        return new Sha256(sha256(token));
    }

    /** A new random bearer token: 32 bytes from a strong source, URL-safe base64, prefixed so it is recognisable. */
    static String newToken() {
        byte[] b = new byte[32];
        new SecureRandom().nextBytes(b);
        return "cask_" + Base64.getUrlEncoder().withoutPadding().encodeToString(b);
    }

    /** PBKDF2WithHmacSHA256: for passwords. */
    record Pbkdf2(int iterations, byte[] salt, byte[] hash) implements Credential {
        /** Validates the parameters and copies the arrays. */
        public Pbkdf2 {
            if (iterations < MIN_ITERATIONS || iterations > MAX_ITERATIONS)
                throw new IllegalArgumentException(
                        "pbkdf2 iterations must be in " + MIN_ITERATIONS + ".." + MAX_ITERATIONS + ": " + iterations);
            if (salt.length < 8) throw new IllegalArgumentException("pbkdf2 salt must be at least 8 bytes");
            if (hash.length != 32) throw new IllegalArgumentException("pbkdf2-sha256 hash must be 32 bytes");
            salt = salt.clone();
            hash = hash.clone();
        }

        @Override
        public boolean matches(String secret) {
            return !secret.isEmpty() && MessageDigest.isEqual(derive(secret, salt, iterations), hash);
        }

        @Override
        public String encoded() {
            HexFormat hex = HexFormat.of();
            return "pbkdf2-sha256:" + iterations + ":" + hex.formatHex(salt) + ":" + hex.formatHex(hash);
        }

        static byte[] derive(String password, byte[] salt, int iterations) {
            char[] chars = password.toCharArray();
            PBEKeySpec spec = new PBEKeySpec(chars, salt, iterations, 256);
            try {
                return SecretKeyFactory.getInstance("PBKDF2WithHmacSHA256")
                        .generateSecret(spec)
                        .getEncoded();
            } catch (GeneralSecurityException e) {
                throw new IllegalStateException("the JDK lacks PBKDF2WithHmacSHA256", e);
            } finally {
                spec.clearPassword();
                Arrays.fill(chars, '\0');
            }
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Pbkdf2 p
                    && iterations == p.iterations
                    && Arrays.equals(salt, p.salt)
                    && Arrays.equals(hash, p.hash);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(hash);
        }

        @Override
        public String toString() {
            return "pbkdf2-sha256:<redacted>";
        }
    }

    /** SHA-256: for random tokens. */
    record Sha256(byte[] hash) implements Credential {
        /** Validates the length and copies the array. */
        public Sha256 {
            if (hash.length != 32) throw new IllegalArgumentException("sha256 hash must be 32 bytes (64 hex digits)");
            hash = hash.clone();
        }

        @Override
        public boolean matches(String secret) {
            return MessageDigest.isEqual(sha256(secret), hash);
        }

        @Override
        public String encoded() {
            return "sha256:" + HexFormat.of().formatHex(hash);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Sha256 s && Arrays.equals(hash, s.hash);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(hash);
        }

        @Override
        public String toString() {
            return "sha256:<redacted>";
        }
    }

    private static byte[] sha256(String s) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(s.getBytes(UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK lacks SHA-256", e);
        }
    }
}
