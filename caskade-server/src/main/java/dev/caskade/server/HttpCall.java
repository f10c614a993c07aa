package dev.caskade.server;

import io.netty.buffer.ByteBufUtil;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;

/**
 * One request, copied off the event loop's buffers so that a worker thread can serve it after the
 * buffer is released.
 */
record HttpCall(HttpMethod method, String path, HttpQuery query, HttpHeaders headers, byte[] body) {

    static HttpCall of(FullHttpRequest request) {
        String uri = request.uri();
        int q = uri.indexOf('?');
        String path = q < 0 ? uri : uri.substring(0, q);
        int hash = path.indexOf('#');
        if (hash >= 0) path = path.substring(0, hash);
        String query = q < 0 ? "" : uri.substring(q + 1);
        return new HttpCall(
                request.method(),
                path,
                HttpQuery.parse(query),
                request.headers().copy(),
                ByteBufUtil.getBytes(request.content()));
    }
}
