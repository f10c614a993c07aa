package dev.caskade.server;

import dev.caskade.Caskade;
import dev.caskade.CompactedException;
import dev.caskade.Entry;
import dev.caskade.Snapshot;
import dev.caskade.Watch;
import dev.caskade.WatchEvent;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * One {@code GET /v1/watch} connection: a Server-Sent Events stream fed by a {@link Watch}. The watch's
 * listener writes to the channel and waits while the client's socket is full, so a slow client fills the
 * watch's bounded buffer and ends with {@code overflow} instead of growing memory or slowing writers.
 */
final class SseStream implements Consumer<WatchEvent> {

    /**
     * What to stream: commits under {@code prefix} after {@code from}, optionally preceded by the current state; and
     * for whom.
     *
     * @param prefix the keys it carries
     * @param from the revision after which it starts
     * @param snapshot whether it starts with a snapshot of the keys
     * @param replica how a live copy fed by this stream names itself ({@code Caskade-Replica}), or null for a plain
     *     watcher
     */
    record Start(byte[] prefix, long from, boolean snapshot, String replica) {}

    private final Caskade db;
    private final Channel channel;
    private final HttpOptions options;
    private final AtomicBoolean finished = new AtomicBoolean();
    private volatile Watch watch;
    private volatile ScheduledFuture<?> keepAlive;

    SseStream(Caskade db, Channel channel, HttpOptions options) {
        this.db = db;
        this.channel = channel;
        this.options = options;
    }

    /** Sends the head (and snapshot), then opens the watch; runs on a worker thread. */
    void open(Start start) {
        HttpResponse head = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
        head.headers()
                .set(HttpHeaderNames.CONTENT_TYPE, "text/event-stream; charset=utf-8")
                .set(HttpHeaderNames.CACHE_CONTROL, HttpHeaderValues.NO_CACHE)
                .set(HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderValues.CHUNKED);
        channel.writeAndFlush(head);
        long period = options.keepAlive().toMillis();
        keepAlive = channel.eventLoop()
                .scheduleAtFixedRate(
                        () -> channel.writeAndFlush(chunk(": keep-alive\n\n")), period, period, TimeUnit.MILLISECONDS);
        try {
            if (start.snapshot()) {
                // the snapshot pins history, so the watch from its revision cannot find it compacted
                try (Snapshot snap = db.snapshot()) {
                    sendSnapshot(snap, start.prefix());
                    watch = db.watch(start.prefix(), snap.revision(), this);
                }
            } else {
                watch = db.watch(start.prefix(), start.from(), this);
            }
        } catch (CompactedException e) {
            send(null, "compacted", new HttpJson.Compacted(e.oldest()));
            finish();
            return;
        } catch (RuntimeException e) {
            send(null, "error", new HttpJson.Error(String.valueOf(e.getMessage()), 500));
            finish();
            return;
        }
        // a client that goes away ends the watch and frees what it pins
        channel.closeFuture().addListener(f -> stop());
    }

    private void sendSnapshot(Snapshot snap, byte[] prefix) {
        try (Stream<Entry> s = snap.scan(prefix)) {
            List<HttpJson.Item> items = new ArrayList<>();
            for (Iterator<Entry> it = s.iterator(); it.hasNext() && channel.isActive(); ) {
                items.add(HttpJson.Item.of(it.next()));
                if (items.size() == options.snapshotChunk() && it.hasNext()) {
                    send(null, "snapshot", new HttpJson.SnapshotEvent(snap.revision(), items, false));
                    items = new ArrayList<>();
                    awaitWritable(); // a large prefix must not pile up in memory ahead of a slow client
                }
            }
            // only the last chunk carries an id: a client cut off mid-snapshot starts over
            send(snap.revision(), "snapshot", new HttpJson.SnapshotEvent(snap.revision(), items, true));
        }
    }

    @Override
    public void accept(WatchEvent event) {
        switch (event) {
            case WatchEvent.Commit c -> {
                if (!channel.isActive()) return;
                channel.writeAndFlush(new DefaultHttpContent(Unpooled.wrappedBuffer(encoded(c))));
                awaitWritable();
            }
            case WatchEvent.End end -> {
                switch (end.reason()) {
                    case OVERFLOW -> send(null, "overflow", new HttpJson.Resume(end.resumeFrom()));
                    case FAILED -> send(null, "error", new HttpJson.Resume(end.resumeFrom()));
                    case CLOSED, STORE_CLOSED -> {
                        // the connection or the store is going away: nothing useful to tell
                    }
                }
                finish();
            }
        }
    }

    /** Holds the watch thread while the socket is full; gives up on a client stuck longer than the idle timeout. */
    private void awaitWritable() {
        long deadline = System.nanoTime() + options.idleTimeout().toNanos();
        while (!channel.isWritable() && channel.isActive()) {
            if (System.nanoTime() - deadline > 0) {
                channel.close();
                return;
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(2));
        }
    }

    /**
     * Recently encoded commit events, by revision. Every stream whose prefix covers all of a commit's changes is handed
     * the same Commit object, so a thousand subscribers of one prefix encode it once, not a thousand times.
     */
    private record Encoded(WatchEvent.Commit commit, byte[] bytes) {}

    private static final java.util.concurrent.atomic.AtomicReferenceArray<Encoded> ENCODED =
            new java.util.concurrent.atomic.AtomicReferenceArray<>(64);

    private static byte[] encoded(WatchEvent.Commit c) {
        int slot = (int) (c.revision() & 63);
        Encoded e = ENCODED.get(slot);
        if (e != null && e.commit() == c) return e.bytes();
        byte[] json = HttpJson.write(HttpJson.CommitEvent.of(c));
        byte[] head = ("id: " + c.revision() + "\nevent: commit\ndata: ").getBytes(StandardCharsets.UTF_8);
        byte[] bytes = java.util.Arrays.copyOf(head, head.length + json.length + 2);
        System.arraycopy(json, 0, bytes, head.length, json.length);
        bytes[bytes.length - 2] = '\n';
        bytes[bytes.length - 1] = '\n';
        ENCODED.set(slot, new Encoded(c, bytes));
        return bytes;
    }

    private void send(Long id, String event, Object data) {
        StringBuilder sb = new StringBuilder();
        if (id != null) sb.append("id: ").append(id).append('\n');
        sb.append("event: ").append(event).append('\n');
        sb.append("data: ")
                .append(new String(HttpJson.write(data), StandardCharsets.UTF_8))
                .append("\n\n");
        channel.writeAndFlush(chunk(sb.toString()));
    }

    private static DefaultHttpContent chunk(String text) {
        return new DefaultHttpContent(Unpooled.copiedBuffer(text, StandardCharsets.UTF_8));
    }

    private void stop() {
        ScheduledFuture<?> k = keepAlive;
        if (k != null) k.cancel(false);
        Watch w = watch;
        // closing waits for the watch's thread: never on the event loop, which serves other connections
        if (w != null) Thread.ofVirtual().name("caskade-sse-close").start(w::close);
    }

    /** Ends the response and the connection: an event stream is never reused for another request. */
    private void finish() {
        if (!finished.compareAndSet(false, true)) return;
        ScheduledFuture<?> k = keepAlive;
        if (k != null) k.cancel(false);
        if (channel.isActive())
            channel.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT).addListener(ChannelFutureListener.CLOSE);
    }
}
