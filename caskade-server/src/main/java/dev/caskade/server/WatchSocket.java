package dev.caskade.server;

import dev.caskade.Caskade;
import dev.caskade.CompactedException;
import dev.caskade.Entry;
import dev.caskade.Snapshot;
import dev.caskade.Watch;
import dev.caskade.WatchEvent;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.EmptyHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.websocketx.CloseWebSocketFrame;
import io.netty.handler.codec.http.websocketx.PingWebSocketFrame;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketCloseStatus;
import io.netty.handler.codec.http.websocketx.WebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketFrameAggregator;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolConfig;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolHandler;
import io.netty.handler.timeout.IdleStateHandler;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.core.JacksonException;

/**
 * One {@code GET /v1/ws} connection: a WebSocket on which the client opens many watches, each under an id of
 * its own, carrying the same events as the SSE watch. Requests (text frames of JSON) are served one at a time
 * in order, off the event loop; each watch's listener writes its own events from the watch's thread.
 *
 * <p>Output is bounded per socket: while more than {@link HttpOptions.WebSocketLimits#bufferBytes()} are
 * queued, the watches wait (which also paces a replay of history to the client's speed) and the socket reads no
 * more requests. A waiting watch's own bounded buffer fills with live commits and it ends with {@code overflow}
 * and the revision to resume from, so a slow client never slows writers; a client stuck for longer than the idle
 * timeout is closed. Closing the socket closes its watches.
 */
final class WatchSocket extends SimpleChannelInboundHandler<WebSocketFrame> {
    static final String PATH = "/v1/ws";
    private static final Logger log = LoggerFactory.getLogger(WatchSocket.class);
    private static final int MAX_ID_CHARS = 128;
    /** Requests waiting to be served before the socket stops reading more: a client cannot pile up work. */
    private static final int MAX_QUEUED = 16;
    /** How long a closing socket waits for its close frame to go out. */
    private static final long CLOSE_FRAME_MILLIS = 1000;

    private final Caskade db;
    private final Metrics metrics;
    private final HttpOptions options;
    private final Executor workers;
    private final Channel channel;
    private final Map<String, Feed> feeds = new ConcurrentHashMap<>();
    private final AtomicInteger queued = new AtomicInteger();
    /** Signalled when the socket may take more output, or closed. */
    private final ReentrantLock roomLock = new ReentrantLock();

    private final Condition room = roomLock.newCondition();
    private volatile boolean closed;
    private CompletableFuture<Void> tail = CompletableFuture.completedFuture(null); // event loop only
    private ScheduledFuture<?> keepAlive; // event loop only

    /** Who opened the socket: every watch needs read on all keys under its prefix. */
    private final User user;

    private WatchSocket(
            Caskade db, Metrics metrics, HttpOptions options, Executor workers, Channel channel, User user) {
        this.user = user;
        this.db = db;
        this.metrics = metrics;
        this.options = options;
        this.workers = workers;
        this.channel = channel;
    }

