package dev.caskade.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.zip.CRC32C;

/**
 * The device limit: append a 126-byte record (CRC32C, key length, value length, key, value) with one write() and,
 * for durable puts, {@code FileChannel.force(false)} (fdatasync) per record. No index, so no gets. The file is
 * preloaded with the data set's 1M records first, so appends go to a file of the same size as the stores'.
 */
final class RawFsyncLog implements Engine {
    static final int RECORD_BYTES = 4 + 2 + 4 + Workload.KEY_BYTES + Workload.VALUE_BYTES;

    private final FileChannel channel;
    private final ByteBuffer record = ByteBuffer.allocate(RECORD_BYTES);
    private final CRC32C crc = new CRC32C();

    private RawFsyncLog(FileChannel channel) {
        this.channel = channel;
    }

    static RawFsyncLog open(Path dir, Workload workload) throws IOException {
        FileChannel channel = FileChannel.open(
                dir.resolve("raw.log"),
                StandardOpenOption.CREATE_NEW,
                StandardOpenOption.WRITE,
                StandardOpenOption.APPEND);
        RawFsyncLog log = new RawFsyncLog(channel);
        ByteBuffer chunk = ByteBuffer.allocate(RECORD_BYTES * 8_192);
        for (int i = 0; i < workload.size(); i++) {
            if (chunk.remaining() < RECORD_BYTES) {
                log.drain(chunk.flip());
                chunk.clear();
            }
            chunk.put(log.encode(workload.key(i), Workload.value(i)));
        }
        log.drain(chunk.flip());
        channel.force(false);
        return log;
    }

    private ByteBuffer encode(byte[] key, byte[] value) {
        record.clear();
        record.position(4);
        record.putShort((short) key.length).putInt(value.length).put(key).put(value);
        crc.reset();
        crc.update(record.array(), 4, RECORD_BYTES - 4);
        record.putInt(0, (int) crc.getValue());
        return record.flip();
    }

    private void drain(ByteBuffer buffer) throws IOException {
        while (buffer.hasRemaining()) {
            channel.write(buffer);
        }
    }

    @Override
    public synchronized void put(byte[] key, byte[] value) {
        try {
            drain(encode(key, value));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public synchronized void putDurable(byte[] key, byte[] value) {
        try {
            drain(encode(key, value));
            channel.force(false);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public byte[] get(byte[] key) {
        throw new UnsupportedOperationException("a raw log has no index");
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
