package dev.caskade.bench;

import dev.caskade.s3.ForwardingStore;
import dev.caskade.s3.ObjectStore;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An {@link ObjectStore} that notes when each log object ({@code .../log/<from>-<to>.seg}) finished uploading: the
 * moment the wrapped store's {@code put} returned, on {@link System#nanoTime()}. Everything else passes through.
 * Sits inside the {@code GuardedStore}, so a retried upload is noted when the attempt that succeeded returns.
 */
final class UploadClock extends ForwardingStore {
    private static final Pattern LOG = Pattern.compile("(?:^|/)log/(\\d{20})-(\\d{20})\\.seg$");

    /** One log object: revisions from..to, upload started and finished (nanoTime), its size. */
    record Upload(long from, long to, long started, long finished, long bytes) {}

    private final ConcurrentLinkedQueue<Upload> uploads = new ConcurrentLinkedQueue<>();

    UploadClock(ObjectStore inner) {
        super(inner);
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
}