    /**
     * Turns the HTTP connection of {@code http} into a watch socket: Netty's protocol handler answers the
     * handshake of the request whose {@code headers} are given. Runs on the event loop, after every request
     * before this one has been answered.
     */
    static void upgrade(
            ChannelHandlerContext http,
            HttpHeaders headers,
            User user,
            Caskade db,
            Metrics metrics,
            HttpOptions options,
            Executor workers) {
        if (!http.channel().isActive()) return;
        ChannelPipeline p = http.pipeline();
        HttpRequestDeadline deadline = p.get(HttpRequestDeadline.class);
        if (deadline != null) {
            deadline.complete();
            p.remove(deadline); // frames are not requests: no header deadline from now on
        }
        // alive while the client answers our pings, whether or not commits flow
        if (p.get(IdleStateHandler.class) != null) {
            p.replace(
                    IdleStateHandler.class,
                    "ws-idle",
                    new IdleStateHandler(options.idleTimeout().toMillis(), 0, 0, TimeUnit.MILLISECONDS));
        }
        int maxFrame = options.webSocket().maxFrameBytes();
        WebSocketServerProtocolConfig config = WebSocketServerProtocolConfig.newBuilder()
                .websocketPath(PATH)
                .maxFramePayloadLength(maxFrame)
                .sendCloseFrame(WebSocketCloseStatus.ENDPOINT_UNAVAILABLE)
                .forceCloseTimeoutMillis(CLOSE_FRAME_MILLIS)
                .build();
        p.addAfter(http.name(), "ws", new WebSocketServerProtocolHandler(config));
        p.addAfter("ws", "ws-messages", new WebSocketFrameAggregator(maxFrame));
        p.addAfter("ws-messages", "ws-watches", new WatchSocket(db, metrics, options, workers, http.channel(), user));
        int buffer = options.webSocket().bufferBytes();
        http.channel().config().setWriteBufferWaterMark(new WriteBufferWaterMark(buffer / 2, buffer));
        // the original request was copied and released; the handshake needs only its headers
        http.fireChannelRead(new DefaultFullHttpRequest(
                HttpVersion.HTTP_1_1, HttpMethod.GET, PATH, Unpooled.EMPTY_BUFFER, headers, EmptyHttpHeaders.INSTANCE));
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
        if (evt instanceof WebSocketServerProtocolHandler.HandshakeComplete) {
            metrics.countWebSocket(1);
            long period = options.keepAlive().toMillis();
            keepAlive = ctx.executor()
                    .scheduleAtFixedRate(
                            () -> channel.writeAndFlush(new PingWebSocketFrame()),
                            period,
                            period,
                            TimeUnit.MILLISECONDS);
            channel.closeFuture().addListener(f -> closed());
        } else {
            super.userEventTriggered(ctx, evt);
        }
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, WebSocketFrame frame) {
        String text = frame instanceof TextWebSocketFrame t ? t.text() : null;
        queued.incrementAndGet();
        updateReading();
        tail = tail.thenRunAsync(
                () -> {
                    try {
                        serve(text);
                    } catch (RuntimeException e) {
                        // never let one request break the chain of the ones behind it
                        log.warn("failed to serve a WebSocket request on {}", channel.remoteAddress(), e);
                        send(HttpJson.SocketMessage.error(null, "internal error: " + e.getMessage()));
                    } finally {
                        queued.decrementAndGet();
                        try {
                            channel.eventLoop().execute(this::updateReading);
                        } catch (RejectedExecutionException e) {
                            // the server is stopping: nothing more to read
                        }
                    }
                },
                workers);
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        updateReading();
        signalRoom();
        ctx.fireChannelWritabilityChanged();
    }

    private void signalRoom() {
        roomLock.lock();
        try {
            room.signalAll();
        } finally {
            roomLock.unlock();
        }
    }

    /**
     * Waits while the socket holds more than its buffer; gives up on (and closes) a client stuck past the
     * idle timeout. True if there is room to write.
     */
    private boolean awaitRoom() {
        long left = options.idleTimeout().toNanos();
        roomLock.lock();
        try {
            while (!channel.isWritable() && channel.isActive()) {
                if (left <= 0) {
                    log.debug(
                            "WebSocket {} read nothing for {}: closing it",
                            channel.remoteAddress(),
                            options.idleTimeout());
                    channel.close();
                    return false;
                }
                left = room.awaitNanos(left);
            }
        } catch (InterruptedException e) {
            // not re-raised: an interrupt would break the engine's next read of history on a watch thread
            return false;
        } finally {
            roomLock.unlock();
        }
        return channel.isActive();
    }

    /**
     * Reads requests only while their answers can go out and few are waiting: a client that sends without
     * reading cannot make the server queue without bound. Event loop only, so the last state wins.
     */
    private void updateReading() {
        channel.config().setAutoRead(channel.isWritable() && queued.get() < MAX_QUEUED);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        log.debug("WebSocket {} failed", channel.remoteAddress(), cause);
        // a message too large in fragments: the decoder answers 1009 itself for a single frame
        if (cause instanceof TooLongFrameException)
            ctx.writeAndFlush(new CloseWebSocketFrame(WebSocketCloseStatus.MESSAGE_TOO_BIG));
        ctx.close();
    }

