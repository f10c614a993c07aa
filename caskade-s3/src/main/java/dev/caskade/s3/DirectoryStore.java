package dev.caskade.s3;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;

/**
 * Objects as files under a root directory (a local disk or a mounted network file system). An object name's
 * segments are directories. A write goes to a temporary file in the target's directory, is fsynced, renamed over the
 * target and the directory fsynced, so readers see whole objects only and a crash leaves at worst an invisible
 * temporary file. Conditional writes hold an exclusive lock on {@code .caskade-lock} at the root (plus an in-process
 * lock, since a JVM cannot lock one file twice) around check and write. Entity tags are content hashes.
 *
 * <p>Unlike S3, a name cannot be both an object and the "directory" of another ("a" and "a/b"): such a write fails
 * (not retryable).
 */
public final class DirectoryStore implements ObjectStore {
    /** Temporary files start with this; they are never listed, and names may not use it. */
    static final String TMP_PREFIX = ".caskade-tmp-";
    /** The lock file at the root for conditional writes. */
    static final String LOCK_FILE = ".caskade-lock";

    private static final ConcurrentMap<Path, ReentrantLock> PROCESS_LOCKS = new ConcurrentHashMap<>();

    private final Path root;
    private final String url;

    private DirectoryStore(Path root) {
        this.root = root;
        String u = root.toUri().toString();
        this.url = u.endsWith("/") && u.length() > "file:///".length() ? u.substring(0, u.length() - 1) : u;
    }

    /** A store rooted at {@code root} (made absolute); the directory is created on the first write. */
    public static DirectoryStore open(Path root) {
        return new DirectoryStore(root.toAbsolutePath().normalize());
    }

    /** The root directory. */
    public Path root() {
        return root;
    }

    @Override
    public void put(String name, byte[] data) {
        Path target = path(name);
        io("put", name, () -> {
            write(target, ch -> {
                ByteBuffer buf = ByteBuffer.wrap(data);
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
            });
            return null;
        });
    }

    @Override
    public void put(String name, Path file) {
        Path target = path(name);
        io("put", name, () -> {
            FileChannel source;
            try {
                source = FileChannel.open(file, StandardOpenOption.READ);
            } catch (NoSuchFileException e) {
                // the caller's mistake, not a destination fault
                throw new ObjectStoreException(url, "put", name, 0, false, "source file " + file + " not found", e);
            }
            try (FileChannel in = source) {
                write(target, out -> {
                    long size = in.size();
                    long done = 0;
                    while (done < size) {
                        long n = in.transferTo(done, size - done, out);
                        if (n <= 0 && in.size() < size) {
                            throw new IOException("source file " + file + " shrank while being copied");
                        }
                        done += n;
                    }
                });
            }
            return null;
        });
    }

    @Override
    public Optional<byte[]> get(String name) {
        Path p = path(name);
        return io("get", name, () -> {
            try {
                return Optional.of(Files.readAllBytes(p));
            } catch (IOException e) {
                if (absent(p)) {
                    return Optional.empty();
                }
                throw e;
            }
        });
    }

    @Override
    public InputStream open(String name) {
        Path p = path(name);
        return io("open", name, () -> {
            if (absent(p)) {
                throw new NoSuchObjectException(url, "open", name, null);
            }
            try {
                return Files.newInputStream(p);
            } catch (IOException e) {
                if (absent(p)) {
                    throw new NoSuchObjectException(url, "open", name, e);
                }
                throw e;
            }
        });
    }

