package dev.caskade.server;

import dev.caskade.Caskade;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.timeout.IdleStateEvent;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The last handler of one HTTP connection. It hands each complete request to a worker thread (store calls
 * may wait for an fsync and must not block the event loop) and chains them, so that pipelined requests are
 * answered in order.
 */
final class HttpConnection extends SimpleChannelInboundHandler<FullHttpRequest> {
    private static final Logger log = LoggerFactory.getLogger(HttpConnection.class);

    private final Caskade db;
    private final HttpApi api;
    private final HttpOptions options;
    private final Executor workers;
    private CompletableFuture<Void> tail = CompletableFuture.completedFuture(null); // event loop only
    private volatile boolean streaming;

    HttpConnection(Caskade db, HttpApi api, HttpOptions options, Executor workers) {
        this.db = db;
        this.api = api;
        this.options = options;
        this.workers = workers;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest request) {
        HttpRequestDeadline deadline = ctx.pipeline().get(HttpRequestDeadline.class);
        if (deadline != null) deadline.complete();
        if (request.decoderResult().isFailure()) {
            String why = String.valueOf(request.decoderResult().cause().getMessage());
            // the byte stream can no longer be trusted to be in step with request boundaries
            tail = tail.thenRun(() ->
                    write(ctx, HttpApi.error(HttpResponseStatus.BAD_REQUEST, "malformed request: " + why), false));
            return;
        }
        boolean keepAlive = HttpUtil.isKeepAlive(request);
        HttpCall call;
        try {
            call = HttpCall.of(request);
        } catch (HttpFailure e) {
            // a bad query (percent-encoding): a 400 in its turn, not a dropped connection
            tail = tail.thenRun(
                    () -> write(ctx, HttpApi.error(HttpResponseStatus.valueOf(e.status()), e.getMessage()), keepAlive));
            return;
        }
        tail = tail.thenRunAsync(() -> serve(ctx, call, keepAlive), workers);
    }

    private void serve(ChannelHandlerContext ctx, HttpCall call, boolean keepAlive) {
        if (streaming || !ctx.channel().isActive()) return;
        try {
            switch (api.handle(call)) {
                case HttpReply.Full full -> write(ctx, full, keepAlive);
                case HttpReply.Events events -> {
                    streaming = true;
                    SseStream.Start start = events.start();
                    if (start.replica() != null) {
                        api.follower(
                                new HttpJson.Follower(
                                        start.replica(),
                                        String.valueOf(ctx.channel().remoteAddress()),
                                        new String(start.prefix(), java.nio.charset.StandardCharsets.UTF_8),
                                        java.time.Instant.now().toString()),
                                ctx.channel());
                    }
                    new SseStream(db, ctx.channel(), options).open(start);
                }
                case HttpReply.Socket socket -> {
                    streaming = true;
                    ctx.executor()
                            .execute(() -> WatchSocket.upgrade(
                                    ctx, socket.headers(), socket.user(), db, api.metrics(), options, workers));
                }
            }
        } catch (RuntimeException e) {
            // never let one request break the chain of the ones behind it
            log.warn("failed to serve {} {}", call.method(), call.path(), e);
            ctx.close();
        }
    }

    private static void write(ChannelHandlerContext ctx, HttpReply.Full reply, boolean keepAlive) {
        FullHttpResponse response =
                new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, reply.status(), Unpooled.wrappedBuffer(reply.body()));
        response.headers().set(HttpHeaderNames.CONTENT_TYPE, reply.contentType());
        reply.headers().forEach(response.headers()::set);
        HttpUtil.setContentLength(response, reply.body().length);
        HttpUtil.setKeepAlive(response, keepAlive);
        ChannelFuture f = ctx.writeAndFlush(response);
        if (!keepAlive) f.addListener(ChannelFutureListener.CLOSE);
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
        if (evt instanceof IdleStateEvent) {
            ctx.close();
        } else {
            super.userEventTriggered(ctx, evt);
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        log.debug("HTTP connection {} failed", ctx.channel().remoteAddress(), cause);
        ctx.close();
    }
}
