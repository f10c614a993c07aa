package dev.caskade.server;

import static java.nio.charset.StandardCharsets.UTF_8;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.codec.PrematureChannelClosureException;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.redis.ArrayRedisMessage;
import io.netty.handler.codec.redis.FullBulkStringRedisMessage;
import io.netty.handler.codec.redis.InlineCommandRedisMessage;
import io.netty.handler.codec.redis.RedisCodecException;
import io.netty.handler.codec.redis.RedisMessage;
import io.netty.handler.timeout.IdleStateEvent;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One connection's end of the pipeline: turns decoded frames into argument lists, runs them, and writes the
 * replies in the session's protocol. Replies are flushed once per read batch, which is what makes pipelining
 * (redis-benchmark -P) cheap.
 */
final class RespHandler extends SimpleChannelInboundHandler<RedisMessage> {
    private static final Logger LOG = LoggerFactory.getLogger(RespHandler.class);

    /** Commands a connection may have in flight off the event loop before we stop reading from it. */
    private static final int MAX_PENDING = 1024;

    private final RespServer server;
    private final RespCommands commands;
    /** Where commands run when they may block on fsync; null runs them on the event loop. */
    private final Executor offload;

    private final AtomicInteger pending = new AtomicInteger();
    private CompletableFuture<Void> tail = CompletableFuture.completedFuture(null);
    private RespSession session;
    private volatile boolean closing;

    RespHandler(RespServer server, RespCommands commands, Executor offload) {
        this.server = server;
        this.commands = commands;
        this.offload = offload;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        session = server.register(ctx.channel());
        if (session == null) {
            // over maxClients: say why, as Redis does, then hang up
            closing = true;
            write(ctx, RespReply.err("ERR max number of clients reached"), RespProtocol.RESP2);
            ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
            return;
        }
        ctx.fireChannelActive();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (session != null) server.unregister(session);
        ctx.fireChannelInactive();
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, RedisMessage msg) {
        if (closing) return;
        List<byte[]> args;
        try {
            args = arguments(msg);
        } catch (RedisCodecException e) {
            fail(ctx, e.getMessage());
            return;
        }
        if (args.isEmpty()) return; // an empty line or "*0": Redis ignores it too
        if (offload == null || (pending.get() == 0 && RespCommands.readOnly(args.get(0)))) {
            // no fsync to wait for, and nothing of this connection's still queued: answer right here
            run(ctx, args);
            return;
        }
        // SYNC durability: a commit waits for fsync, which must not stall the other connections of this event
        // loop; commands still run one at a time and in order for this connection
        if (pending.incrementAndGet() >= MAX_PENDING) ctx.channel().config().setAutoRead(false);
        tail = tail.thenRunAsync(
                () -> {
                    try {
                        run(ctx, args);
                    } catch (RuntimeException e) {
                        // a failed write must not break the chain: later commands would never run
                        LOG.debug("reply not written: {}", e.toString());
                    }
                    // counted down on the event loop, behind the reply's own write task: a read answered inline
                    // once nothing is pending can then never overtake this reply
                    try {
                        ctx.executor().execute(() -> {
                            int left = pending.decrementAndGet();
                            if (left == 0) ctx.flush();
                            if (left == MAX_PENDING / 2) ctx.channel().config().setAutoRead(true);
                        });
                    } catch (java.util.concurrent.RejectedExecutionException closing) {
                        // the event loop is shutting down with the server
                    }
                },
                offload);
    }

    private void run(ChannelHandlerContext ctx, List<byte[]> args) {
        if (closing) return;
        session.lastCommandAt = System.currentTimeMillis();
        session.lastCommand =
                new String(args.get(0), 0, Math.min(args.get(0).length, 32), UTF_8).toLowerCase(Locale.ROOT);
        server.countCommand();
        RespReply reply;
        try {
            reply = commands.execute(session, args);
        } catch (RuntimeException e) {
            // a bug or a store failure must not take the connection down with it
            LOG.warn("command {} failed", session.lastCommand, e);
            reply = RespReply.err("ERR " + e.getClass().getSimpleName() + ": " + e.getMessage());
        }
        write(ctx, reply, session.protocol);
        if (session.closing) {
            closing = true;
            ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        ctx.flush();
        ctx.fireChannelReadComplete();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
        if (evt instanceof IdleStateEvent) {
            if (session != null && session.listening()) return; // a subscriber waits quietly by design
            LOG.debug("closing idle client {}", session == null ? "?" : session.remoteAddress);
            ctx.close();
            return;
        }
        super.userEventTriggered(ctx, evt);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (cause instanceof IOException || cause instanceof PrematureChannelClosureException) {
            // resets and broken pipes are what clients do when they go away: not worth a warning
            LOG.debug("client connection error: {}", cause.toString());
            ctx.close();
        } else if (cause instanceof RedisCodecException
                || cause instanceof DecoderException
                || cause instanceof TooLongFrameException) {
            Throwable root = cause instanceof DecoderException && cause.getCause() != null ? cause.getCause() : cause;
            LOG.debug("protocol error from client: {}", root.toString());
            fail(ctx, root.getMessage());
        } else {
            LOG.warn("unexpected error on a client connection", cause);
            ctx.close();
        }
    }

    /** A malformed frame: the stream cannot be resynchronised, so reply and hang up, as Redis does. */
    private void fail(ChannelHandlerContext ctx, String why) {
        if (closing) return;
        closing = true;
        RespProtocol protocol = session == null ? RespProtocol.RESP2 : session.protocol;
        write(ctx, RespReply.err("ERR Protocol error: " + (why == null ? "malformed request" : why)), protocol);
        ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
    }

    private static void write(ChannelHandlerContext ctx, RespReply reply, RespProtocol protocol) {
        ByteBuf out = ctx.alloc().buffer();
        protocol.encode(reply, out);
        ctx.write(out, ctx.voidPromise());
    }

    /** The command's arguments; clients send arrays of bulk strings (or an inline line, for telnet users). */
    private static List<byte[]> arguments(RedisMessage msg) {
        return switch (msg) {
            case ArrayRedisMessage array -> {
                if (array.isNull()) yield List.of();
                List<byte[]> args = new ArrayList<>(array.children().size());
                for (RedisMessage child : array.children()) {
                    args.add(
                            switch (child) {
                                case FullBulkStringRedisMessage b when !b.isNull() -> ByteBufUtil.getBytes(b.content());
                                default -> throw new RedisCodecException("expected a bulk string, got " + kind(child));
                            });
                }
                yield args;
            }
            case InlineCommandRedisMessage inline -> {
                List<byte[]> args = new ArrayList<>();
                for (String word : inline.content().trim().split("\\s+")) {
                    if (!word.isEmpty()) args.add(word.getBytes(UTF_8));
                }
                yield args;
            }
            default -> throw new RedisCodecException("expected an array of bulk strings, got " + kind(msg));
        };
    }

    private static String kind(RedisMessage msg) {
        return msg.getClass().getSimpleName().replace("RedisMessage", "").toLowerCase(Locale.ROOT);
    }
}
