package dev.caskade.s3;

import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.zip.CRC32C;
import java.util.zip.DataFormatException;
import java.util.zip.Deflater;
import java.util.zip.Inflater;

/**
 * The framing shared by snapshot and log objects: a header, then independently compressed blocks, then an end
 * record. Blocks hold whole records, so each one can be checked and decoded on its own (restore decodes them in
 * parallel). Layout, little-endian:
 *
 * <pre>
 * header  magic(4) | u16 version | u16 header length H | H-12 bytes of kind-specific fields | u32 CRC32C of the preceding bytes
 * block   u32 raw length (> 0) | u32 stored length | u32 CRC32C of the raw bytes | u8 method (0 stored, 1 deflate) | stored bytes
 * end     u32 0 | u64 record count | u64 raw bytes | u32 CRC32C of the end's first 20 bytes
 * </pre>
 *
 * The CRC of each block covers the raw bytes, so both a flipped bit in transit and a broken decompressor are
 * caught; the end record's counts catch a truncated or spliced object.
 */
final class BlockCodec {
    static final int VERSION = 1;
    static final int BLOCK_HEADER = 13;
    static final int END = 24;
    static final int DEFAULT_BLOCK = 1 << 20;
    private static final byte STORED = 0;
    private static final byte DEFLATE = 1;

    private BlockCodec() {}

    /** A block as stored: decode it (possibly on another thread) to get its raw records. */
    record Block(int rawLength, byte method, int crc, byte[] stored, String object, long offset) {
        byte[] decode() {
            byte[] raw;
            if (method == STORED) {
                raw = stored;
            } else {
                raw = new byte[rawLength];
                Inflater inf = new Inflater();
                try {
                    inf.setInput(stored);
                    int n = 0;
                    while (n < rawLength && !inf.finished()) {
                        int k = inf.inflate(raw, n, rawLength - n);
                        if (k == 0 && (inf.needsInput() || inf.needsDictionary())) break;
                        n += k;
                    }
                    if (n != rawLength) throw corrupt("block decompresses to " + n + " bytes, expected " + rawLength);
                } catch (DataFormatException e) {
                    throw corrupt("bad compressed data: " + e.getMessage());
                } finally {
                    inf.end();
                }
            }
            if (BlockCodec.crc(raw, 0, raw.length) != crc) throw corrupt("checksum mismatch");
            return raw;
        }

        private CorruptObjectException corrupt(String what) {
            return new CorruptObjectException(what, object, offset);
        }
    }

    static int crc(byte[] b, int off, int len) {
        CRC32C c = new CRC32C();
        c.update(b, off, len);
        return (int) c.getValue();
    }

    static ByteBuffer le(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }

    /**
     * Writes a header, blocks of whole records, and the end record. Not thread-safe. With an executor, blocks
     * are compressed on it, several at a time, and written in order as they finish.
     */
    static final class Writer {
        private final OutputStream out;
        private final int blockBytes;
        private final ByteArrayOutputStream raw;
        private final Executor pool;
        private final int inFlight;
        private final Deque<CompletableFuture<byte[]>> pending = new ArrayDeque<>();
        private long records;
        private long rawBytes;
        private long written;

        Writer(OutputStream out, byte[] magic, ByteBuffer fields, int blockBytes) throws IOException {
            this(out, magic, fields, blockBytes, null, 0);
        }

        Writer(OutputStream out, byte[] magic, ByteBuffer fields, int blockBytes, Executor pool, int inFlight)
                throws IOException {
            this.out = out;
            this.blockBytes = blockBytes;
            this.pool = pool;
            this.inFlight = Math.max(1, inFlight);
            this.raw = new ByteArrayOutputStream(Math.min(blockBytes, 1 << 20) + 1024);
            int h = 12 + fields.remaining();
            ByteBuffer head = le(h);
            head.put(magic).putShort((short) VERSION).putShort((short) h).put(fields);
            head.putInt(crc(head.array(), 0, h - 4));
            write(head.array(), h);
        }

        /** Adds one record; it never straddles two blocks. */
        void record(byte[] b, int off, int len) throws IOException {
            if (raw.size() > 0 && raw.size() + len > blockBytes) flushBlock();
            raw.write(b, off, len);
            records++;
            rawBytes += len;
        }

        long records() {
            return records;
        }

        long bufferedBytes() {
            return raw.size();
        }

        long written() {
            return written;
        }

        void flushBlock() throws IOException {
            if (raw.size() == 0) return;
            byte[] data = raw.toByteArray();
            raw.reset();
            if (pool == null) {
                byte[] block = encode(data);
                write(block, block.length);
                return;
            }
            pending.add(CompletableFuture.supplyAsync(() -> encode(data), pool));
            while (pending.size() > inFlight) writeOldest();
        }

        private void writeOldest() throws IOException {
            byte[] block;
            try {
                block = pending.poll().join();
            } catch (CompletionException e) {
                if (e.getCause() instanceof RuntimeException r) throw r;
                throw e;
            }
            write(block, block.length);
        }

