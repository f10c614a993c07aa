package dev.caskade.server;

import static java.nio.charset.StandardCharsets.UTF_8;

import java.util.Arrays;
import java.util.Objects;

/**
 * One access rule of a {@link User}: {@code access} to every key that starts with {@code prefix} (the empty
 * prefix covers every key). Of a user's rules, the one with the longest matching prefix decides.
 *
 * @param prefix the key prefix, as bytes (keys are bytes)
 * @param access what the rule allows
 */
public record Rule(byte[] prefix, Access access) {

    /** Copies the prefix: a rule never changes. */
    public Rule {
        Objects.requireNonNull(prefix, "prefix");
        Objects.requireNonNull(access, "access");
        prefix = prefix.clone();
    }

    /** A rule over a UTF-8 prefix. */
    public static Rule of(String prefix, Access access) {
        return new Rule(prefix.getBytes(UTF_8), access);
    }

    @Override
    public byte[] prefix() {
        return prefix.clone();
    }

    int length() {
        return prefix.length;
    }

    /** True if {@code key} starts with this rule's prefix. */
    boolean covers(byte[] key) {
        return key.length >= prefix.length && Arrays.equals(key, 0, prefix.length, prefix, 0, prefix.length);
    }

    /** True if this rule's prefix is longer than {@code p} and starts with it: it governs part of p's keys. */
    boolean narrower(byte[] p) {
        return prefix.length > p.length && Arrays.equals(prefix, 0, p.length, p, 0, p.length);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Rule r && Arrays.equals(prefix, r.prefix) && access == r.access;
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(prefix) * 31 + access.hashCode();
    }

    @Override
    public String toString() {
        return "'" + new String(prefix, UTF_8) + "'=" + access;
    }
}
