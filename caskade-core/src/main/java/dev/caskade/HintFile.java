package dev.caskade;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.zip.CRC32C;

/**
 * The key index of one sealed segment, so that open reads a few bytes per entry instead of the whole log.
 * Entries are sorted by key, so that open merges all hint files in one pass and builds the key directory
 * bottom-up instead of inserting key by key. Written once, atomically (temporary file, fsync, rename);
 * any doubt about it (bad CRC, wrong segment, wrong length) makes open scan the segment instead.
 *
 * <pre>
 * header, 16 bytes:  magic "CSKH" | u16 version 2 | u16 reserved | u64 segment id
 * one per entry of the segment, sorted by key, then revision:
 *   u64 revision | u64 expiresAt | u32 offset | u32 size | u8 type | u32 keyLen | key
 * trailer, 28 bytes: u64 segment length it describes | u64 entry count | u64 newest commit time (retention)
 *                    | u32 crc32c of everything before it
 * </pre>
 */
final class HintFile {
    static final int MAGIC = 0x484b5343; // "CSKH" read little-endian
    private static final short VERSION = 2;
    private static final int HEADER = 16;
    private static final int TRAILER = 28;
    private static final int ENTRY_FIXED = 8 + 8 + 4 + 4 + 1 + 4;

    /** Key order (unsigned bytes), then revision, then place: the order of hint files and of open's merge. */
    static final Comparator<Item> ORDER = (a, b) -> {
        int c = Arrays.compareUnsigned(a.key(), b.key());
        if (c == 0) c = Long.compare(a.revision(), b.revision());
        return c != 0 ? c : Integer.compare(a.offset(), b.offset());
    };

    /** One hint entry: where an entry of the segment is and what it says, without its value. */
    record Item(byte[] key, long revision, long expiresAt, int offset, int size, byte type) {}

    /** A sound hint file, mapped, read item by item in key order. */
    static final class Run {
        private final ByteBuffer b;
        private final long count;
        final long maxTimestamp;
        private long read;
        private int pos = HEADER;

        private Run(ByteBuffer b, long count, long maxTimestamp) {
            this.b = b;
            this.count = count;
            this.maxTimestamp = maxTimestamp;
        }

        /** The next item, or null at the end. */
        Item next() {
            if (read == count) return null;
            read++;
            long rev = b.getLong(pos);
            long exp = b.getLong(pos + 8);
            int off = b.getInt(pos + 16);
            int size = b.getInt(pos + 20);
            byte type = b.get(pos + 24);
            int keyLen = b.getInt(pos + 25);
            byte[] key = new byte[keyLen];
            b.get(pos + ENTRY_FIXED, key);
            pos += ENTRY_FIXED + keyLen;
            return new Item(key, rev, exp, off, size, type);
        }
    }

    private HintFile() {}

    static void write(Path hint, long segmentId, long segmentLength, long maxTimestamp, List<Item> unsorted)
            throws IOException {
        List<Item> items = new ArrayList<>(unsorted);
        items.sort(ORDER);
        long bytes = HEADER + TRAILER;
        for (Item i : items) bytes += ENTRY_FIXED + i.key().length;
        ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(bytes)).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(MAGIC).putShort(VERSION).putShort((short) 0).putLong(segmentId);
        for (Item i : items) {
            b.putLong(i.revision())
                    .putLong(i.expiresAt())
                    .putInt(i.offset())
                    .putInt(i.size())
                    .put(i.type());
            b.putInt(i.key().length).put(i.key());
        }
        b.putLong(segmentLength).putLong(items.size()).putLong(maxTimestamp);
        CRC32C crc = new CRC32C();
        crc.update(b.array(), 0, b.position());
        b.putInt((int) crc.getValue());
        b.flip();
        Path tmp = hint.resolveSibling(hint.getFileName() + ".tmp");
        try (FileChannel ch = FileChannel.open(
                tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
            while (b.hasRemaining()) ch.write(b);
            ch.force(true);
        }
        Files.move(tmp, hint, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    /**
     * Opens a hint file for reading in key order. Returns null (and the caller scans the segment) when the
     * file is missing or does not describe exactly {@code segmentId} at {@code segmentLength} bytes with a
     * good CRC and well-formed entries.
     */
    static Run open(Path hint, long segmentId, long segmentLength) {
        ByteBuffer b;
        try (FileChannel ch = FileChannel.open(hint, StandardOpenOption.READ)) {
            long len = ch.size();
            if (len < HEADER + TRAILER || len > Integer.MAX_VALUE) return null;
            b = ch.map(FileChannel.MapMode.READ_ONLY, 0, len).order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException e) {
            return null;
        }
        if (!intact(b, segmentId)) return null;
        int end = b.capacity() - TRAILER;
        if (b.getLong(end) != segmentLength) return null;
        long count = b.getLong(end + 8);
        if (count < 0 || count > (end - HEADER) / ENTRY_FIXED) return null;
        // walk once: every length must fit, and the entries must end exactly at the trailer
        int pos = HEADER;
        for (long n = 0; n < count; n++) {
            if (end - pos < ENTRY_FIXED) return null;
            int keyLen = b.getInt(pos + 25);
            if (keyLen <= 0
                    || keyLen > end - pos - ENTRY_FIXED
                    || b.getInt(pos + 16) < Segment.HEADER
                    || b.getInt(pos + 20) < EntryCodec.HEADER) {
                return null;
            }
            pos += ENTRY_FIXED + keyLen;
        }
        if (pos != end) return null;
        return new Run(b, count, b.getLong(end + 16));
    }

    /**
     * The segment length an intact hint file (good CRC, this segment's id) describes, or -1. A sealed segment
     * shorter than this lost acknowledged commits; one longer is a hint gone stale and is simply scanned.
     */
    static long describedLength(Path hint, long segmentId) {
        try (FileChannel ch = FileChannel.open(hint, StandardOpenOption.READ)) {
            long len = ch.size();
            if (len < HEADER + TRAILER || len > Integer.MAX_VALUE) return -1;
            ByteBuffer b = ch.map(FileChannel.MapMode.READ_ONLY, 0, len).order(ByteOrder.LITTLE_ENDIAN);
            return intact(b, segmentId) ? b.getLong(b.capacity() - TRAILER) : -1;
        } catch (IOException e) {
            return -1;
        }
    }

    /** The items of an intact hint file that lie at or beyond {@code length}: what a truncation lost. */
    static long countFrom(Path hint, long segmentId, long length) {
        long described = describedLength(hint, segmentId);
        if (described < 0) return 0;
        Run r = open(hint, segmentId, described);
        if (r == null) return 0;
        long n = 0;
        for (Item i = r.next(); i != null; i = r.next()) if (i.offset() >= length) n++;
        return n;
    }

    private static boolean intact(ByteBuffer b, long segmentId) {
        int all = b.capacity();
        CRC32C crc = new CRC32C();
        crc.update(b.slice(0, all - 4));
        if (b.getInt(all - 4) != (int) crc.getValue()) return false;
        return b.getInt(0) == MAGIC && b.getShort(4) == VERSION && b.getLong(8) == segmentId;
    }

    /** Reads a whole hint file (verify), or null when it is not sound. */
    static List<Item> read(Path hint, long segmentId, long segmentLength) {
        Run r = open(hint, segmentId, segmentLength);
        if (r == null) return null;
        List<Item> items = new ArrayList<>();
        for (Item i = r.next(); i != null; i = r.next()) items.add(i);
        return items;
    }
}
