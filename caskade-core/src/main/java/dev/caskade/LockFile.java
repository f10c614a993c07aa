package dev.caskade;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The single-writer guard: an OS lock on {@code DIR/LOCK}, which holds the owner's pid so that the
 * next opener can say who has it. The OS drops the lock when the process dies, so a stale file never
 * blocks anyone.
 */
final class LockFile implements AutoCloseable {
    /**
     * Directories this process holds. Checked before the lock file is even opened: POSIX drops all of a
     * process's locks on a file when any descriptor of it is closed, so a refused second opener in the
     * same process must never open and close the file.
     */
    private static final Set<Path> HELD = ConcurrentHashMap.newKeySet();

    private final Path key;
    private final FileChannel channel;
    private final FileLock lock;

    private LockFile(Path key, FileChannel channel, FileLock lock) {
        this.key = key;
        this.channel = channel;
        this.lock = lock;
    }

    static LockFile acquire(Path dir) throws IOException {
        Path key = dir.toRealPath();
        if (!HELD.add(key))
            throw new LockedException(dir, ProcessHandle.current().pid());
        try {
            return lock(dir, key);
        } catch (IOException | RuntimeException e) {
            HELD.remove(key);
            throw e;
        }
    }

    private static LockFile lock(Path dir, Path key) throws IOException {
        FileChannel ch = FileChannel.open(
                dir.resolve("LOCK"), StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
        FileLock l;
        try {
            l = ch.tryLock();
        } catch (OverlappingFileLockException e) {
            l = null; // this process already holds it
        }
        if (l == null) {
            long pid = holder(ch);
            ch.close();
            throw new LockedException(dir, pid);
        }
        ch.truncate(0);
        ch.write(ByteBuffer.wrap((ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII)), 0);
        ch.force(false);
        return new LockFile(key, ch, l);
    }

    private static long holder(FileChannel ch) {
        try {
            ByteBuffer b = ByteBuffer.allocate(32);
            ch.read(b, 0);
            return Long.parseLong(new String(b.array(), 0, b.position(), StandardCharsets.US_ASCII).trim());
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
    }

    @Override
    public void close() {
        try {
            lock.release();
            channel.close();
        } catch (IOException ignored) {
            // the OS releases the lock with the file anyway
        } finally {
            HELD.remove(key);
        }
    }
}
