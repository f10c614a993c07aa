package dev.caskade.bench;

import dev.caskade.s3.ObjectStore;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An {@link ObjectStore} that notes when each log object ({@code .../log/<from>-<to>.seg}) finished uploading: the
 * moment the wrapped store's {@code put} returned, on {@link System#nanoTime()}. Everything else passes through.
 * Sits inside the {@code GuardedStore}, so a retried upload is noted when the attempt that succeeded returns.
 */
final class UploadClock implements ObjectStore {
    private static final Pattern LOG = Pattern.compile("(?:^|/)log/(\\d{20})-(\\d{20})\\.seg$");

    /** One log object: revisions from..to, upload started and finished (nanoTime), its size. */
    record Upload(long from, long to, long started, long finished, long bytes) {}

    private final ObjectStore inner;
    private final ConcurrentLinkedQueue<Upload> uploads = new ConcurrentLinkedQueue<>();

    UploadClock(ObjectStore inner) {
        this.inner = inner;
    }

    /** Every log object uploaded so far, in upload order. */
    List<Upload> uploads() {
        return new ArrayList<>(uploads);
    }

    private void note(String name, long started, long bytes) {
        long finished = System.nanoTime();
        Matcher m = LOG.matcher(name);
        if (m.find())
            uploads.add(new Upload(Long.parseLong(m.group(1)), Long.parseLong(m.group(2)), started, finished, bytes));
    }

    @Override
    public void put(String name, byte[] data) {
        long t = System.nanoTime();
        inner.put(name, data);
        note(name, t, data.length);
    }

    @Override
    public void put(String name, Path file) {
        long t = System.nanoTime();
        inner.put(name, file);
        note(name, t, file.toFile().length());
    }

    @Override
    public Optional<byte[]> get(String name) {
        return inner.get(name);
    }

    @Override
    public InputStream open(String name) {
        return inner.open(name);
    }

    @Override
    public byte[] read(String name, long offset, int length) {
        return inner.read(name, offset, length);
    }

    @Override
    public List<ObjectInfo> list(String prefix) {
        return inner.list(prefix);
    }

    @Override
    public Optional<ObjectInfo> stat(String name) {
        return inner.stat(name);
    }

    @Override
    public void delete(Collection<String> names) {
        inner.delete(names);
    }

    @Override
    public Optional<Versioned> getVersioned(String name) {
        return inner.getVersioned(name);
    }

    @Override
    public boolean putIfAbsent(String name, byte[] data) {
        return inner.putIfAbsent(name, data);
    }

    @Override
    public boolean putIfMatch(String name, byte[] data, String etag) {
        return inner.putIfMatch(name, data, etag);
    }

    @Override
    public boolean conditionalWrites() {
        return inner.conditionalWrites();
    }

    @Override
    public String url() {
        return inner.url();
    }

    @Override
    public void close() {
        inner.close();
    }
}