    private void closed() {
        closed = true;
        signalRoom();
        if (keepAlive != null) keepAlive.cancel(false);
        metrics.countWebSocket(-1);
        // Watch.close() waits for the watch's thread: never on the event loop, and all at once
        for (Feed feed : feeds.values())
            Thread.ofVirtual().name("caskade-ws-close").start(feed::close);
    }

    private void serve(String text) {
        if (!channel.isActive()) return;
        if (text == null) {
            send(HttpJson.SocketMessage.error(null, "send requests as text frames of JSON"));
            return;
        }
        HttpJson.SocketRequest request;
        try {
            request = HttpJson.MAPPER.readValue(text, HttpJson.SocketRequest.class);
        } catch (JacksonException e) {
            send(HttpJson.SocketMessage.error(null, "bad JSON: " + e.getOriginalMessage()));
            return;
        }
        if (request == null) {
            send(HttpJson.SocketMessage.error(null, "a request is a JSON object"));
            return;
        }
        try {
            switch (request.op() == null ? "" : request.op()) {
                case "watch" -> watch(request);
                case "unwatch" -> unwatch(request);
                case "ping" -> send(new HttpJson.SocketMessage("pong", null, request.id(), null, null));
                case "" -> throw HttpFailure.badRequest("a request needs \"op\": watch, unwatch or ping");
                default -> throw HttpFailure.badRequest("unknown op: " + request.op());
            }
        } catch (HttpFailure e) {
            send(HttpJson.SocketMessage.error(request.id(), e.getMessage()));
        }
    }

    private void watch(HttpJson.SocketRequest request) {
        String id = id(request);
        byte[] prefix = prefix(request);
        HttpApi.requireAll(user, prefix);
        boolean snapshot = Boolean.TRUE.equals(request.snapshot());
        if (request.from() != null && request.from() < 0) throw HttpFailure.badRequest("from must not be negative");
        if (snapshot && request.from() != null)
            throw HttpFailure.badRequest("give from or snapshot, not both: a snapshot starts at its own revision");
        if (feeds.containsKey(id)) throw HttpFailure.badRequest("watch id already in use: " + id);
        int max = options.webSocket().maxWatches();
        if (feeds.size() >= max)
            throw HttpFailure.badRequest("too many watches on this socket (at most " + max + "); unwatch one first");
        Feed feed = new Feed(id);
        feeds.put(id, feed);
        try {
            if (snapshot) {
                // the snapshot pins history, so the watch from its revision cannot find it compacted
                try (Snapshot snap = db.snapshot()) {
                    send(HttpJson.SocketMessage.of("watching", id, new HttpJson.Revision(snap.revision())));
                    if (!sendSnapshot(id, snap, prefix)) {
                        feeds.remove(id, feed);
                        return;
                    }
                    feed.watch = db.watch(prefix, snap.revision(), feed);
                }
            } else {
                long from = request.from() == null ? db.revision() : request.from();
                feed.watch = db.watch(prefix, from, feed);
                send(HttpJson.SocketMessage.of("watching", id, new HttpJson.Revision(from)));
            }
        } catch (CompactedException e) {
            feeds.remove(id, feed);
            send(HttpJson.SocketMessage.of("compacted", id, new HttpJson.Compacted(e.oldest())));
        } catch (RuntimeException e) {
            feeds.remove(id, feed);
            send(HttpJson.SocketMessage.error(id, String.valueOf(e.getMessage())));
        } finally {
            feed.opened.countDown();
        }
        if (closed) feed.close(); // the socket closed while the watch was being opened
    }

