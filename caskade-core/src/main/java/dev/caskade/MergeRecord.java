package dev.caskade;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32C;

/**
 * The commit point of a merge: once {@code <id>.merge} exists, the merge outputs are complete and its
 * inputs are garbage, whichever of them a crash left behind. Deleting inputs only after this record is
 * durable means no crash can leave an older put without the newer tombstone that hid it.
 *
 * <pre>
 * u32 count | count x u64 input segment id | u32 crc32c of the bytes before it
 * </pre>
 */
final class MergeRecord {
    private MergeRecord() {}

    static Path path(Path dir, long id) {
        return dir.resolve(String.format("%020d.merge", id));
    }

    static void write(Path dir, long id, List<Segment> inputs) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(4 + 8 * inputs.size() + 4).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(inputs.size());
        for (Segment s : inputs) b.putLong(s.id);
        CRC32C crc = new CRC32C();
        crc.update(b.array(), 0, b.position());
        b.putInt((int) crc.getValue()).flip();
        Path p = path(dir, id);
        Path tmp = p.resolveSibling(p.getFileName() + ".tmp");
        try (FileChannel ch = FileChannel.open(
                tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            while (b.hasRemaining()) ch.write(b);
            ch.force(true);
        }
        Files.move(tmp, p, StandardCopyOption.ATOMIC_MOVE);
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        }
    }

    /** Deletes what finished merges left behind; called at open before anything is read. */
    static void finishPending(Path dir) throws IOException {
        List<Path> records = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "*.merge")) {
            for (Path p : ds) records.add(p);
        }
        for (Path r : records) {
            long[] inputs = inputs(Files.readAllBytes(r));
            if (inputs != null) {
                for (long id : inputs) {
                    Path seg = dir.resolve(Segment.fileName(id));
                    Files.deleteIfExists(Segment.hintPath(seg));
                    Files.deleteIfExists(seg);
                }
            }
            Files.delete(r);
        }
    }

    /** The input segment ids a record names, or null when its bytes are not a sound record. */
    static long[] inputs(byte[] all) {
        if (all.length < 8) return null;
        ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        int n = b.getInt(0);
        CRC32C crc = new CRC32C();
        crc.update(all, 0, all.length - 4);
        if (n < 0 || all.length != 8 + 8L * n || b.getInt(all.length - 4) != (int) crc.getValue()) return null;
        long[] ids = new long[n];
        for (int i = 0; i < n; i++) ids[i] = b.getLong(4 + 8 * i);
        return ids;
    }

    /** Deletes the record once every input file is gone. */
    static boolean deleteIfDone(Path dir, long id, List<Segment> inputs) {
        for (Segment s : inputs) if (Files.exists(s.path)) return false;
        try {
            Files.deleteIfExists(path(dir, id));
            return true;
        } catch (IOException e) {
            return false; // open deletes it next time
        }
    }
}
