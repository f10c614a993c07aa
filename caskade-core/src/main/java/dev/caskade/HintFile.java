package dev.caskade;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.zip.CRC32C;

/**
 * The key index of one sealed segment, so that open reads a few bytes per entry instead of the whole log.
 * Written once, atomically (temporary file, fsync, rename); any doubt about it (bad CRC, wrong segment,
 * wrong length) makes open scan the segment instead.
 *
 * <pre>
 * header, 16 bytes:  magic "CSKH" | u16 version 1 | u16 reserved | u64 segment id
 * one per entry of the segment, in segment order:
 *   u64 revision | u64 expiresAt | u32 offset | u32 size | u8 type | u32 keyLen | key
 * trailer, 28 bytes: u64 segment length it describes | u64 entry count | u64 newest commit time (retention)
 *                    | u32 crc32c of everything before it
 * </pre>
 */
final class HintFile {
    static final int MAGIC = 0x484b5343; // "CSKH" read little-endian
    private static final int HEADER = 16;
    private static final int TRAILER = 28;
    private static final int ENTRY_FIXED = 8 + 8 + 4 + 4 + 1 + 4;

    /** A whole hint file. */
    record Hints(List<Item> items, long maxTimestamp) {}

    /** One hint entry: where an entry of the segment is and what it says, without its value. */
    record Item(byte[] key, long revision, long expiresAt, int offset, int size, byte type) {}

    private HintFile() {}

    static void write(Path hint, long segmentId, long segmentLength, long maxTimestamp, List<Item> items) throws IOException {
        long bytes = HEADER + TRAILER;
        for (Item i : items) bytes += ENTRY_FIXED + i.key().length;
        ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(bytes)).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(MAGIC).putShort((short) 1).putShort((short) 0).putLong(segmentId);
        for (Item i : items) {
            b.putLong(i.revision()).putLong(i.expiresAt()).putInt(i.offset()).putInt(i.size()).put(i.type());
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
     * Reads a hint file. Returns null (and the caller scans the segment) when the file is missing or does
     * not describe exactly {@code segmentId} at {@code segmentLength} bytes with a good CRC.
     */
    static Hints read(Path hint, long segmentId, long segmentLength) {
        byte[] all;
        try {
            if (!Files.exists(hint)) return null;
            all = Files.readAllBytes(hint);
        } catch (IOException e) {
            return null;
        }
        if (all.length < HEADER + TRAILER) return null;
        ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        int end = all.length - TRAILER;
        CRC32C crc = new CRC32C();
        crc.update(all, 0, all.length - 4);
        if (b.getInt(all.length - 4) != (int) crc.getValue()) return null;
        if (b.getInt(0) != MAGIC || b.getShort(4) != 1 || b.getLong(8) != segmentId) return null;
        if (b.getLong(end) != segmentLength) return null;
        long count = b.getLong(end + 8);
        if (count < 0 || count > (end - HEADER) / ENTRY_FIXED) return null;
        java.util.ArrayList<Item> items = new java.util.ArrayList<>((int) count);
        b.position(HEADER);
        for (long n = 0; n < count; n++) {
            if (end - b.position() < ENTRY_FIXED) return null;
            long rev = b.getLong();
            long exp = b.getLong();
            int off = b.getInt();
            int size = b.getInt();
            byte type = b.get();
            int keyLen = b.getInt();
            if (keyLen <= 0 || keyLen > end - b.position() || off < Segment.HEADER || size < EntryCodec.HEADER) {
                return null;
            }
            byte[] key = new byte[keyLen];
            b.get(key);
            items.add(new Item(key, rev, exp, off, size, type));
        }
        return b.position() == end ? new Hints(items, b.getLong(end + 16)) : null;
    }
}