    private void unwatch(HttpJson.SocketRequest request) {
        String id = id(request);
        Feed feed = feeds.get(id);
        if (feed == null) throw HttpFailure.badRequest("no watch " + id);
        feed.close(); // its end answers "unwatched"
    }

    private static String id(HttpJson.SocketRequest request) {
        String id = request.id();
        if (id == null || id.isEmpty()) throw HttpFailure.badRequest("a watch needs an \"id\"");
        if (id.length() > MAX_ID_CHARS) throw HttpFailure.badRequest("id longer than " + MAX_ID_CHARS + " characters");
        return id;
    }

    private static byte[] prefix(HttpJson.SocketRequest request) {
        if (request.prefix() != null && request.prefixBase64() != null)
            throw HttpFailure.badRequest("give prefix or prefix_base64, not both");
        if (request.prefixBase64() != null) {
            try {
                return Base64.getDecoder().decode(request.prefixBase64());
            } catch (IllegalArgumentException e) {
                throw HttpFailure.badRequest("bad prefix_base64");
            }
        }
        return request.prefix() == null ? new byte[0] : request.prefix().getBytes(StandardCharsets.UTF_8);
    }

    /** The state under {@code prefix} in chunks, the last one marked; false if the client went away meanwhile. */
    private boolean sendSnapshot(String id, Snapshot snap, byte[] prefix) {
        try (Stream<Entry> s = snap.scan(prefix)) {
            List<HttpJson.Item> items = new ArrayList<>();
            for (Iterator<Entry> it = s.iterator(); it.hasNext(); ) {
                items.add(HttpJson.Item.of(it.next()));
                if (items.size() == options.snapshotChunk() && it.hasNext()) {
                    send(HttpJson.SocketMessage.of(
                            "snapshot", id, new HttpJson.SnapshotEvent(snap.revision(), items, false)));
                    items = new ArrayList<>();
                    if (!awaitRoom()) return false; // a large prefix must not pile up ahead of a slow client
                }
            }
            send(HttpJson.SocketMessage.of("snapshot", id, new HttpJson.SnapshotEvent(snap.revision(), items, true)));
            return channel.isActive();
        }
    }

    private void send(HttpJson.SocketMessage message) {
        channel.writeAndFlush(new TextWebSocketFrame(Unpooled.wrappedBuffer(HttpJson.write(message))));
    }

    /** One watch of the socket. Its listener runs on the watch's own thread, one event at a time. */
    private final class Feed implements Consumer<WatchEvent> {
        final String id;
        /** Opens once "watching" is on its way: no event of the watch may overtake it. */
        final CountDownLatch opened = new CountDownLatch(1);

        volatile Watch watch;

        Feed(String id) {
            this.id = id;
        }

        @Override
        public void accept(WatchEvent event) {
            awaitOpened();
            switch (event) {
                case WatchEvent.Commit c -> {
                    // waiting here lets the watch's own bounded buffer take the commits, up to its overflow
                    if (awaitRoom()) send(HttpJson.SocketMessage.of("commit", id, HttpJson.CommitEvent.of(c)));
                }
                case WatchEvent.End end -> {
                    switch (end.reason()) {
                        case OVERFLOW -> end("overflow", end.resumeFrom(), null);
                        case CLOSED -> end("unwatched", end.resumeFrom(), null);
                        case STORE_CLOSED -> end("error", end.resumeFrom(), "the store closed");
                        case FAILED -> end("error", end.resumeFrom(), "the watch failed");
                    }
                }
            }
        }

        /** Frees the id before the last message goes out, so the client may reuse it as soon as it reads it. */
        private void end(String type, long resume, String message) {
            feeds.remove(id, this);
            send(new HttpJson.SocketMessage(type, id, null, message, new HttpJson.Resume(resume)));
        }

        private void awaitOpened() {
            try {
                // bounded although the request thread always opens it, in a finally
                opened.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                // not re-raised: an interrupt would break the engine's next read of history on this thread
            }
        }

        void close() {
            Watch w = watch;
            if (w != null) w.close();
        }
    }
}
