package dev.caskade.server;

import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.util.Map;

/**
 * What the API answers to one request: a complete response, or an event stream or WebSocket the connection
 * takes over.
 */
sealed interface HttpReply {

    /** A complete response with a body. */
    record Full(HttpResponseStatus status, String contentType, byte[] body, Map<String, String> headers)
            implements HttpReply {}

    /** A {@code text/event-stream} of the commits under {@code prefix}. */
    record Events(SseStream.Start start) implements HttpReply {}

    /** A WebSocket upgrade to {@code /v1/ws}; {@code headers} are the request's, for the handshake; each watch is checked against {@code user}. */
    record Socket(HttpHeaders headers, User user) implements HttpReply {}
}
