package dev.caskade.server;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.annotation.JsonUnwrapped;
import dev.caskade.Change;
import dev.caskade.Entry;
import dev.caskade.WatchEvent;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import tools.jackson.databind.DeserializationFeature;
import tools.jackson.databind.json.JsonMapper;

/** The JSON bodies of the HTTP API and the one mapper that reads and writes them. */
final class HttpJson {
    static final JsonMapper MAPPER = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .build();

    private HttpJson() {}

    static byte[] write(Object body) {
        return MAPPER.writeValueAsBytes(body);
    }

    /** The bytes as a string if they are valid UTF-8, else null (the caller then sends base64). */
    static String utf8OrNull(byte[] bytes) {
        try {
            return StandardCharsets.UTF_8
                    .newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes))
                    .toString();
        } catch (CharacterCodingException e) {
            return null;
        }
    }

    static String base64IfNotUtf8(byte[] bytes, String utf8) {
        return utf8 == null ? Base64.getEncoder().encodeToString(bytes) : null;
    }

    /** {@code {"error": ..., "code": ...}}. */
    record Error(String error, int code) {}

    /** The revision a write committed at. */
    record Revision(long revision) {}

    /**
     * A key with its value; a value that is not UTF-8 goes in {@code value_base64}. {@code expiresAt} (epoch ms) only
     * for a key with a time-to-live.
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    record Item(
            String key,
            @JsonProperty("key_base64") String keyBase64,
            String value,
            @JsonProperty("value_base64") String valueBase64,
            long revision,
            Long expiresAt) {

        static Item of(Entry e) {
            String key = utf8OrNull(e.key());
            String value = utf8OrNull(e.value());
            return new Item(
                    key,
                    base64IfNotUtf8(e.key(), key),
                    value,
                    base64IfNotUtf8(e.value(), value),
                    e.revision(),
                    expiryOrNull(e.expiresAt()));
        }
    }

    /** An expiry for JSON: null (left out) when there is none. */
    static Long expiryOrNull(long epochMillis) {
        return epochMillis == 0 ? null : epochMillis;
    }

    /**
     * One page of {@code GET /v1/kv}. {@code next} (or {@code next_base64} for a key that is not UTF-8; send
     * it back percent-encoded as {@code after}) is absent on the last page.
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    record Page(
            long revision,
            List<Item> items,
            String next,
            @JsonProperty("next_base64") String nextBase64) {

        static Page of(long revision, List<Item> items, byte[] next) {
            if (next == null) return new Page(revision, items, null, null);
            String s = utf8OrNull(next);
            return new Page(revision, items, s, base64IfNotUtf8(next, s));
        }
    }

    /**
     * A comparison of {@code POST /v1/txn}: the key's revision must equal {@code revision} (0: absent). A key that is
     * not UTF-8 goes in {@code key_base64}.
     */
    record Compare(String key, @JsonProperty("key_base64") String keyBase64, long revision) {}

    /**
     * An operation of {@code POST /v1/txn}. A key or value that is not UTF-8 goes in {@code key_base64} or {@code
     * value_base64}; a time-to-live in whole seconds in {@code ttl}, or in milliseconds in {@code ttl_ms}.
     */
    record Op(
            String op,
            String key,
            @JsonProperty("key_base64") String keyBase64,
            String value,
            @JsonProperty("value_base64") String valueBase64,
            Long ttl,
            @JsonProperty("ttl_ms") Long ttlMs) {}

    /** The body of {@code POST /v1/txn}. */
    record Txn(List<Compare> compare, List<Op> success, List<Op> failure) {}

    /** The answer to {@code POST /v1/txn}. */
    record TxnResult(boolean succeeded, long revision) {}

    /** The answer to {@code GET /v1/digest}. */
    record Digest(long revision, long keys, String digest) {}

    /** The answer to {@code GET /v1/status}. */
    record Status(
            long revision,
            long keys,
            String role,
            long diskBytes,
            long liveBytes,
            long deadBytes,
            int segments,
            long compactedRevision,
            String durability,
            int watches,
            int snapshots,
            long merges,
            List<Replication.ReplicaStatus> replication,
            @JsonInclude(JsonInclude.Include.NON_NULL) FollowStatus follow,
            @JsonInclude(JsonInclude.Include.NON_NULL) ClusterStatus cluster,
            List<Follower> followers) {}

    /**
     * A live copy streaming from this server: a follower server or a client replica (its {@code Caskade-Replica}
     * header), the address it connects from, the prefix it copies and since when (ISO-8601).
     */
    record Follower(String replica, String address, String prefix, String since) {}

    /** A health answer. */
    record Health(String status) {}

    /** A readiness answer of 503 with the reason. */
    record NotReady(String status, String reason) {}

    /** One change of a {@code commit} event; {@code expiresAt} (epoch ms) only for a put with a time-to-live. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    record ChangeBody(
            String type,
            String key,
            @JsonProperty("key_base64") String keyBase64,
            String value,
            @JsonProperty("value_base64") String valueBase64,
            Long expiresAt) {

        static ChangeBody of(Change c) {
            String key = utf8OrNull(c.key());
            String value = utf8OrNull(c.value());
            return new ChangeBody(
                    c.type().name().toLowerCase(Locale.ROOT),
                    key,
                    base64IfNotUtf8(c.key(), key),
                    value,
                    base64IfNotUtf8(c.value(), value),
                    expiryOrNull(c.expiresAt()));
        }
    }

    /** The data of a {@code commit} event. */
    record CommitEvent(long revision, long timestamp, List<ChangeBody> changes) {

        static CommitEvent of(WatchEvent.Commit c) {
            return new CommitEvent(
                    c.revision(),
                    c.timestamp(),
                    c.changes().stream().map(ChangeBody::of).toList());
        }
    }

    /** The data of a {@code snapshot} event: part of the state at {@code revision}; {@code last} on the final one. */
    record SnapshotEvent(long revision, List<Item> items, boolean last) {}

    /** The data of a {@code compacted} event. */
    record Compacted(long oldest) {}

    /** The data of an {@code overflow} or {@code error} event: reconnect with Last-Event-ID (or from) = resume. */
    record Resume(long resume) {}

    /**
     * One message a {@code /v1/ws} socket sends: its {@code type}, the {@code watch} it belongs to or the
     * {@code id} of the request it answers, and the same fields as the data of the matching SSE event.
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonPropertyOrder({"type", "watch", "id", "message"})
    record SocketMessage(
            String type,
            String watch,
            String id,
            String message,
            @JsonUnwrapped Object body) {

        /** A message of the watch {@code watch}. */
        static SocketMessage of(String type, String watch, Object body) {
            return new SocketMessage(type, watch, null, null, body);
        }

        /** The answer to a request that failed: nothing changed. */
        static SocketMessage error(String id, String message) {
            return new SocketMessage("error", null, id, message, null);
        }
    }

    /** One request a client sends on a {@code /v1/ws} socket. */
    record SocketRequest(
            String op,
            String id,
            String prefix,
            @JsonProperty("prefix_base64") String prefixBase64,
            Long from,
            Boolean snapshot) {}
}
