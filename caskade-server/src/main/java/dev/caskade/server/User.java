package dev.caskade.server;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * A user of the server: how it proves who it is, and its rules. A key's access is that of the rule with the
 * longest prefix the key starts with; a key no rule covers is {@link Access#NONE}. The record's {@code
 * toString} never shows a credential.
 *
 * @param name the user name ({@code AUTH name password}, HTTP Basic); no spaces, no ':'
 * @param password its password hash, or null if it logs in with the token only
 * @param token its bearer token hash, or null if it has none
 * @param rules its access rules, any order; kept longest prefix first
 */
public record User(String name, Credential password, Credential token, List<Rule> rules) {

    /** The one user of a server without users: everything allowed, nothing to prove. */
    static final User OPEN = new User("default", null, null, List.of(Rule.of("", Access.ADMIN)));

    /** Validates the name and the rules; sorts the rules so that the first that covers a key decides. */
    public User {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(rules, "rules");
        if (name.isEmpty()) throw new IllegalArgumentException("user name must not be empty");
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (c <= ' ' || c == ':' || c == 0x7f)
                throw new IllegalArgumentException(
                        "user name must not contain spaces, control characters or ':': '" + name + "'");
        }
        if (password != null && !(password instanceof Credential.Pbkdf2))
            throw new IllegalArgumentException("password of user " + name + " must be a pbkdf2-sha256 hash");
        if (token != null && !(token instanceof Credential.Sha256))
            throw new IllegalArgumentException("token of user " + name + " must be a sha256 hash");
        Set<ByteBuffer> seen = new HashSet<>();
        for (Rule r : rules) {
            Objects.requireNonNull(r, "rule");
            if (!seen.add(ByteBuffer.wrap(r.prefix())))
                throw new IllegalArgumentException("user " + name + " has two rules for the prefix " + r);
        }
        List<Rule> sorted = new ArrayList<>(rules);
        sorted.sort(Comparator.comparingInt(Rule::length).reversed());
        rules = List.copyOf(sorted);
    }

    /** What this user may do with {@code key}. */
    public Access access(byte[] key) {
        for (Rule r : rules) {
            if (r.covers(key)) return r.access();
        }
        return Access.NONE;
    }

    /** True if this user may do {@code needed} with {@code key}: the check for every command on one key. */
    public boolean can(Access needed, byte[] key) {
        return access(key).includes(needed);
    }

    /**
     * True if this user may do {@code needed} with every key that starts with {@code prefix}, existing or not:
     * the check for a list, watch or digest over a prefix.
     */
    public boolean canAll(Access needed, byte[] prefix) {
        if (!can(needed, prefix)) return false;
        for (Rule r : rules) {
            if (r.narrower(prefix) && !r.access().includes(needed)) return false;
        }
        return true;
    }

    /** Admin over the whole key space: what the server-wide commands need. */
    public boolean admin() {
        return canAll(Access.ADMIN, new byte[0]);
    }
}
