package dev.caskade.server;

import static java.nio.charset.StandardCharsets.UTF_8;

import java.util.List;

/** A reply to a RESP command, independent of the protocol version it is written in. */
sealed interface RespReply {

    RespReply OK = new Simple("OK");
    RespReply QUEUED = new Simple("QUEUED");
    RespReply NULL = new Null();
    RespReply NULL_ARRAY = new NullArray();
    RespReply ZERO = new Int(0);
    RespReply ONE = new Int(1);
    RespReply SENT = new Sent();

    /** A status line such as {@code +OK}. */
    record Simple(String text) implements RespReply {}

    /** An error line; {@code text} starts with the Redis prefix (ERR, WRONGTYPE, EXECABORT...). */
    record Err(String text) implements RespReply {}

    /** An integer. */
    record Int(long value) implements RespReply {}

    /** A binary-safe string. */
    record Bulk(byte[] bytes) implements RespReply {}

    /** A missing value: {@code $-1} in RESP2, {@code _} in RESP3. */
    record Null() implements RespReply {}

    /** A missing array (a failed EXEC): {@code *-1} in RESP2, {@code _} in RESP3. */
    record NullArray() implements RespReply {}

    /** An ordered list. */
    record Array(List<RespReply> items) implements RespReply {}

    /** Key/value pairs, flattened: a RESP3 map, or a flat array in RESP2. */
    record Dict(List<RespReply> flat) implements RespReply {}

    /** Out-of-band data (pub/sub messages, watch commits): a RESP3 push {@code >}, a plain array in RESP2. */
    record Push(List<RespReply> items) implements RespReply {}

    /**
     * Nothing more to write: the command already wrote its own frames in order with the pushes they must
     * precede (SUBSCRIBE's confirmations, one per channel).
     */
    record Sent() implements RespReply {}

    static RespReply bulk(String text) {
        return new Bulk(text.getBytes(UTF_8));
    }

    static RespReply bulkOrNull(byte[] bytes) {
        return bytes == null ? NULL : new Bulk(bytes);
    }

    static RespReply integer(long value) {
        return value == 0 ? ZERO : value == 1 ? ONE : new Int(value);
    }

    static RespReply err(String text) {
        return new Err(text);
    }

    static RespReply array(List<RespReply> items) {
        return new Array(items);
    }
}
