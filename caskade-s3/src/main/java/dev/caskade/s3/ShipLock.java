package dev.caskade.s3;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * One shipper per data directory and destination on a host: an OS lock on {@code DIR/replication/<key>.lock},
 * released by the kernel when the process dies. It is what lets a restarted shipper take over the destination's
 * lease from its killed predecessor at once instead of waiting for the lease to expire.
 */
final class ShipLock implements AutoCloseable {
    private final FileChannel channel;
    private final FileLock lock;

    private ShipLock(FileChannel channel, FileLock lock) {
        this.channel = channel;
        this.lock = lock;
    }

    static ShipLock acquire(Path file, Path dir, String url) {
        FileChannel ch = null;
        try {
            Files.createDirectories(file.getParent());
            ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
            FileLock l;
            try {
                l = ch.tryLock();
            } catch (OverlappingFileLockException e) {
                l = null;
            }
            if (l == null) {
                String holder = new String(Files.readAllBytes(file), StandardCharsets.US_ASCII).strip();
                throw new IllegalStateException("another shipper" + (holder.isEmpty() ? "" : " (pid " + holder + ")")
                        + " already ships " + dir + " to " + url);
            }
            ch.truncate(0);
            ch.write(
                    ByteBuffer.wrap(Long.toString(ProcessHandle.current().pid()).getBytes(StandardCharsets.US_ASCII)),
                    0);
            return new ShipLock(ch, l);
        } catch (IOException e) {
            closeQuietly(ch);
            throw new UncheckedIOException("cannot lock " + file + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            closeQuietly(ch);
            throw e;
        }
    }

    @Override
    public void close() {
        try {
            lock.release();
        } catch (IOException ignored) {
            // closing the channel releases it too
        }
        closeQuietly(channel);
    }

    private static void closeQuietly(FileChannel ch) {
        if (ch == null) return;
        try {
            ch.close();
        } catch (IOException ignored) {
            // nothing to do
        }
    }
}
