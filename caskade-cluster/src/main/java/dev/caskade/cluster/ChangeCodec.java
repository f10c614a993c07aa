package dev.caskade.cluster;

import dev.caskade.Change;
import dev.caskade.ChangeType;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * The changes of one commit as the stream entry's {@code c} field: big-endian, {@code int count}, then per change
 * {@code byte type} (1 PUT, 2 DELETE, 3 EXPIRE), {@code int keyLength}, key, {@code int valueLength}, value (empty for a
 * delete or an expiry), {@code long expiresAt} (epoch ms, 0 = never). See docs/format.md.
 */
final class ChangeCodec {
    static final byte PUT = 1;
    static final byte DELETE = 2;
    static final byte EXPIRE = 3;

    private ChangeCodec() {}

    static byte[] encode(List<Change> changes) {
        int size = 4;
        for (Change c : changes) size += 1 + 4 + c.key().length + 4 + value(c).length + 8;
        ByteBuffer b = ByteBuffer.allocate(size);
        b.putInt(changes.size());
        for (Change c : changes) {
            b.put(
                    switch (c.type()) {
                        case PUT -> PUT;
                        case DELETE -> DELETE;
                        case EXPIRE -> EXPIRE;
                    });
            b.putInt(c.key().length).put(c.key());
            byte[] v = value(c);
            b.putInt(v.length).put(v);
            b.putLong(c.type() == ChangeType.PUT ? c.expiresAt() : 0);
        }
        return b.array();
    }

    /**
     * @throws IllegalArgumentException when {@code bytes} are not a whole, well-formed change list
     */
    static List<Change> decode(byte[] bytes) {
        ByteBuffer b = ByteBuffer.wrap(bytes);
        try {
            int count = b.getInt();
            if (count < 1 || count > bytes.length) throw new IllegalArgumentException("bad change count " + count);
            List<Change> changes = new ArrayList<>(count);
            for (int i = 0; i < count; i++) {
                byte type = b.get();
                byte[] key = bytes(b);
                byte[] value = bytes(b);
                long expiresAt = b.getLong();
                if (expiresAt < 0) throw new IllegalArgumentException("negative expiresAt in change " + i);
                changes.add(
                        switch (type) {
                            case PUT -> new Change(ChangeType.PUT, key, value, expiresAt);
                            case DELETE -> new Change(ChangeType.DELETE, key, new byte[0], 0);
                            case EXPIRE -> new Change(ChangeType.EXPIRE, key, new byte[0], 0);
                            default ->
                                throw new IllegalArgumentException("unknown change type " + type + " in change " + i);
                        });
            }
            if (b.hasRemaining())
                throw new IllegalArgumentException(b.remaining() + " bytes left after " + count + " changes");
            return changes;
        } catch (BufferUnderflowException e) {
            throw new IllegalArgumentException("change list cut short (" + bytes.length + " bytes)");
        }
    }

    private static byte[] bytes(ByteBuffer b) {
        int n = b.getInt();
        if (n < 0 || n > b.remaining()) throw new IllegalArgumentException("bad length " + n);
        byte[] out = new byte[n];
        b.get(out);
        return out;
    }

    private static byte[] value(Change c) {
        return c.type() == ChangeType.PUT ? c.value() : new byte[0];
    }
}
