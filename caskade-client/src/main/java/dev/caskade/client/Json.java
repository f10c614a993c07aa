package dev.caskade.client;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import tools.jackson.core.JacksonException;
import tools.jackson.core.JsonGenerator;
import tools.jackson.core.JsonParser;
import tools.jackson.core.JsonToken;
import tools.jackson.core.ObjectReadContext;
import tools.jackson.core.ObjectWriteContext;
import tools.jackson.core.json.JsonFactory;

/**
 * The server's small JSON bodies on Jackson's streaming parser, without a data binder: an answer becomes a tree of
 * {@link Map}, {@link List}, {@link String}, {@link Long}, {@link Double}, {@link Boolean} and null, read through
 * {@link Obj}, which tolerates fields it does not know (a newer server may add some).
 */
final class Json {
    private static final JsonFactory FACTORY = new JsonFactory();

    private Json() {}

    /** A JSON object as read. */
    record Obj(Map<String, Object> fields) {

        long number(String name) {
            return fields.get(name) instanceof Number n ? n.longValue() : 0;
        }

        /** The number under the first of {@code names} present, else 0. */
        long number(String... names) {
            for (String name : names) if (fields.get(name) instanceof Number n) return n.longValue();
            return 0;
        }

        boolean bool(String name) {
            return fields.get(name) instanceof Boolean b && b;
        }

        String string(String name) {
            return fields.get(name) instanceof String s ? s : null;
        }

        /** {@code name} as UTF-8 text, or {@code name_base64} for bytes that are not; null when neither is there. */
        byte[] bytes(String name) {
            if (fields.get(name) instanceof String s) return s.getBytes(StandardCharsets.UTF_8);
            if (fields.get(name + "_base64") instanceof String s)
                return Base64.getDecoder().decode(s);
            return null;
        }

        List<Obj> objects(String name) {
            if (!(fields.get(name) instanceof List<?> list)) return List.of();
            List<Obj> out = new ArrayList<>(list.size());
            for (Object o : list) out.add(of(o));
            return out;
        }

        @SuppressWarnings("unchecked")
        static Obj of(Object value) {
            if (value instanceof Map<?, ?> m) return new Obj((Map<String, Object>) m);
            throw new IllegalArgumentException("expected a JSON object");
        }
    }

    /** Parses one JSON object; a malformed body or another value throws. */
    static Obj object(byte[] body) {
        try (JsonParser p = FACTORY.createParser(ObjectReadContext.empty(), body)) {
            JsonToken t = p.nextToken();
            if (t != JsonToken.START_OBJECT) throw new IllegalArgumentException("expected a JSON object");
            return Obj.of(value(p, t));
        } catch (JacksonException e) {
            throw new IllegalArgumentException("malformed JSON: " + e.getOriginalMessage(), e);
        }
    }

    private static Object value(JsonParser p, JsonToken t) {
        return switch (t) {
            case START_OBJECT -> {
                Map<String, Object> m = new LinkedHashMap<>();
                for (String name; (name = p.nextName()) != null; ) m.put(name, value(p, p.nextToken()));
                yield m;
            }
            case START_ARRAY -> {
                List<Object> list = new ArrayList<>();
                for (JsonToken e; (e = p.nextToken()) != JsonToken.END_ARRAY; ) list.add(value(p, e));
                yield list;
            }
            case VALUE_STRING -> p.getString();
            case VALUE_NUMBER_INT -> p.getLongValue();
            case VALUE_NUMBER_FLOAT -> p.getDoubleValue();
            case VALUE_TRUE -> Boolean.TRUE;
            case VALUE_FALSE -> Boolean.FALSE;
            case VALUE_NULL -> null;
            default -> throw new IllegalArgumentException("unexpected JSON token " + t);
        };
    }

    /** Writes one document with {@code body}'s calls to the generator. */
    static byte[] write(Consumer<JsonGenerator> body) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(256);
        try (JsonGenerator g = FACTORY.createGenerator(ObjectWriteContext.empty(), out)) {
            body.accept(g);
        }
        return out.toByteArray();
    }

    /** Writes {@code bytes} as {@code name} when it is UTF-8, else as {@code name_base64}. */
    static void bytes(JsonGenerator g, String name, byte[] bytes) {
        String s = utf8OrNull(bytes);
        if (s != null) g.writeStringProperty(name, s);
        else g.writeStringProperty(name + "_base64", Base64.getEncoder().encodeToString(bytes));
    }

    /** The bytes as a string if they are valid UTF-8, else null. */
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
}