    @Override
    public byte[] read(String name, long offset, int length) {
        if (offset < 0 || length < 0) {
            throw new IllegalArgumentException("offset and length must be >= 0: " + offset + ", " + length);
        }
        Path p = path(name);
        return io("read", name, () -> {
            if (absent(p)) {
                throw new NoSuchObjectException(url, "read", name, null);
            }
            try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
                long size = ch.size();
                int n = (int) Math.max(0, Math.min(length, size - offset));
                ByteBuffer buf = ByteBuffer.allocate(n);
                while (buf.hasRemaining()) {
                    if (ch.read(buf, offset + buf.position()) < 0) {
                        throw new IOException("file ended early at " + (offset + buf.position()));
                    }
                }
                return buf.array();
            } catch (IOException e) {
                if (absent(p)) {
                    throw new NoSuchObjectException(url, "read", name, e);
                }
                throw e;
            }
        });
    }

    // absent, a directory, or under a file ("a/b" when "a" is an object): not an object either way
    private static boolean absent(Path p) {
        return !Files.isRegularFile(p);
    }

    @Override
    public List<ObjectInfo> list(String prefix) {
        ObjectStore.checkPrefix(prefix);
        int slash = prefix.lastIndexOf('/');
        Path start = slash < 0 ? root : root.resolve(prefix.substring(0, slash));
        return io("list", prefix, () -> {
            if (!Files.isDirectory(start)) {
                return List.of();
            }
            List<ObjectInfo> found = new ArrayList<>();
            Files.walkFileTree(start, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) {
                    String rel = relative(dir);
                    if (rel.isEmpty()) {
                        return FileVisitResult.CONTINUE;
                    }
                    String asPrefix = rel + "/";
                    // descend only where names can start with the prefix
                    return asPrefix.startsWith(prefix) || prefix.startsWith(asPrefix)
                            ? FileVisitResult.CONTINUE
                            : FileVisitResult.SKIP_SUBTREE;
                }

                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
                    String rel = relative(file);
                    String last = file.getFileName().toString();
                    if (attrs.isRegularFile()
                            && rel.startsWith(prefix)
                            && !last.startsWith(TMP_PREFIX)
                            && !rel.equals(LOCK_FILE)) {
                        found.add(new ObjectInfo(
                                rel, attrs.size(), attrs.lastModifiedTime().toInstant()));
                    }
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFileFailed(Path file, IOException e) throws IOException {
                    if (e instanceof NoSuchFileException) {
                        return FileVisitResult.CONTINUE; // deleted while we walked
                    }
                    throw e;
                }
            });
            found.sort((a, b) -> NAME_ORDER.compare(a.name(), b.name()));
            return List.copyOf(found);
        });
    }

    @Override
    public Optional<ObjectInfo> stat(String name) {
        Path p = path(name);
        return io("stat", name, () -> {
            try {
                BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class);
                return a.isRegularFile()
                        ? Optional.of(new ObjectInfo(
                                name, a.size(), a.lastModifiedTime().toInstant()))
                        : Optional.empty();
            } catch (IOException e) {
                if (absent(p)) {
                    return Optional.empty();
                }
                throw e;
            }
        });
    }

    @Override
    public void delete(Collection<String> names) {
        List<Path> paths = names.stream().map(this::path).toList();
        io("delete", names.size() == 1 ? names.iterator().next() : null, () -> {
            Set<Path> dirs = new LinkedHashSet<>();
            for (Path p : paths) {
                if (!absent(p) && Files.deleteIfExists(p)) {
                    dirs.add(p.getParent());
                }
            }
            for (Path dir : dirs) {
                fsyncDirectory(dir);
            }
            return null;
        });
    }

    @Override
    public Optional<Versioned> getVersioned(String name) {
        return get(name).map(data -> new Versioned(data, etag(data)));
    }

    @Override
    public boolean putIfAbsent(String name, byte[] data) {
        Path target = path(name);
        return locked("putIfAbsent", name, () -> {
            if (!absent(target)) {
                return false;
            }
            put(name, data);
            return true;
        });
    }

    @Override
    public boolean putIfMatch(String name, byte[] data, String etag) {
        path(name);
        return locked("putIfMatch", name, () -> {
            Optional<byte[]> current = get(name);
            if (current.isEmpty() || !etag(current.get()).equals(etag)) {
                return false;
            }
            put(name, data);
            return true;
        });
    }

    @Override
    public boolean conditionalWrites() {
        return true;
    }

    @Override
    public String url() {
        return url;
    }

    @Override
    public void close() {}

    @Override
    public String toString() {
        return "DirectoryStore[" + url + "]";
    }

    /** The entity tag of some content: a hex SHA-256 prefix. */
    static String etag(byte[] data) {
        try {
            byte[] h = MessageDigest.getInstance("SHA-256").digest(data);
            return HexFormat.of().formatHex(h, 0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private Path path(String name) {
        ObjectStore.checkName(name);
        for (String segment : name.split("/")) {
            if (segment.startsWith(TMP_PREFIX)) {
                throw new IllegalArgumentException("object name '" + name + "' uses the reserved " + TMP_PREFIX);
            }
            if (segment.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > 255) {
                throw new IllegalArgumentException("object name '" + name + "' has a segment over 255 bytes");
            }
        }
        if (name.equals(LOCK_FILE)) {
            throw new IllegalArgumentException("object name '" + name + "' is reserved");
        }
        return root.resolve(name);
    }

    private String relative(Path p) {
        Path rel = root.relativize(p);
        var b = new StringBuilder();
        for (Path part : rel) {
            if (!b.isEmpty()) {
                b.append('/');
            }
            b.append(part);
        }
        return b.toString();
    }

    private interface ChannelWriter {
        void write(FileChannel out) throws IOException;
    }

    // tmp file in the target's directory, fsync, rename over the target, fsync the directory
    private void write(Path target, ChannelWriter writer) throws IOException {
        Path dir = target.getParent();
        ensureDirectory(dir);
        Path tmp = dir.resolve(
                TMP_PREFIX + Long.toHexString(ThreadLocalRandom.current().nextLong()));
        try {
            try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                writer.write(out);
                out.force(true);
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException | RuntimeException e) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
        fsyncDirectory(dir);
    }

    // creates missing directories one by one, fsyncing each parent so the new entry survives a crash
    private void ensureDirectory(Path dir) throws IOException {
        if (Files.isDirectory(dir)) {
            return;
        }
        Path parent = dir.getParent();
        if (parent != null) {
            ensureDirectory(parent);
        }
        try {
            Files.createDirectory(dir);
        } catch (FileAlreadyExistsException e) {
            if (!Files.isDirectory(dir)) {
                throw new NotDirectoryException(dir + " (an object) cannot also hold objects");
            }
            return;
        }
        if (parent != null) {
            fsyncDirectory(parent);
        }
    }

    private static void fsyncDirectory(Path dir) throws IOException {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        }
    }

    private <T> T locked(String op, String name, Supplier<T> body) {
        ReentrantLock local = PROCESS_LOCKS.computeIfAbsent(root, r -> new ReentrantLock());
        local.lock();
        try (FileChannel ch = io(op, name, () -> {
            Files.createDirectories(root);
            return FileChannel.open(root.resolve(LOCK_FILE), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        })) {
            io(op, name, ch::lock); // released when the channel closes
            return body.get();
        } catch (IOException e) {
            throw failure(op, name, e);
        } finally {
            local.unlock();
        }
    }

    private interface IoCall<T> {
        T call() throws IOException;
    }

    private <T> T io(String op, String name, IoCall<T> call) {
        try {
            return call.call();
        } catch (IOException e) {
            throw failure(op, name, e);
        } catch (UncheckedIOException e) {
            throw failure(op, name, e.getCause());
        }
    }

    private ObjectStoreException failure(String op, String name, IOException e) {
        // a permission problem or a name clash does not heal by itself; a full or flaky disk may
        boolean retryable = !(e instanceof AccessDeniedException
                || e instanceof NotDirectoryException
                || e instanceof FileAlreadyExistsException);
        return new ObjectStoreException(url, op, name, 0, retryable, e.toString(), e);
    }
}
