package dev.caskade.client;

import dev.caskade.Change;
import dev.caskade.ChangeType;
import dev.caskade.Entry;
import dev.caskade.WatchEvent;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * One {@code GET /v1/watch} Server-Sent Events stream, read and parsed on its own virtual thread, which also calls
 * the listener: events arrive in order, one at a time, and {@link RemoteEvent.Ended} comes last, exactly once.
 * There is no automatic reconnect: after {@code Ended}, watch again from {@link #lastRevision()}.
 */
public final class RemoteWatch implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(RemoteWatch.class.getName());
    private static final Duration CLOSE_WAIT = Duration.ofSeconds(10);

    private final String url;
    private final InputStream body;
    private final Consumer<RemoteEvent> listener;
    private final Runnable onEnd;
    private final AtomicBoolean closed = new AtomicBoolean();
    private volatile boolean open = true;
    private volatile long lastRevision;
    private volatile long lastReceivedNanos = System.nanoTime(); // the head came just now
    private final Thread reader;

    RemoteWatch(String url, InputStream body, long from, Consumer<RemoteEvent> listener, Runnable onEnd) {
        this.url = url;
        this.body = body;
        this.listener = listener;
        this.onEnd = onEnd;
        this.lastRevision = from;
        this.reader = Thread.ofVirtual().name("caskade-remote-watch").unstarted(this::run);
    }

    void start() {
        reader.start();
    }

    /**
     * The revision up to which this watch has delivered everything under its prefix: the last commit's, or the
     * snapshot's once its last chunk came, else the revision it was opened from. It moves just before the event is
     * handed to the listener, so a listener reading it sees its own event's revision. A new watch from here continues
     * with neither gap nor duplicate.
     */
    public long lastRevision() {
        return lastRevision;
    }

    /**
     * When bytes of the stream last arrived (events or the server's keep-alive comments; at first, when the stream
     * was opened): a stream silent for much longer than the server's keep-alive interval is probably dead.
     */
    public Instant lastReceivedAt() {
        return Instant.now().minusNanos(System.nanoTime() - lastReceivedNanos);
    }

    /** {@link #lastReceivedAt()} on the {@link System#nanoTime()} clock. */
    long lastReceivedNanos() {
        return lastReceivedNanos;
    }

    /** False once the stream is over: set just before {@link RemoteEvent.Ended} is delivered. */
    public boolean isOpen() {
        return open;
    }

    /**
     * Drops the stream; the listener then gets {@code Ended(null)}. Waits (up to 10 s) until it has, unless called
     * from the listener itself, so no event follows the return. Idempotent.
     */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            closeBody();
            reader.interrupt(); // a read blocked inside the JDK client wakes up on interrupt
        }
        if (Thread.currentThread() != reader) {
            try {
                if (!reader.join(CLOSE_WAIT))
                    LOG.log(System.Logger.Level.WARNING, "the watch of {0} did not end within {1}", url, CLOSE_WAIT);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private void run() {
        Throwable cause;
        try {
            cause = read();
        } catch (ListenerFailure e) {
            cause = e.getCause();
            closeBody();
        } catch (IOException | RuntimeException e) {
            cause = closed.get()
                    ? null
                    : new ClientException(0, null, "the watch stream of " + url + " broke: " + e, e);
            closeBody();
        }
        if (closed.get()) cause = null;
        Thread.interrupted(); // close() may have interrupted us; the listener's last call should not see it
        open = false; // before Ended, so that a listener that sees Ended sees a closed watch
        onEnd.run();
        try {
            listener.accept(new RemoteEvent.Ended(cause));
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "a watch listener failed on the end of " + url, e);
        }
    }

    /** Reads events until the end of the stream; returns why it ended (null if by close()). */
    private Throwable read() throws IOException {
        InputStream in = new Arrivals(body); // notes when bytes last arrived (the idle timeout)
        // bulk reads and an unsynchronized line buffer: byte-at-a-time locked calls cost more than the parsing
        byte[] buf = new byte[16 * 1024];
        int pos = 0;
        int limit = 0;
        byte[] line = new byte[256];
        int length = 0;
        StringBuilder data = new StringBuilder();
        String event = "";
        String id = null;
        Throwable cause = null;
        boolean afterCr = false;
        while (true) {
            if (pos == limit) {
                limit = in.read(buf, 0, buf.length);
                pos = 0;
                if (limit < 0) break;
                continue;
            }
            int b = buf[pos++] & 0xff;
            if (b == '\n' && afterCr) { // the LF of a CRLF
                afterCr = false;
                continue;
            }
            afterCr = b == '\r';
            if (b != '\n' && b != '\r') {
                if (length == line.length) line = Arrays.copyOf(line, length * 2);
                line[length++] = (byte) b;
                continue;
            }
            String text = new String(line, 0, length, StandardCharsets.UTF_8);
            length = 0;
            if (text.isEmpty()) { // a blank line dispatches the event
                if (!data.isEmpty()) {
                    data.setLength(data.length() - 1); // the newline after the last data line
                    Throwable end = dispatch(event.isEmpty() ? "message" : event, id, data.toString());
                    if (end != null && cause == null) cause = end;
                }
                data.setLength(0);
                event = "";
                id = null;
                continue;
            }
            if (text.charAt(0) == ':') continue; // a comment: the server's keep-alive
            int colon = text.indexOf(':');
            String field = colon < 0 ? text : text.substring(0, colon);
            String value = colon < 0 ? "" : text.substring(colon + 1);
            if (value.startsWith(" ")) value = value.substring(1);
            switch (field) {
                case "data" -> data.append(value).append('\n');
                case "event" -> event = value;
                case "id" -> id = value.indexOf('\0') >= 0 ? id : value;
                default -> {} // retry and unknown fields
            }
        }
        // an event cut off before its blank line is dropped, as the SSE spec says
        if (closed.get()) return null;
        return cause != null ? cause : new ClientException(0, null, "the server ended the watch stream of " + url);
    }

    /** Delivers one event; returns the cause to end with when the server said why it is about to end the stream. */
    private Throwable dispatch(String event, String id, String data) {
        if (closed.get()) return null;
        Json.Obj json;
        try {
            json = Json.object(data.getBytes(StandardCharsets.UTF_8));
        } catch (IllegalArgumentException e) {
            throw new IllegalStateException("the " + event + " event of " + url + " is not JSON: " + e.getMessage(), e);
        }
        switch (event) {
            case "snapshot" -> {
                long revision = json.number("revision");
                List<Entry> items = new ArrayList<>();
                for (Json.Obj item : json.objects("items")) items.add(CaskadeClient.entry(item));
                boolean last = json.bool("last");
                if (last) lastRevision = revision; // first: the listener sees the watch where its event puts it
                deliver(new RemoteEvent.Snapshot(revision, items, last));
            }
            case "commit" -> {
                WatchEvent.Commit commit = commit(json);
                lastRevision = commit.revision();
                deliver(new RemoteEvent.Commit(commit));
            }
            case "compacted" -> {
                long oldest = json.number("oldest");
                deliver(new RemoteEvent.Compacted(oldest));
                return new ClientException(
                        0,
                        null,
                        "the history of " + url + " is compacted: the oldest revision to watch from is " + oldest);
            }
            case "overflow" -> {
                long resume = json.number("resume");
                deliver(new RemoteEvent.Overflow(resume));
                return new ClientException(0, null, "the watch of " + url + " overflowed; resume from " + resume);
            }
            case "error" -> {
                String error = json.string("error");
                return new ClientException(
                        (int) json.number("code"),
                        error,
                        "the server ended the watch of " + url + ": "
                                + (error != null ? error : "failed; resume from " + json.number("resume")));
            }
            default -> {} // an event this client does not know: a newer server's
        }
        return null;
    }

    private void deliver(RemoteEvent e) {
        try {
            listener.accept(e);
        } catch (RuntimeException failure) {
            throw new ListenerFailure(failure);
        }
    }

    private static WatchEvent.Commit commit(Json.Obj json) {
        List<Change> changes = new ArrayList<>();
        for (Json.Obj c : json.objects("changes")) {
            String type = c.string("type");
            if (type == null) throw new IllegalStateException("a change without a type");
            byte[] key = c.bytes("key");
            if (key == null) throw new IllegalStateException("a change without a key");
            byte[] value = c.bytes("value");
            changes.add(new Change(
                    ChangeType.valueOf(type.toUpperCase(Locale.ROOT)),
                    key,
                    value == null ? new byte[0] : value,
                    c.number("expiresAt", "expires_at")));
        }
        return new WatchEvent.Commit(json.number("revision"), json.number("timestamp"), List.copyOf(changes));
    }

    private void closeBody() {
        try {
            body.close();
        } catch (IOException e) {
            // gone already
        }
    }

    /** Notes when bytes arrive: per chunk read from the network, not per byte. */
    private final class Arrivals extends FilterInputStream {
        Arrivals(InputStream in) {
            super(in);
        }

        @Override
        public int read() throws IOException {
            int b = super.read();
            if (b >= 0) lastReceivedNanos = System.nanoTime();
            return b;
        }

        @Override
        public int read(byte[] buf, int off, int len) throws IOException {
            int n = super.read(buf, off, len);
            if (n > 0) lastReceivedNanos = System.nanoTime();
            return n;
        }
    }

    /** The listener threw: the watch ends with that as its cause. */
    private static final class ListenerFailure extends RuntimeException {
        ListenerFailure(RuntimeException cause) {
            super(cause);
        }
    }
}
