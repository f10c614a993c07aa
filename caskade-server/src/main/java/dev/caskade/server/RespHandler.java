package dev.caskade.server;

import dev.caskade.Caskade;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.codec.PrematureChannelClosureException;
import io.netty.handler.timeout.IdleStateEvent;
import java.io.IOException;
import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.Executor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One connection's end of the pipeline: turns decoded frames into argument lists, runs them, and writes the
 * replies in the session's protocol. Replies are flushed once per read batch, which is what makes pipelining
 * (redis-benchmark -P) cheap.
 */
final class RespHandler extends ChannelInboundHandlerAdapter implements ReplyGate.Waiter {
    private static final Logger LOG = LoggerFactory.getLogger(RespHandler.class);

    /** Replies a connection may have waiting for an fsync before we stop reading from it. */
    private static final int MAX_HELD = 1024;

    private final RespServer server;
    private final RespCommands commands;
    private final Caskade db;

    /**
     * Replies waiting for the store to be durable up to {@code revision}, in request order. Under SYNC every
     * command runs here on the event loop and its writes do not wait for an fsync; the reply, and every reply
     * after it on this connection, waits instead. All the connections' commits written meanwhile share one
     * fsync. Event-loop confined.
     */
    private final ArrayDeque<Held> held = new ArrayDeque<>();

    private record Held(long revision, ByteBuf reply) {}

    /** This connection's event loop's gate; set when the connection becomes active. */
    private ReplyGate gate;
    /** Waiting at the gate: at most once at a time. */
    private boolean atGate;

    private ChannelHandlerContext context;

    /** Where a password check (PBKDF2, ~0.1 s) runs; null when there are no users. */
    private final Executor logins;
    /** A follower's store: its writes wait for the primary, so they run like logins, off the event loop. */
    private final boolean forwarding;
    /** A login is running off the loop: commands that arrive meanwhile wait here, in order. */
    private final ArrayDeque<List<byte[]>> waiting = new ArrayDeque<>();

    private boolean loggingIn;
    /** A command that writes its own replies (SUBSCRIBE...) waits until the held replies before it are out. */
    private boolean awaitingHeld;

    private boolean paused() {
        return loggingIn || awaitingHeld;
    }

    private RespSession session;
    private boolean closing;
    /** QUIT arrived while replies were held: close once they are out. */
    private boolean closeWhenReleased;

    RespHandler(RespServer server, RespCommands commands, Caskade db, Executor logins) {
        this.server = server;
        this.commands = commands;
        this.db = db;
        this.logins = logins;
        this.forwarding = db.options().upstream() != null;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        context = ctx;
        gate = server.gate(ctx.executor());
        session = server.register(ctx.channel());
        if (session == null) {
            // over maxClients: say why, as Redis does, then hang up
            closing = true;
            ctx.write(encode(ctx, RespReply.err("ERR max number of clients reached"), RespProtocol.RESP2));
            ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
            return;
        }
        ctx.fireChannelActive();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (session != null) server.unregister(session);
        for (Held h : held) h.reply().release();
        held.clear();
        ctx.fireChannelInactive();
    }

