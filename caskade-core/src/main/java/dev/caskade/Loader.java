package dev.caskade;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * Builds a new store directory in bulk, keeping every original revision: first the live keys of a snapshot (at
 * {@code snapshotRevision}), then the commits after it. Restore uses it; {@link Caskade#open} then opens the
 * result like any store: {@code revision()} is the last commit's (or the snapshot's), {@code compactedRevision()}
 * the snapshot's, each key keeps its revision and expiry, and a watch from the snapshot's revision replays exactly
 * the loaded commits.
 *
 * <p>Snapshot keys go into merged segments whose base is the snapshot's revision (as merge leaves them), commits
 * into data segments exactly as the engine writes them, rolling at {@link CaskadeOptions#segmentBytes()}. Bytes are
 * encoded into one large buffer and written sequentially; files are fsynced once, at {@link #finish()}. Until then
 * a {@code LOADING} marker sits in the directory: {@link Caskade#open} refuses such a directory, and a new loader
 * clears one, so a load cut short by a crash never passes for a store.
 *
 * <pre>{@code
 * try (Loader l = Loader.create(dir, options, snapRev, snapTime)) {
 *     l.add(key, value, revision, expiresAt);           // each live key of the snapshot, once, any order
 *     l.commit(revision, timestamp, changes);           // then each later commit, in revision order
 *     l.finish();                                       // without it, close() deletes everything written
 * }
 * }</pre>
 *
 * <p>Not thread-safe: one thread feeds a loader.
 */
public final class Loader implements AutoCloseable {
    static final String MARKER = "LOADING";
    private static final int BUFFER = 8 << 20;

    private final Path dir;
    private final CaskadeOptions options;
    private final long snapshotRevision;
    private final long snapshotTimestamp;
    private final boolean createdDir;
    private final LockFile lock;
    private final ByteBuffer buffer = ByteBuffer.allocateDirect(BUFFER).order(ByteOrder.LITTLE_ENDIAN);
    /** Every segment written out, in order. */
    private final List<Sealed> sealed = new ArrayList<>();
    /**
     * Fsyncs each written segment and writes its hint while the next one is being filled, so the disk works while
     * this thread encodes, and finish() finds little left to flush.
     */
    private final ExecutorService sealer;
    /** Sealing still running or not yet checked, oldest first. */
    private final ArrayDeque<Future<?>> sealing = new ArrayDeque<>();

    private Output out;
    private long nextId = 1;
    private boolean inCommits;
    private long lastRevision;
    private boolean finished;
    private boolean closed;

    /** A segment written out, with its hint. */
    private record Sealed(Path path, long id, Segment.Kind kind, long size) {}

    /** The segment being written: its bytes so far go through {@link #buffer}. */
    private static final class Output {
        final long id;
        final Segment.Kind kind;
        final Path path;
        final FileChannel channel;
        final List<HintFile.Item> items = new ArrayList<>();
        /** Bytes of the segment, header and buffered bytes included. */
        long size = Segment.HEADER;

        long maxTimestamp;

        Output(long id, Segment.Kind kind, Path path, FileChannel channel) {
            this.id = id;
            this.kind = kind;
            this.path = path;
            this.channel = channel;
        }
    }

    private Loader(
            Path dir,
            CaskadeOptions options,
            long snapshotRevision,
            long snapshotTimestamp,
            boolean created,
            LockFile lock) {
        this.dir = dir;
        this.options = options;
        this.snapshotRevision = snapshotRevision;
        this.snapshotTimestamp = snapshotTimestamp;
        this.createdDir = created;
        this.lock = lock;
        this.lastRevision = snapshotRevision;
        this.sealer = Executors.newSingleThreadExecutor(Thread.ofPlatform()
                .daemon()
                .name("caskade-loader " + dir.getFileName())
                .factory());
    }

    /**
     * Deletes the directory {@code dir} and all it holds: a load that is not wanted (cut short, or finished but never
     * put in place). Nothing happens when it is absent.
     *
     * @throws java.io.UncheckedIOException when something in it cannot be deleted
     */
    public static void discard(Path dir) {
        if (!Files.exists(dir)) return;
        try (java.util.stream.Stream<Path> s = Files.walk(dir)) {
            for (Path f : s.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(f);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("cannot delete " + dir + ": " + e.getMessage(), e);
        }
    }

    /**
     * Puts the finished load in {@code loaded} in the place of the store in {@code target} (closed, or absent): the
     * old store is renamed aside ({@code target} with {@code .old}), the load renamed in, the old store deleted. Each
     * rename is atomic; a crash between the two leaves {@code target} absent, and the aside copy is deleted by the
     * next call.
     */
    public static void replace(Path target, Path loaded) throws IOException {
        Path gone = target.resolveSibling(target.getFileName() + ".old");
        discard(gone);
        if (Files.exists(target)) Files.move(target, gone, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        Files.move(loaded, target, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        discard(gone);
    }

    /**
     * Starts a load into {@code dir}, which must be absent or empty (a lone {@code LOCK} file, or what a load cut
     * short left behind, counts as empty), and takes its lock.
     *
     * @param snapshotRevision the revision of the state {@link #add} loads; 0 (with timestamp 0) for none
     * @param snapshotTimestamp the commit time of that revision (epoch ms), written on the snapshot's entries
     * @throws IllegalArgumentException when {@code dir} is not empty, or a revision or time is negative
     * @throws LockedException when a store or another loader holds {@code dir}
     */
    public static Loader create(Path dir, CaskadeOptions options, long snapshotRevision, long snapshotTimestamp) {
        Objects.requireNonNull(dir, "dir");
        Objects.requireNonNull(options, "options");
        require(snapshotRevision >= 0, "snapshotRevision must not be negative: " + snapshotRevision);
        require(snapshotTimestamp >= 0, "snapshotTimestamp must not be negative: " + snapshotTimestamp);
        try {
            boolean created = false;
            if (!Files.exists(dir)) {
                Files.createDirectories(dir);
                created = true;
            }
            require(Files.isDirectory(dir), "not a directory: " + dir);
            checkEmpty(dir); // before locking: never leave a LOCK file in someone else's directory
            LockFile lock = LockFile.acquire(dir);
            try {
                checkEmpty(dir); // again, now that nobody else can start
                clearUnfinished(dir);
            } catch (IOException | RuntimeException | Error e) {
                lock.close();
                throw e;
            }
            Loader l = new Loader(dir, options, snapshotRevision, snapshotTimestamp, created, lock);
            try {
                Files.write(dir.resolve(MARKER), new byte[0], StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
                fsyncDirectory(dir);
                // the snapshot's compaction point is recorded even with no key: an empty merged segment
                if (snapshotRevision > 0) l.open(Segment.Kind.MERGED, snapshotRevision);
                return l;
            } catch (IOException | RuntimeException | Error e) {
                try {
                    l.close();
                } catch (RuntimeException suppressed) {
                    e.addSuppressed(suppressed);
                }
                throw e;
            }
        } catch (IOException e) {
            throw new CaskadeException("cannot start loading into " + dir + ": " + e.getMessage(), e);
        }
    }

    /**
     * Adds one live key of the snapshot: each key once, in any order, all before the first {@link #commit}.
     *
     * @param revision the revision that last wrote the key: in [1, snapshotRevision]
     * @param expiresAt epoch ms at which the key expires; 0 for never
     * @throws IllegalArgumentException on a bad revision, expiry, empty or too large key or value (nothing is
     *     written); a key added twice is reported by {@link #finish()}
     */
    public void add(byte[] key, byte[] value, long revision, long expiresAt) {
        checkUsable();
        if (inCommits) throw new IllegalStateException("snapshot keys must all be added before the first commit");
        checkKey(key);
        checkValue(value);
        require(
                revision >= 1 && revision <= snapshotRevision,
                "snapshot key revision " + revision + " outside [1, " + snapshotRevision + "]: key=" + show(key));
        require(expiresAt >= 0, "expiresAt must not be negative: " + expiresAt + " key=" + show(key));
        int len = EntryCodec.size(key.length, value.length);
        try {
            if (out.size > Segment.HEADER && out.size + len > options.segmentBytes()) {
                open(Segment.Kind.MERGED, snapshotRevision);
            }
            checkFits(len);
            write(revision, snapshotTimestamp, expiresAt, EntryCodec.PUT, true, key, value);
        } catch (IOException e) {
            throw failed(e);
        }
    }

    /**
     * Adds one commit after the snapshot, exactly as the engine would have written it: the entries of one
     * revision, the last one flagged as the commit's end, deletes and expiries as tombstones.
     *
     * @param revision above the snapshot's revision and the previous commit's
     * @param timestamp the commit time, epoch ms
     * @param changes what the commit did, at least one; DELETE and EXPIRE with an empty value and no expiry
     * @throws IllegalArgumentException on a revision out of order, or a bad change (nothing is written)
     */
    public void commit(long revision, long timestamp, List<Change> changes) {
        checkUsable();
        require(
                revision > lastRevision,
                "commit revision " + revision + " must be above " + lastRevision
                        + (inCommits ? " (the previous commit)" : " (the snapshot)"));
        require(timestamp >= 0, "commit timestamp must not be negative: " + timestamp + " at revision " + revision);
        Objects.requireNonNull(changes, "changes");
        require(!changes.isEmpty(), "commit " + revision + " has no change");
        long total = 0;
        for (Change c : changes) {
            Objects.requireNonNull(c, "change");
            checkKey(c.key());
            checkValue(c.value());
            if (c.type() == ChangeType.PUT) {
                require(c.expiresAt() >= 0, "expiresAt must not be negative at revision " + revision);
            } else {
                require(
                        c.value().length == 0 && c.expiresAt() == 0,
                        c.type() + " with a value or an expiry at revision " + revision + ": key=" + show(c.key()));
            }
            total += EntryCodec.size(c.key().length, c.value().length);
        }
        require(total <= Integer.MAX_VALUE - Segment.HEADER, "commit " + revision + " too large: " + total + " bytes");
        try {
            if (out == null || out.kind != Segment.Kind.DATA) {
                open(Segment.Kind.DATA, lastRevision);
            } else if (out.size > Segment.HEADER && out.size + total > options.segmentBytes()) {
                open(Segment.Kind.DATA, lastRevision); // the base is the last revision before the segment
            }
            inCommits = true;
            checkFits(total);
            for (int i = 0; i < changes.size(); i++) {
                Change c = changes.get(i);
                byte type = switch (c.type()) {
                    case PUT -> EntryCodec.PUT;
                    case DELETE -> EntryCodec.DELETE;
                    case EXPIRE -> EntryCodec.EXPIRE;
                };
                write(revision, timestamp, c.expiresAt(), type, i == changes.size() - 1, c.key(), c.value());
            }
            lastRevision = revision;
        } catch (IOException e) {
            throw failed(e);
        }
    }

    /**
     * Seals the last segment, writes every hint, fsyncs every file and the directory, removes the {@code LOADING}
     * marker and releases the lock. The directory is then a store.
     *
     * @return the store's revision: the last commit's, or the snapshot's
     * @throws IllegalArgumentException when a snapshot key was added twice (close() then deletes everything)
     */
    public long finish() {
        checkUsable();
        try {
            seal();
            while (!sealing.isEmpty()) await(sealing.poll());
            checkNoDuplicateKeys();
            fsyncDirectory(dir);
            Files.delete(dir.resolve(MARKER));
            fsyncDirectory(dir);
        } catch (IOException e) {
            throw failed(e);
        }
        finished = true;
        sealer.shutdown();
        lock.close();
        return lastRevision;
    }

    /**
     * Without {@link #finish()}: deletes everything the loader wrote (the directory itself too if it created it)
     * and releases the lock, so a failed restore leaves no half store. After {@code finish()}: nothing. Idempotent.
     */
    @Override
    public void close() {
        if (finished || closed) return;
        closed = true;
        sealer.shutdown();
        try {
            // let sealing in flight finish with its files before they are deleted
            if (!sealer.awaitTermination(1, TimeUnit.MINUTES)) sealer.shutdownNow();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            if (out != null) out.channel.close();
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
                for (Path p : ds) {
                    // the directory was empty when the lock was taken: every file in it is ours
                    if (Files.isRegularFile(p) && !p.getFileName().toString().equals("LOCK")) Files.delete(p);
                }
            }
            Files.deleteIfExists(dir.resolve("LOCK")); // still held: nobody can have started meanwhile
        } catch (IOException e) {
            throw new CaskadeException("cannot delete the unfinished load in " + dir + ": " + e.getMessage(), e);
        } finally {
            lock.close();
        }
        if (createdDir) {
            try {
                Files.deleteIfExists(dir);
            } catch (IOException e) {
                // not empty (someone put something there) or gone: either way no half store is left
            }
        }
    }

    // ---- writing

    /** Seals the current segment and starts the next one. */
    private void open(Segment.Kind kind, long base) throws IOException {
        seal();
        long id = nextId++;
        Path p = dir.resolve(Segment.fileName(id));
        FileChannel ch = FileChannel.open(p, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
        out = new Output(id, kind, p, ch);
        buffer.clear();
        buffer.put(Segment.header(id, kind, base));
        if (kind == Segment.Kind.MERGED) out.maxTimestamp = snapshotTimestamp;
    }

    private void write(long revision, long timestamp, long expiresAt, byte type, boolean last, byte[] key, byte[] value)
            throws IOException {
        int len = EntryCodec.size(key.length, value.length);
        int offset = (int) out.size;
        if (len > buffer.remaining()) flush();
        if (len > buffer.capacity()) {
            // a value larger than the buffer: encoded on its own and written straight through
            ByteBuffer big = ByteBuffer.allocate(len).order(ByteOrder.LITTLE_ENDIAN);
            EntryCodec.encode(big, revision, timestamp, expiresAt, type, last, key, value);
            writeFully(big.flip());
        } else {
            EntryCodec.encode(buffer, revision, timestamp, expiresAt, type, last, key, value);
        }
        out.size += len;
        out.maxTimestamp = Math.max(out.maxTimestamp, timestamp);
        out.items.add(new HintFile.Item(key.clone(), revision, expiresAt, offset, len, type));
    }

    private void flush() throws IOException {
        buffer.flip();
        writeFully(buffer);
        buffer.clear();
    }

    private void writeFully(ByteBuffer b) throws IOException {
        while (b.hasRemaining()) out.channel.write(b);
    }

    /**
     * Writes out the rest of the current segment and hands it to the sealer: fsync, close, hint. At most two
     * segments wait for it, which bounds the hint items in memory and reports a failure soon.
     */
    private void seal() throws IOException {
        Output o = out;
        if (o == null) return;
        flush();
        out = null;
        sealed.add(new Sealed(o.path, o.id, o.kind, o.size));
        sealing.add(sealer.submit(() -> {
            try (FileChannel ch = o.channel) {
                ch.force(true);
            }
            HintFile.write(Segment.hintPath(o.path), o.id, o.size, o.maxTimestamp, o.items);
            return null;
        }));
        while (sealing.size() > 2) await(sealing.poll());
    }

    private static void await(Future<?> f) throws IOException {
        try {
            f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.io.InterruptedIOException("interrupted while sealing segments");
        } catch (ExecutionException e) {
            switch (e.getCause()) {
                case IOException io -> throw io;
                case RuntimeException r -> throw r;
                case Error err -> throw err;
                default -> throw new IOException(e.getCause());
            }
        }
    }

    /**
     * Snapshot keys are added in any order, so a duplicate shows only when all merged segments' hints (each sorted
     * by key) are merged: one pass, no set of all keys in memory.
     */
    private void checkNoDuplicateKeys() {
        List<HintFile.Run> runs = new ArrayList<>();
        List<HintFile.Item> heads = new ArrayList<>();
        for (Sealed s : sealed) {
            if (s.kind() != Segment.Kind.MERGED) continue;
            HintFile.Run r = HintFile.open(Segment.hintPath(s.path()), s.id(), s.size());
            if (r == null) throw new CaskadeException("hint just written is unreadable: " + s.path());
            runs.add(r);
            heads.add(r.next());
        }
        java.util.PriorityQueue<Integer> queue = new java.util.PriorityQueue<>((a, b) ->
                Arrays.compareUnsigned(heads.get(a).key(), heads.get(b).key()));
        for (int i = 0; i < runs.size(); i++) if (heads.get(i) != null) queue.add(i);
        byte[] previous = null;
        while (!queue.isEmpty()) {
            int i = queue.poll();
            byte[] key = heads.get(i).key();
            require(previous == null || !Arrays.equals(previous, key), "snapshot key added twice: " + show(key));
            previous = key;
            heads.set(i, runs.get(i).next());
            if (heads.get(i) != null) queue.add(i);
        }
    }

    // ---- checks

    private void checkUsable() {
        if (finished) throw new IllegalStateException("loader already finished: " + dir);
        if (closed) throw new IllegalStateException("loader is closed: " + dir);
    }

    private void checkKey(byte[] key) {
        Objects.requireNonNull(key, "key");
        require(key.length > 0, "key must not be empty");
        require(
                key.length <= options.maxKeyBytes(),
                "key too large: " + key.length + " bytes > limit " + options.maxKeyBytes());
    }

    private void checkValue(byte[] value) {
        Objects.requireNonNull(value, "value");
        require(
                value.length <= options.maxValueBytes(),
                "value too large: " + value.length + " bytes > limit " + options.maxValueBytes());
    }

    /** Offsets in hints are 32-bit: a segment, even one holding a single huge commit, stays below 2 GiB. */
    private void checkFits(long len) {
        require(out.size + len <= Integer.MAX_VALUE, "entry too large for one segment: " + len + " bytes");
    }

    private static void checkEmpty(Path dir) throws IOException {
        boolean marker = false;
        List<String> others = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            for (Path p : ds) {
                String n = p.getFileName().toString();
                if (n.equals(MARKER)) marker = true;
                else if (!n.equals("LOCK")) others.add(n);
            }
        }
        if (others.isEmpty()) return;
        if (marker && others.stream().allMatch(Loader::loaderFile)) return; // a load cut short: cleared under the lock
        Collections.sort(others);
        throw new IllegalArgumentException("directory is not empty: " + dir + " holds "
                + (others.size() > 3 ? others.subList(0, 3) + " and " + (others.size() - 3) + " more" : others));
    }

    /** Deletes what a loader that died before {@link #finish()} left; its marker says the files are its own. */
    private static void clearUnfinished(Path dir) throws IOException {
        Path marker = dir.resolve(MARKER);
        if (!Files.exists(marker)) return;
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            for (Path p : ds) if (loaderFile(p.getFileName().toString())) Files.delete(p);
        }
        Files.delete(marker);
        fsyncDirectory(dir);
    }

    private static boolean loaderFile(String name) {
        return name.matches("[0-9]{20}\\.(seg|hint|hint\\.tmp)");
    }

    private static void fsyncDirectory(Path dir) throws IOException {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        }
    }

    private CaskadeException failed(IOException e) {
        return new CaskadeException("load into " + dir + " failed: " + e.getMessage(), e);
    }

    private static void require(boolean ok, String message) {
        if (!ok) throw new IllegalArgumentException(message);
    }

    /** A key for a message: as text when it is printable ASCII, else in hex; long keys are cut. */
    private static String show(byte[] key) {
        byte[] k = key.length > 64 ? Arrays.copyOf(key, 64) : key;
        boolean text = true;
        for (byte b : k) text &= b >= 0x20 && b < 0x7f;
        String s = text
                ? "'" + new String(k, java.nio.charset.StandardCharsets.US_ASCII) + "'"
                : "0x" + java.util.HexFormat.of().formatHex(k);
        return key.length > 64 ? s + "... (" + key.length + " bytes)" : s;
    }
}
