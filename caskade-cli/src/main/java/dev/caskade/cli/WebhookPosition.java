package dev.caskade.cli;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * A webhook adapter's durable position: the last revision the receiver acknowledged, in {@code DIR/position.json}
 * ({@code {"revision", "source", "prefix"}}), replaced by write, fsync, rename, fsync of the directory, so that after
 * a crash it is either the old position or the new one, never a torn file. {@code DIR/lock} keeps a second adapter
 * off the same directory. The source and prefix are kept to refuse a directory that belongs to another feed.
 */
final class WebhookPosition implements AutoCloseable {
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private final Path dir;
    private final String source;
    private final String prefix;
    private final FileChannel lockFile;
    private final FileLock lock;
    private final boolean existed;
    private volatile long revision;

    private WebhookPosition(Path dir, String source, String prefix, FileChannel lockFile, FileLock lock) {
        this.dir = dir;
        this.source = source;
        this.prefix = prefix;
        this.lockFile = lockFile;
        this.lock = lock;
        Path file = dir.resolve("position.json");
        this.existed = Files.exists(file);
        if (existed) {
            JsonNode n;
            try {
                n = JSON.readTree(Files.readAllBytes(file));
            } catch (IOException | RuntimeException e) {
                throw new IllegalArgumentException("cannot read the webhook position " + file + ": " + e.getMessage());
            }
            String s = n.path("source").asString("");
            String p = n.path("prefix").asString("");
            if (!s.equals(source) || !p.equals(prefix))
                throw new IllegalArgumentException(file + " is the position of " + s + " prefix '" + p + "', not of "
                        + source + " prefix '" + prefix + "': give another --state directory");
            this.revision = n.path("revision").asLong(-1);
            if (revision < 0) throw new IllegalArgumentException(file + " holds no revision");
        }
    }

    /** Locks {@code dir} (created if absent) and reads the position in it, if any. */
    static WebhookPosition open(Path dir, String source, String prefix) {
        try {
            Files.createDirectories(dir);
            FileChannel ch = FileChannel.open(dir.resolve("lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            FileLock l;
            try {
                l = ch.tryLock();
            } catch (OverlappingFileLockException e) {
                l = null;
            }
            if (l == null) {
                ch.close();
                throw new IllegalArgumentException(
                        "another webhook adapter uses " + dir + " (its lock file is held): give another --state");
            }
            try {
                ch.truncate(0);
                ch.write(ByteBuffer.wrap(
                        Long.toString(ProcessHandle.current().pid()).getBytes()));
                return new WebhookPosition(dir, source, prefix, ch, l);
            } catch (IOException | RuntimeException e) {
                l.release();
                ch.close();
                throw e;
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open the webhook state " + dir + ": " + e.getMessage(), e);
        }
    }

    /** Whether a position was stored before this open. */
    boolean existed() {
        return existed;
    }

    /** The last acknowledged revision (what {@link #save} wrote last, or what the file held). */
    long revision() {
        return revision;
    }

    /** Makes {@code value} the durable position: it is on disk when this returns. */
    void save(long value) {
        ObjectNode n = JSON.createObjectNode();
        n.put("revision", value);
        n.put("source", source);
        n.put("prefix", prefix);
        Path tmp = dir.resolve("position.json.tmp");
        try {
            try (FileChannel ch = FileChannel.open(
                    tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer b = ByteBuffer.wrap(JSON.writeValueAsBytes(n));
                while (b.hasRemaining()) ch.write(b);
                ch.force(true);
            }
            Files.move(
                    tmp,
                    dir.resolve("position.json"),
                    StandardCopyOption.ATOMIC_MOVE,
                    StandardCopyOption.REPLACE_EXISTING);
            try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
                d.force(true); // the rename itself
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the webhook position in " + dir + ": " + e.getMessage(), e);
        }
        revision = value;
    }

    @Override
    public void close() {
        try {
            lock.release();
            lockFile.close();
        } catch (IOException e) {
            // released with the process anyway
        }
    }
}
