package dev.caskade.server;

import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;

/**
 * Collects a request and its body up to the size limit. A larger one gets the API's JSON 413 and the
 * connection is closed, since the rest of its body is still on the way and would be read as a request.
 */
final class HttpRequestAggregator extends HttpObjectAggregator {

    HttpRequestAggregator(int maxRequestBytes) {
        super(maxRequestBytes);
    }

    @Override
    protected void handleOversizedMessage(ChannelHandlerContext ctx, HttpMessage oversized) {
        HttpReply.Full reply = HttpApi.error(
                HttpResponseStatus.REQUEST_ENTITY_TOO_LARGE, "request larger than " + maxContentLength() + " bytes");
        FullHttpResponse response =
                new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, reply.status(), Unpooled.wrappedBuffer(reply.body()));
        response.headers()
                .set(HttpHeaderNames.CONTENT_TYPE, reply.contentType())
                .set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        HttpUtil.setContentLength(response, reply.body().length);
        ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
    }
}
