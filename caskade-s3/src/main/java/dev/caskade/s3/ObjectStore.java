package dev.caskade.s3;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * A flat namespace of immutable-ish objects at a destination (a directory or an S3 bucket and prefix). Names are
 * relative to the destination's root and '/'-separated (see {@link #checkName}). Every write replaces a whole object
 * and is visible atomically: a reader sees the old object, the new one or none, never part of one.
 *
 * <p>Failures are unchecked {@link ObjectStoreException}s ({@link NoSuchObjectException} where an object must
 * exist, {@link UnavailableException} when a breaker refuses the call).
 */
public interface ObjectStore extends AutoCloseable {

    /** An object's name (relative to the root), size in bytes and last modification time. */
    record ObjectInfo(String name, long size, Instant modified) {
        public ObjectInfo {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(modified, "modified");
        }
    }

    /** An object's content and its entity tag, for {@link #putIfMatch}. */
    record Versioned(byte[] data, String etag) {
        public Versioned {
            Objects.requireNonNull(data, "data");
            Objects.requireNonNull(etag, "etag");
        }
    }

    /** The order of {@link #list}: names compared as unsigned UTF-8 bytes (S3's order), i.e. by code point. */
    Comparator<String> NAME_ORDER = ObjectStore::compareCodePoints;

    /** Writes (or replaces) a whole object. */
    void put(String name, byte[] data);

    /** Writes (or replaces) a whole object from a file, streamed (for large objects such as snapshots). */
    void put(String name, Path file);

    /** The object's content, or empty when it does not exist. */
    Optional<byte[]> get(String name);

    /** A stream over the object's content; the caller closes it. Absent: {@link NoSuchObjectException}. */
    InputStream open(String name);

    /**
     * Up to {@code length} bytes from {@code offset}: fewer when the object ends first, none when {@code offset} is
     * at or past its end. Absent: {@link NoSuchObjectException}.
     */
    byte[] read(String name, long offset, int length);

    /** Every object whose name starts with {@code prefix} ("" for all), in {@link #NAME_ORDER}. */
    List<ObjectInfo> list(String prefix);

    /** The object's size and modification time, or empty when it does not exist. */
    default Optional<ObjectInfo> stat(String name) {
        checkName(name);
        return list(name).stream().filter(o -> o.name().equals(name)).findFirst();
    }

    /** Deletes the named objects; names that do not exist are fine. */
    void delete(Collection<String> names);

    /** The object's content and entity tag, or empty when it does not exist. */
    Optional<Versioned> getVersioned(String name);

    /**
     * Creates the object only if it does not exist. Returns false (and writes nothing) if it does. Atomic against
     * other conditional writers only when {@link #conditionalWrites()} is true; otherwise a best-effort check.
     */
    boolean putIfAbsent(String name, byte[] data);

    /**
     * Replaces the object only if its entity tag is still {@code etag} (from {@link #getVersioned}). Returns false
     * (and writes nothing) if it changed or is gone. Atomic only when {@link #conditionalWrites()} is true.
     */
    boolean putIfMatch(String name, byte[] data, String etag);

    /** Whether the store itself enforces {@link #putIfAbsent} and {@link #putIfMatch} atomically. */
    boolean conditionalWrites();

    /** The destination, for messages and metric labels (never holds credentials). */
    String url();

    /** Releases clients and threads; the store is unusable afterwards. */
    @Override
    void close();

    /**
     * Checks an object name and returns it: not empty, at most 1024 UTF-8 bytes, no leading or trailing '/', no empty,
     * "." or ".." segment, no NUL or other control character.
     *
     * @throws IllegalArgumentException naming the problem
     */
    static String checkName(String name) {
        Objects.requireNonNull(name, "name");
        if (name.isEmpty()) {
            throw new IllegalArgumentException("empty object name");
        }
        if (name.getBytes(StandardCharsets.UTF_8).length > 1024) {
            throw new IllegalArgumentException("object name longer than 1024 bytes: " + name.substring(0, 64) + "...");
        }
        for (int i = 0; i < name.length(); i++) {
            if (Character.isISOControl(name.charAt(i))) {
                throw new IllegalArgumentException("control character in object name '" + name + "'");
            }
        }
        for (String segment : name.split("/", -1)) {
            if (segment.isEmpty() || segment.equals(".") || segment.equals("..")) {
                throw new IllegalArgumentException(
                        "object name '" + name + "' has an empty, '.' or '..' segment (or a leading/trailing '/')");
            }
        }
        return name;
    }

    /** Checks a list prefix: "" or the start of a name (no leading '/', no control character). */
    static String checkPrefix(String prefix) {
        Objects.requireNonNull(prefix, "prefix");
        if (prefix.startsWith("/") || prefix.chars().anyMatch(Character::isISOControl)) {
            throw new IllegalArgumentException("bad list prefix '" + prefix + "'");
        }
        return prefix;
    }

    // UTF-8 byte order equals code point order; String.compareTo differs for surrogates vs U+E000..U+FFFF
    private static int compareCodePoints(String a, String b) {
        int i = 0;
        int j = 0;
        while (i < a.length() && j < b.length()) {
            int ca = a.codePointAt(i);
            int cb = b.codePointAt(j);
            if (ca != cb) {
                return Integer.compare(ca, cb);
            }
            i += Character.charCount(ca);
            j += Character.charCount(cb);
        }
        return Integer.compare(a.length() - i, b.length() - j);
    }
}
