package dev.caskade.cluster;

import dev.caskade.Change;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.TreeMap;
import java.util.zip.CRC32C;

/**
 * Writes made while Redis was unreachable ({@link ClusterOptions.WhenBusDown#QUEUE}), on disk until Redis has them:
 * one file per write, {@code DIR/queue/<token>.w} (the changes as {@link ChangeCodec} bytes, then their CRC32C),
 * written to a temporary file, fsynced and renamed, so a crash leaves whole writes only. Tokens grow (they start from
 * the clock in microseconds), and Redis remembers the last token each node sent, which makes a resend after a crash
 * harmless.
 */
final class WriteQueue {
    /** A queued write. */
    record Item(long token, List<Change> changes) {}

    private final Path dir;
    private final TreeMap<Long, Path> files = new TreeMap<>();
    private long lastToken;

    WriteQueue(Path dir) {
        this.dir = dir;
        try {
            Files.createDirectories(dir);
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
                for (Path p : ds) {
                    String n = p.getFileName().toString();
                    if (n.endsWith(".tmp")) Files.delete(p); // a write cut short: it was never acknowledged
                    else if (n.matches("[0-9]{20}\\.w")) files.put(Long.parseLong(n.substring(0, 20)), p);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open the write queue in " + dir + ": " + e.getMessage(), e);
        }
        lastToken = files.isEmpty() ? 0 : files.lastKey();
    }

    synchronized int size() {
        return files.size();
    }

    /** Adds a write durably, after every write added before. */
    synchronized long add(List<Change> changes) {
        long token = Math.max(lastToken + 1, System.currentTimeMillis() * 1000);
        byte[] payload = ChangeCodec.encode(changes);
        CRC32C crc = new CRC32C();
        crc.update(payload);
        ByteBuffer b = ByteBuffer.allocate(payload.length + 4).put(payload).putInt((int) crc.getValue());
        Path file = dir.resolve(String.format("%020d.w", token));
        Path tmp = dir.resolve(file.getFileName() + ".tmp");
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                b.flip();
                while (b.hasRemaining()) ch.write(b);
                ch.force(true);
            }
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
            try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
                d.force(true);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot queue a write in " + dir + ": " + e.getMessage(), e);
        }
        lastToken = token;
        files.put(token, file);
        return token;
    }

    /** The oldest queued write, or null. */
    synchronized Item peek() {
        if (files.isEmpty()) return null;
        var first = files.firstEntry();
        try {
            byte[] all = Files.readAllBytes(first.getValue());
            if (all.length < 8) throw new IllegalStateException("queued write " + first.getValue() + " is cut short");
            CRC32C crc = new CRC32C();
            crc.update(all, 0, all.length - 4);
            int stored = ByteBuffer.wrap(all, all.length - 4, 4).getInt();
            if (stored != (int) crc.getValue())
                throw new IllegalStateException("queued write " + first.getValue() + " fails its checksum");
            return new Item(first.getKey(), ChangeCodec.decode(java.util.Arrays.copyOf(all, all.length - 4)));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read queued write " + first.getValue() + ": " + e.getMessage(), e);
        }
    }

    /** Drops the write {@code token}: Redis has it. */
    synchronized void remove(long token) {
        Path p = files.remove(token);
        if (p == null) return;
        try {
            Files.deleteIfExists(p);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete sent write " + p + ": " + e.getMessage(), e);
        }
    }
}
