package dev.caskade;

import java.nio.charset.StandardCharsets;

/** A batch precondition failed: a key's revision was not the expected one. Nothing was written. */
public class ConflictException extends CaskadeException {
    private static final long serialVersionUID = 1L;
    private final transient byte[] key;
    private final long expected;
    private final long actual;

    /** {@code key} was expected at {@code expected} but is at {@code actual} (0 = absent). */
    public ConflictException(byte[] key, long expected, long actual) {
        super("conflict: key=" + new String(key, StandardCharsets.UTF_8) + " expected revision=" + expected + " actual="
                + actual);
        this.key = key.clone();
        this.expected = expected;
        this.actual = actual;
    }

    /** The key whose precondition failed. */
    public byte[] key() {
        return key.clone();
    }

    /** The revision the batch expected (0 = must not exist). */
    public long expected() {
        return expected;
    }

    /** The key's revision at commit time (0 = absent). */
    public long actual() {
        return actual;
    }
}
