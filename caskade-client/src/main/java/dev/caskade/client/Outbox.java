package dev.caskade.client;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.HexFormat;
import java.util.List;
import java.util.zip.CRC32C;

/**
 * The durable queue of a replica's writes: {@code DIR/outbox}, append-only, one record per write, each fsynced before
 * {@link #append} returns; {@code DIR/outbox.ack}, the sequence of the last write the server answered; {@code
 * DIR/replica-id}, made once, the first half of every write's idempotency key.
 *
 * <p>A record is {@code int length, int crc32c, payload} (big-endian), the CRC over the length and the payload, so a
 * write cut short by a crash (a torn tail) is recognised and dropped on open: its {@code append} never returned, so
 * nobody was told it was queued. The payload is {@code long sequence, byte kind, long expectedRevision, long
 * ttlSeconds (0: none), int keyLength, key, int valueLength, value}. The ack file is {@code long sequence, int
 * crc32c}, replaced whole (write, fsync, rename). Once every record is acked the log is truncated; sequences keep
 * counting from the ack. Thread-safe; one process at a time (a file lock on the log).
 */
final class Outbox implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(Outbox.class.getName());
    private static final int HEADER = 8;
    private static final int FIXED = 8 + 1 + 8 + 8 + 4 + 4;
    private static final int MAX_RECORD = 1 << 30;
    private static final OfflineWrite.Kind[] KINDS = OfflineWrite.Kind.values();

    private final Path file;
    private final Path ackFile;
    private final FileChannel channel;
    private final FileLock lock;
    private final String replicaId;
    private final ArrayDeque<OfflineWrite> pending = new ArrayDeque<>();
    private final long droppedBytes;
    private long acked;
    private long nextSequence;

    private Outbox(Path dir) throws IOException {
        this.file = dir.resolve("outbox");
        this.ackFile = dir.resolve("outbox.ack");
        this.replicaId = replicaId(dir);
        this.channel =
                FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
        FileLock l;
        try {
            l = channel.tryLock();
        } catch (OverlappingFileLockException e) {
            l = null;
        }
        if (l == null) {
            channel.close();
            throw new IllegalStateException("the outbox " + file + " is in use by another replica");
        }
        this.lock = l;
        this.acked = readAck(ackFile);
        long end = recover();
        this.droppedBytes = channel.size() - end;
        if (droppedBytes > 0) {
            LOG.log(
                    System.Logger.Level.WARNING,
                    "outbox {0}: dropped a torn tail of {1} bytes (a write cut short by a crash; its call never"
                            + " returned)",
                    file,
                    droppedBytes);
            channel.truncate(end);
            channel.force(true);
        }
        channel.position(end);
        long last = pending.isEmpty() ? acked : pending.getLast().sequence();
        this.nextSequence = Math.max(last, acked) + 1;
    }

    /** Opens (and recovers) the outbox of the replica in {@code dir}. */
    static Outbox open(Path dir) {
        try {
            return new Outbox(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open the outbox in " + dir + ": " + e.getMessage(), e);
        }
    }

    /** This replica's id, random, made on the first open: with a sequence, a write's idempotency key. */
    String replicaId() {
        return replicaId;
    }

    /** The idempotency key of {@code write}: {@code <replica id>-<sequence>}. */
    String idempotencyKey(OfflineWrite write) {
        return replicaId + "-" + write.sequence();
    }

    /** Bytes of a torn tail dropped when this outbox was opened. */
    long droppedBytes() {
        return droppedBytes;
    }

    /** Appends a write and fsyncs it; it has the next sequence. */
    synchronized OfflineWrite append(
            OfflineWrite.Kind kind, byte[] key, byte[] value, Duration ttl, long expectedRevision) {
        OfflineWrite w = new OfflineWrite(nextSequence, kind, key.clone(), value.clone(), ttl, expectedRevision);
        ByteBuffer b = encode(w);
        try {
            while (b.hasRemaining()) channel.write(b);
            channel.force(false);
        } catch (IOException e) {
            // the record may be half written: cut it off, so that what follows is not appended after garbage
            try {
                channel.truncate(channel.position() - b.position());
            } catch (IOException ignored) {
                // the next open drops the torn tail anyway
            }
            throw new UncheckedIOException("cannot write to the outbox " + file + ": " + e.getMessage(), e);
        }
        nextSequence++;
        pending.addLast(w);
        return w;
    }

    /** The oldest write not acked yet, or null. */
    synchronized OfflineWrite first() {
        return pending.peekFirst();
    }

    /** Every write not acked yet, oldest first. */
    synchronized List<OfflineWrite> pending() {
        return List.copyOf(pending);
    }

    synchronized int size() {
        return pending.size();
    }

    /**
     * Records that the server answered {@code write} (the oldest pending one): persisted before this returns, so a
     * restart does not send it again. Truncates the log once nothing is pending.
     */
    synchronized void ack(OfflineWrite write) {
        OfflineWrite head = pending.peekFirst();
        if (head == null || head.sequence() != write.sequence())
            throw new IllegalStateException("ack of " + write + " but the oldest pending write is " + head);
        try {
            writeAck(ackFile, write.sequence());
            acked = write.sequence();
            pending.removeFirst();
            if (pending.isEmpty()) {
                channel.truncate(0);
                channel.position(0);
                channel.force(true);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot record the ack in " + ackFile + ": " + e.getMessage(), e);
        }
    }

    @Override
    public synchronized void close() {
        try {
            if (lock.isValid()) lock.release();
            channel.close();
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "outbox {0}: close failed: {1}", file, e);
        }
    }

    /** Reads the records after the ack into {@link #pending}; returns where the valid log ends. */
    private long recover() throws IOException {
        long size = channel.size();
        long at = 0;
        ByteBuffer header = ByteBuffer.allocate(HEADER);
        while (at + HEADER <= size) {
            header.clear();
            if (read(header, at) < HEADER) break;
            int length = header.getInt(0);
            int crc = header.getInt(4);
            if (length < FIXED || length > MAX_RECORD || at + HEADER + length > size) break;
            ByteBuffer payload = ByteBuffer.allocate(length);
            if (read(payload, at + HEADER) < length) break;
            OfflineWrite w = crc(length, payload.array()) == crc ? decode(payload.flip()) : null;
            if (w == null) {
                // a torn write is always the last thing in the log (appends are serialised); damage with records
                // after it is not a crash's doing, and dropping those records would lose acknowledged writes
                if (at + HEADER + length < size)
                    throw new IOException("damaged record at offset " + at + " of " + file + " (not a torn tail)");
                break;
            }
            if (w.sequence() > acked) pending.addLast(w);
            at += HEADER + length;
        }
        return at;
    }

    private int read(ByteBuffer b, long position) throws IOException {
        int total = 0;
        while (b.hasRemaining()) {
            int n = channel.read(b, position + total);
            if (n < 0) break;
            total += n;
        }
        return total;
    }

    static ByteBuffer encode(OfflineWrite w) {
        int length = FIXED + w.key().length + w.value().length;
        ByteBuffer b = ByteBuffer.allocate(HEADER + length);
        b.putInt(length).putInt(0);
        b.putLong(w.sequence())
                .put((byte) w.kind().ordinal())
                .putLong(w.expectedRevision())
                .putLong(w.ttl() == null ? 0 : w.ttl().toSeconds())
                .putInt(w.key().length)
                .put(w.key())
                .putInt(w.value().length)
                .put(w.value());
        byte[] payload = new byte[length];
        b.get(HEADER, payload);
        b.putInt(4, crc(length, payload));
        return b.flip();
    }

    /** The write in {@code b}, or null when the payload does not hold together (damage the CRC did not catch). */
    private static OfflineWrite decode(ByteBuffer b) {
        long sequence = b.getLong();
        int kind = b.get();
        long expected = b.getLong();
        long ttl = b.getLong();
        int keyLength = b.getInt();
        if (kind < 0 || kind >= KINDS.length || keyLength < 1 || keyLength > b.remaining() - 4) return null;
        byte[] key = new byte[keyLength];
        b.get(key);
        int valueLength = b.getInt();
        if (valueLength != b.remaining()) return null;
        byte[] value = new byte[valueLength];
        b.get(value);
        return new OfflineWrite(sequence, KINDS[kind], key, value, ttl == 0 ? null : Duration.ofSeconds(ttl), expected);
    }

    private static int crc(int length, byte[] payload) {
        CRC32C c = new CRC32C();
        c.update(ByteBuffer.allocate(4).putInt(length).flip());
        c.update(payload);
        return (int) c.getValue();
    }

    private static long readAck(Path ackFile) throws IOException {
        if (!Files.exists(ackFile)) return 0;
        byte[] b = Files.readAllBytes(ackFile);
        ByteBuffer buf = ByteBuffer.wrap(b);
        if (b.length != 12) throw new IOException("damaged ack file " + ackFile + " (" + b.length + " bytes)");
        long sequence = buf.getLong(0);
        CRC32C c = new CRC32C();
        c.update(b, 0, 8);
        if ((int) c.getValue() != buf.getInt(8)) throw new IOException("damaged ack file " + ackFile + " (CRC)");
        return sequence;
    }

    private static void writeAck(Path ackFile, long sequence) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(12).putLong(sequence);
        CRC32C c = new CRC32C();
        c.update(b.array(), 0, 8);
        b.putInt((int) c.getValue()).flip();
        Path tmp = ackFile.resolveSibling(ackFile.getFileName() + ".tmp");
        try (FileChannel ch = FileChannel.open(
                tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            while (b.hasRemaining()) ch.write(b);
            ch.force(false);
        }
        Files.move(tmp, ackFile, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    /** The replica's id from {@code DIR/replica-id}, made (random, 128 bits) and stored the first time. */
    private static String replicaId(Path dir) throws IOException {
        Path f = dir.resolve("replica-id");
        if (Files.exists(f)) {
            String id = Files.readString(f, StandardCharsets.US_ASCII).strip();
            if (!id.matches("[0-9a-f]{32}")) throw new IOException("damaged replica id in " + f + ": " + id);
            return id;
        }
        byte[] random = new byte[16];
        new SecureRandom().nextBytes(random);
        String id = HexFormat.of().formatHex(random);
        Path tmp = dir.resolve("replica-id.tmp");
        try (FileChannel ch = FileChannel.open(
                tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            ch.write(ByteBuffer.wrap((id + "\n").getBytes(StandardCharsets.US_ASCII)));
            ch.force(false);
        }
        Files.move(tmp, f, StandardCopyOption.ATOMIC_MOVE);
        // the rename itself must survive a power loss: a new id would give unsent writes new idempotency keys
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "cannot fsync the directory {0}: {1}", dir, e);
        }
        return id;
    }
}
