package dev.caskade;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;

/**
 * A durable hold on the change feed's history, kept in a file {@code DIR/pins/<name>}, for a consumer outside the
 * store (a shipper, possibly in another process that does not hold the store's lock): merge does not compact a
 * sealed data segment holding commits after the pin's revision, so the consumer can still read them from the
 * segments. The hold is bounded: when the data-segment bytes held back only by file pins pass {@link
 * CaskadeOptions#pinBytes()}, merge ignores the oldest pins (it logs a warning and counts {@link
 * Stats#pinsDropped()}); their owner then finds its history gone ({@link CompactedException}) and starts over
 * from a snapshot. A pin whose revision is below the store's {@link Caskade#compactedRevision()} holds nothing.
 *
 * <p>The file holds the revision in ASCII decimal and a newline. Merge reads every pin afresh each time it
 * decides, so moving a pin needs no contact with the store. Thread-safe.
 */
public final class Pin {
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9._-]{1,100}");
    /** Temporary files carry this character, which no pin name may contain, so {@link #list} never sees them. */
    private static final char TMP = '~';

    private static final AtomicLong TMP_SEQ = new AtomicLong();

    private final Path file;
    private final String name;
    private volatile boolean deleted;

    private Pin(Path file, String name) {
        this.file = file;
        this.name = name;
    }

    /**
     * Opens the pin {@code name} of the store in {@code dir}, creating the {@code pins} directory and the pin (at
     * revision 0, which holds all history) if absent. The store need not be open, and its lock is not taken.
     *
     * @throws IllegalArgumentException when {@code name} is not 1 to 100 of {@code [A-Za-z0-9._-]}, or is {@code
     *     .} or {@code ..}
     */
    public static Pin open(Path dir, String name) {
        checkName(name);
        Path pins = dir.resolve("pins");
        Path file = pins.resolve(name);
        try {
            Files.createDirectories(pins);
            deleteLeftovers(pins, name);
            try {
                // an empty file reads as revision 0, so a reader that sees it before the write is still right
                Files.write(file, bytes(0), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
            } catch (FileAlreadyExistsException e) {
                // an existing pin keeps its revision
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open pin " + name + " in " + dir, e);
        }
        return new Pin(file, name);
    }

    /** The pin's name. */
    public String name() {
        return name;
    }

    /**
     * The revision in the pin's file now (another process may move it too): history after it is held.
     *
     * @throws IllegalStateException when the pin was deleted
     */
    public long revision() {
        checkLive();
        try {
            return parse(Files.readAllBytes(file));
        } catch (NoSuchFileException e) {
            throw new IllegalStateException("pin was deleted: " + file, e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read pin " + file, e);
        }
    }

    /**
     * Moves the pin to {@code revision}: merge may compact history up to it. Atomic (a temporary file renamed over
     * the pin); not fsynced, because after a crash an older revision is only more cautious.
     */
    public synchronized void moveTo(long revision) {
        if (revision < 0) throw new IllegalArgumentException("pin revision must not be negative: " + revision);
        checkLive();
        Path tmp = file.resolveSibling(name + TMP + ProcessHandle.current().pid() + "." + TMP_SEQ.incrementAndGet());
        try {
            Files.write(tmp, bytes(revision), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw new UncheckedIOException("cannot move pin " + file + " to " + revision, e);
        }
    }

    /** Deletes the pin: it holds nothing any more. Idempotent. */
    public synchronized void delete() {
        deleted = true;
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete pin " + file, e);
        }
    }

    /** Every pin of the store in {@code dir}, by name, with its revision now; empty when there are none. */
    public static Map<String, Long> list(Path dir) {
        Map<String, Long> pins = new TreeMap<>();
        Path d = dir.resolve("pins");
        if (!Files.isDirectory(d)) return pins;
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(d)) {
            for (Path p : ds) {
                String n = p.getFileName().toString();
                if (!valid(n)) continue;
                try {
                    pins.put(n, parse(Files.readAllBytes(p)));
                } catch (NoSuchFileException e) {
                    // deleted meanwhile: it holds nothing
                }
            }
        } catch (NoSuchFileException e) {
            return pins;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list pins in " + d, e);
        }
        return pins;
    }

    private void checkLive() {
        if (deleted) throw new IllegalStateException("pin was deleted: " + file);
    }

    private static void checkName(String name) {
        Objects.requireNonNull(name, "name");
        if (!valid(name)) {
            throw new IllegalArgumentException(
                    "pin name must be 1 to 100 of [A-Za-z0-9._-] and not '.' or '..': '" + name + "'");
        }
    }

    private static boolean valid(String name) {
        return NAME.matcher(name).matches() && !name.equals(".") && !name.equals("..");
    }

    private static byte[] bytes(long revision) {
        return (revision + "\n").getBytes(StandardCharsets.US_ASCII);
    }

    /**
     * The revision a pin file says. Empty (a pin being created) or unreadable content reads as 0, which holds the
     * most: a damaged pin errs on the side of keeping history, within the budget.
     */
    private static long parse(byte[] content) {
        String s = new String(content, StandardCharsets.US_ASCII).trim();
        if (s.isEmpty()) return 0;
        try {
            return Math.max(0, Long.parseLong(s));
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    /** Temporary files of this pin left by a process that died while moving it (live movers keep theirs). */
    private static void deleteLeftovers(Path pins, String name) throws IOException {
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(pins, name + TMP + "*")) {
            for (Path p : ds) {
                String rest = p.getFileName().toString().substring(name.length() + 1);
                int dot = rest.indexOf('.');
                long pid;
                try {
                    pid = Long.parseLong(dot < 0 ? rest : rest.substring(0, dot));
                } catch (NumberFormatException e) {
                    continue;
                }
                if (ProcessHandle.of(pid).isEmpty()) Files.deleteIfExists(p);
            }
        }
    }

    @Override
    public String toString() {
        return "Pin[" + file + "]";
    }
}
