package dev.caskade.server;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.redis.BulkStringHeaderRedisMessage;
import io.netty.handler.codec.redis.FullBulkStringRedisMessage;
import io.netty.handler.codec.redis.RedisCodecException;
import io.netty.util.ReferenceCountUtil;

/**
 * Enforces {@link RespOptions#maxRequestBytes()} on a bulk string's declared length, before the aggregator starts
 * buffering it: a client cannot make the server hold more than the limit for one argument.
 */
final class RespFrameGuard extends ChannelInboundHandlerAdapter {
    /** Redis refuses more arguments than this in one command too. */
    static final long MAX_ARRAY_LENGTH = 1024 * 1024;

    /** Commands are flat arrays; a little nesting is tolerated only so the error is a protocol error. */
    static final int MAX_ARRAY_DEPTH = 8;

    private final long maxBulkBytes;

    RespFrameGuard(long maxBulkBytes) {
        this.maxBulkBytes = maxBulkBytes;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof BulkStringHeaderRedisMessage h && h.bulkStringLength() > maxBulkBytes) {
            throw new RedisCodecException("invalid bulk length");
        }
        if (msg instanceof FullBulkStringRedisMessage b
                && !b.isNull()
                && b.content().readableBytes() > maxBulkBytes) {
            ReferenceCountUtil.release(msg);
            throw new RedisCodecException("invalid bulk length");
        }
        ctx.fireChannelRead(msg);
    }
}