        /** One framed block: header, then the deflated bytes, or the raw ones when deflate does not shrink them. */
        private static byte[] encode(byte[] data) {
            int n = data.length;
            Deflater deflater = new Deflater(Deflater.BEST_SPEED);
            byte[] out = new byte[BLOCK_HEADER + n];
            int stored = 0;
            try {
                deflater.setInput(data);
                deflater.finish();
                while (!deflater.finished() && stored < n) {
                    stored += deflater.deflate(out, BLOCK_HEADER + stored, n - stored);
                }
            } finally {
                deflater.end();
            }
            boolean compressed = deflater.finished() && stored < n;
            if (!compressed) System.arraycopy(data, 0, out, BLOCK_HEADER, n);
            int body = compressed ? stored : n;
            ByteBuffer.wrap(out, 0, BLOCK_HEADER)
                    .order(ByteOrder.LITTLE_ENDIAN)
                    .putInt(n)
                    .putInt(body)
                    .putInt(crc(data, 0, n))
                    .put(compressed ? DEFLATE : STORED);
            return body == n && !compressed ? out : java.util.Arrays.copyOf(out, BLOCK_HEADER + body);
        }

        void finish() throws IOException {
            flushBlock();
            while (!pending.isEmpty()) writeOldest();
            ByteBuffer end = le(END);
            end.putInt(0).putLong(records).putLong(rawBytes);
            end.putInt(crc(end.array(), 0, END - 4));
            write(end.array(), END);
            out.flush();
        }

        private void write(byte[] b, int n) throws IOException {
            out.write(b, 0, n);
            written += n;
        }
    }

    /** Reads the header, then hands out stored blocks in order; checks the end record. */
    static final class Reader {
        private final InputStream in;
        private final String object;
        private final ByteBuffer fields;
        private long offset;
        private long records = -1;
        private long rawBytes;
        private long seenRaw;

        Reader(InputStream in, byte[] magic, String object) throws IOException {
            this.in = in;
            this.object = object;
            byte[] first = readFully(8);
            ByteBuffer b = ByteBuffer.wrap(first).order(ByteOrder.LITTLE_ENDIAN);
            byte[] m = new byte[4];
            b.get(m);
            if (!java.util.Arrays.equals(m, magic)) {
                throw new CorruptObjectException(
                        "not a " + new String(magic, java.nio.charset.StandardCharsets.US_ASCII)
                                + " object (bad magic)",
                        object,
                        0);
            }
            int version = b.getShort() & 0xffff;
            int h = b.getShort() & 0xffff;
            if (version != VERSION) throw new CorruptObjectException("unsupported version " + version, object, 4);
            if (h < 12) throw new CorruptObjectException("bad header length " + h, object, 6);
            byte[] rest = readFully(h - 8);
            byte[] all = new byte[h];
            System.arraycopy(first, 0, all, 0, 8);
            System.arraycopy(rest, 0, all, 8, h - 8);
            int stored = ByteBuffer.wrap(all, h - 4, 4)
                    .order(ByteOrder.LITTLE_ENDIAN)
                    .getInt();
            if (crc(all, 0, h - 4) != stored) throw new CorruptObjectException("header checksum mismatch", object, 0);
            fields = ByteBuffer.wrap(all, 8, h - 12).slice().order(ByteOrder.LITTLE_ENDIAN);
            offset = h;
        }

        ByteBuffer fields() {
            return fields.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        }

        /** The next stored block, or null after the end record (which is then checked). */
        Block next() throws IOException {
            if (records >= 0) return null;
            long at = offset;
            byte[] head = readFully(4);
            int rawLength = ByteBuffer.wrap(head).order(ByteOrder.LITTLE_ENDIAN).getInt();
            if (rawLength == 0) {
                byte[] rest = readFully(END - 4);
                ByteBuffer e = le(END);
                e.put(head).put(rest);
                int crc = e.getInt(END - 4);
                if (crc(e.array(), 0, END - 4) != crc)
                    throw new CorruptObjectException("end checksum mismatch", object, at);
                records = e.getLong(4);
                rawBytes = e.getLong(12);
                if (rawBytes != seenRaw) {
                    throw new CorruptObjectException(
                            "object holds " + seenRaw + " raw bytes, its end record says " + rawBytes, object, at);
                }
                return null;
            }
            byte[] rest = readFully(BLOCK_HEADER - 4);
            ByteBuffer bh = ByteBuffer.wrap(rest).order(ByteOrder.LITTLE_ENDIAN);
            int stored = bh.getInt();
            int crc = bh.getInt();
            byte method = bh.get();
            if (rawLength < 0
                    || stored < 0
                    || stored > (1 << 30)
                    || (method != STORED && method != DEFLATE)
                    || (method == STORED && stored != rawLength)) {
                throw new CorruptObjectException("bad block header", object, at);
            }
            byte[] data = readFully(stored);
            seenRaw += rawLength;
            return new Block(rawLength, method, crc, data, object, at);
        }

        /** The record count from the end record; valid once {@link #next()} returned null. */
        long records() {
            return records;
        }

        long bytesRead() {
            return offset;
        }

        private byte[] readFully(int n) throws IOException {
            byte[] b = in.readNBytes(n);
            if (b.length != n) {
                throw new CorruptObjectException(
                        "object ends early (truncated)", object, offset + b.length, new EOFException());
            }
            offset += n;
            return b;
        }
    }
}