    @Override
    @SuppressWarnings("unchecked") // RespRequestDecoder emits nothing else
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (closing) return;
        List<byte[]> args = (List<byte[]>) msg;
        if (paused()) {
            waiting.add(args);
            return;
        }
        dispatch(ctx, args);
    }

    private void dispatch(ChannelHandlerContext ctx, List<byte[]> args) {
        if (logins != null && (RespCommands.logsIn(args.get(0)) || forwarding && RespCommands.mayWrite(args.get(0)))) {
            login(ctx, args);
        } else if (!held.isEmpty() && RespCommands.writesOwnReplies(args.get(0))) {
            // its confirmations go straight to the socket: they must not overtake replies still held
            awaitingHeld = true;
            waiting.add(args);
            ctx.channel().config().setAutoRead(false);
        } else {
            run(ctx, execute(args));
        }
    }

    /** Runs the commands that waited, until one has to wait again. */
    private void resume(ChannelHandlerContext ctx) {
        while (!paused() && !closing && !waiting.isEmpty()) dispatch(ctx, waiting.poll());
        flushAndAwait(ctx);
        if (!paused() && !closing) ctx.channel().config().setAutoRead(held.size() < MAX_HELD);
    }

    private RespReply execute(List<byte[]> args) {
        session.lastCommandAt = System.currentTimeMillis();
        session.lastCommandName = args.get(0);
        server.countCommand();
        try {
            return commands.execute(session, args);
        } catch (RuntimeException e) {
            // a bug or a store failure must not take the connection down with it
            LOG.warn("command {} failed", session.lastCommand(), e);
            return RespReply.err("ERR " + e.getClass().getSimpleName() + ": " + e.getMessage());
        }
    }

    /**
     * AUTH and HELLO check a password, which is slow on purpose: it runs off the event loop while this connection
     * reads nothing more, and the commands already decoded wait their turn.
     */
    private void login(ChannelHandlerContext ctx, List<byte[]> args) {
        loggingIn = true;
        ctx.channel().config().setAutoRead(false);
        try {
            logins.execute(() -> {
                RespReply reply = execute(args);
                ctx.executor().execute(() -> afterLogin(ctx, reply));
            });
        } catch (java.util.concurrent.RejectedExecutionException stopping) {
            ctx.close();
        }
    }

    private void afterLogin(ChannelHandlerContext ctx, RespReply reply) {
        loggingIn = false;
        run(ctx, reply);
        resume(ctx);
    }

    /** Sends or holds the reply of a command that ran. */
    private void run(ChannelHandlerContext ctx, RespReply reply) {
        if (closing) return;
        ByteBuf out = encode(ctx, reply, session.protocol);
        // whatever this command wrote or read is at most the latest revision: the reply goes once that is durable
        long revision = db.revision();
        if (held.isEmpty() && revision <= db.durableRevision()) {
            ctx.write(out, ctx.voidPromise());
        } else {
            held.add(new Held(revision, out));
            if (held.size() == MAX_HELD) ctx.channel().config().setAutoRead(false);
        }
        if (session.closing) {
            closing = true;
            if (held.isEmpty()) {
                ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
            } else {
                closeWhenReleased = true;
            }
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        flushAndAwait(ctx);
        ctx.fireChannelReadComplete();
    }

    /** Flushes what is ready and asks to hear when the held replies can go. */
    private void flushAndAwait(ChannelHandlerContext ctx) {
        ctx.flush();
        awaitGate();
    }

    /** Waits at the gate for the newest held reply, unless already waiting or nothing is held. */
    private void awaitGate() {
        Held last = held.peekLast();
        if (last != null && !atGate) {
            atGate = true;
            gate.await(this, last.revision());
        }
    }

    @Override
    public void release(Throwable failure) {
        atGate = false;
        release(context, failure);
        if (context.channel().isActive()) awaitGate();
    }

    /** Sends the held replies that are durable now; after a failed fsync, an error for every one that is not. */
    private void release(ChannelHandlerContext ctx, Throwable failure) {
        long durable = db.durableRevision();
        for (Held h = held.peek(); h != null && (h.revision() <= durable || failure != null); h = held.peek()) {
            held.poll();
            if (h.revision() <= durable) {
                ctx.write(h.reply(), ctx.voidPromise());
            } else {
                h.reply().release();
                Throwable why = failure instanceof java.util.concurrent.CompletionException c && c.getCause() != null
                        ? c.getCause()
                        : failure;
                ctx.write(
                        encode(ctx, RespReply.err("ERR not durable: " + why.getMessage()), session.protocol),
                        ctx.voidPromise());
            }
        }
        ctx.flush();
        if (held.isEmpty() && awaitingHeld) {
            awaitingHeld = false;
            resume(ctx);
        }
        if (held.size() < MAX_HELD / 2 && !closing && !paused())
            ctx.channel().config().setAutoRead(true);
        if (held.isEmpty() && closeWhenReleased) {
            ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
        }
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
        } else if (cause instanceof RespRequestDecoder.ProtocolException
                || cause instanceof DecoderException
                        && cause.getCause() instanceof RespRequestDecoder.ProtocolException) {
            Throwable root = cause instanceof RespRequestDecoder.ProtocolException ? cause : cause.getCause();
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
        ctx.write(encode(
                ctx, RespReply.err("ERR Protocol error: " + (why == null ? "malformed request" : why)), protocol));
        ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
    }

    private static ByteBuf encode(ChannelHandlerContext ctx, RespReply reply, RespProtocol protocol) {
        ByteBuf out = ctx.alloc().buffer();
        protocol.encode(reply, out);
        return out;
    }
}
