package dev.caskade;

/**
 * A fingerprint of the live keys under a prefix at one revision, to compare two stores (a restore with its source,
 * a replica with its primary): equal digests at the same revision mean the same keys with the same values.
 *
 * <p>{@code sha256} is the lowercase hex SHA-256 over, for each live key in key order (unsigned bytes): the key's
 * length as a big-endian u32, the key, the value's length as a big-endian u32, the value. Revisions and expiry
 * times are not part of it, so a store rebuilt by other commits with the same outcome has the same digest.
 *
 * @param revision the revision the digest was taken at
 * @param keys how many live keys it covers
 * @param sha256 the hash, 64 lowercase hex digits
 */
public record Digest(long revision, long keys, String sha256) {}
