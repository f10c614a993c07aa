package dev.caskade;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.zip.CRC32C;

/**
 * The byte layout of one log entry; {@code docs/format.md} explains every field. All integers are
 * little-endian.
 *
 * <pre>
 *  0  u32  crc32c     over bytes [4, end): detects torn and flipped bytes before anything is trusted
 *  4  u64  revision   the commit's revision; every entry of one batch carries the same one
 * 12  u64  timestamp  epoch ms of the commit: retention by age, restore by time
 * 20  u64  expiresAt  epoch ms, 0 = never: TTL survives restart and merge
 * 28  u8   type       1 PUT, 2 DELETE, 3 EXPIRE
 * 29  u8   flags      bit 0 LAST: the final entry of its commit; a commit without it was torn
 * 30  u32  keyLen
 * 34  u32  valueLen   0 for DELETE and EXPIRE
 * 38  key, then value
 * </pre>
 */
final class EntryCodec {
    static final int HEADER = 38;
    static final byte PUT = 1;
    static final byte DELETE = 2;
    static final byte EXPIRE = 3;
    static final byte FLAG_LAST = 1;
    /** Hard ceilings used to reject garbage lengths before allocating anything. */
    static final int MAX_KEY = 16 << 20;

    static final int MAX_VALUE = 1 << 30;

    private EntryCodec() {}

    static int size(int keyLen, int valueLen) {
        return HEADER + keyLen + valueLen;
    }

    /** Writes one entry at the buffer's position, which advances past it. */
    static void encode(
            ByteBuffer out,
            long revision,
            long timestamp,
            long expiresAt,
            byte type,
            boolean last,
            byte[] key,
            byte[] value) {
        int start = out.position();
        out.order(ByteOrder.LITTLE_ENDIAN);
        out.putInt(0);
        out.putLong(revision);
        out.putLong(timestamp);
        out.putLong(expiresAt);
        out.put(type);
        out.put(last ? FLAG_LAST : 0);
        out.putInt(key.length);
        out.putInt(value.length);
        out.put(key);
        out.put(value);
        int end = out.position();
        CRC32C crc = new CRC32C();
        int limit = out.limit();
        out.position(start + 4).limit(end); // the writer owns this buffer: no slice to allocate
        crc.update(out);
        out.limit(limit).position(end);
        out.putInt(start, (int) crc.getValue());
    }

    /** A decoded entry header; the key and value stay in the source buffer. */
    record Header(long revision, long timestamp, long expiresAt, byte type, boolean last, int keyLen, int valueLen) {
        int size() {
            return HEADER + keyLen + valueLen;
        }
    }

    /** Why bytes at some position are not a valid entry. */
    enum Problem {
        NONE,
        /** Fewer bytes remain than the header or the lengths need: a torn write at the tail. */
        SHORT,
        /** The header's type or lengths are impossible. */
        BAD_HEADER,
        /** The CRC does not match. */
        CHECKSUM
    }

    /**
     * Checks the entry at {@code buf[pos..limit)}: lengths, type and CRC. Returns NONE when it is whole and
     * sound.
     */
    static Problem check(ByteBuffer buf, int pos, int limit) {
        if (limit - pos < HEADER) return Problem.SHORT;
        buf.order(ByteOrder.LITTLE_ENDIAN);
        byte type = buf.get(pos + 28);
        int keyLen = buf.getInt(pos + 30);
        int valueLen = buf.getInt(pos + 34);
        if (type < PUT || type > EXPIRE || keyLen <= 0 || keyLen > MAX_KEY || valueLen < 0 || valueLen > MAX_VALUE) {
            return Problem.BAD_HEADER;
        }
        if (type != PUT && valueLen != 0) return Problem.BAD_HEADER;
        long size = (long) HEADER + keyLen + valueLen;
        if (limit - pos < size) return Problem.SHORT;
        CRC32C crc = new CRC32C();
        if (buf.hasArray()) {
            crc.update(buf.array(), buf.arrayOffset() + pos + 4, (int) size - 4);
        } else if (pos == 0 && size == buf.capacity() && buf.limit() == buf.capacity()) {
            // a view of exactly one entry (a read): walk it in place instead of slicing again
            crc.update(buf.position(4));
            buf.position(0);
        } else {
            crc.update(buf.slice(pos + 4, (int) size - 4));
        }
        return (int) crc.getValue() == buf.getInt(pos) ? Problem.NONE : Problem.CHECKSUM;
    }

    static Header header(ByteBuffer buf, int pos) {
        buf.order(ByteOrder.LITTLE_ENDIAN);
        return new Header(
                buf.getLong(pos + 4),
                buf.getLong(pos + 12),
                buf.getLong(pos + 20),
                buf.get(pos + 28),
                (buf.get(pos + 29) & FLAG_LAST) != 0,
                buf.getInt(pos + 30),
                buf.getInt(pos + 34));
    }

    static byte[] key(ByteBuffer buf, int pos, Header h) {
        byte[] k = new byte[h.keyLen()];
        buf.get(pos + HEADER, k);
        return k;
    }

    /** True when the entry's key starts with {@code prefix}, compared in place. */
    static boolean keyStartsWith(ByteBuffer buf, int pos, byte[] prefix) {
        int at = pos + HEADER;
        for (int i = 0; i < prefix.length; i++) if (buf.get(at + i) != prefix[i]) return false;
        return true;
    }

    /** True when the entry's key is {@code key}, compared in place. */
    static boolean keyEquals(ByteBuffer buf, int pos, Header h, byte[] key) {
        if (h.keyLen() != key.length) return false;
        int at = pos + HEADER;
        for (int i = 0; i < key.length; i++) if (buf.get(at + i) != key[i]) return false;
        return true;
    }

    static byte[] value(ByteBuffer buf, int pos, Header h) {
        byte[] v = new byte[h.valueLen()];
        buf.get(pos + HEADER + h.keyLen(), v);
        return v;
    }

    static ChangeType changeType(byte type) {
        return switch (type) {
            case PUT -> ChangeType.PUT;
            case DELETE -> ChangeType.DELETE;
            case EXPIRE -> ChangeType.EXPIRE;
            default -> throw new IllegalArgumentException("unknown entry type " + type);
        };
    }
}
