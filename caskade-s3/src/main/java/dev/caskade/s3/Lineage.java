package dev.caskade.s3;

import java.nio.charset.StandardCharsets;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.json.JsonMapper;

/**
 * The small record that opens every generation ({@code lineage.json}): where it came from and why it began,
 * so that a person (and {@code caskade generations}) can follow the chain of generations of one database.
 *
 * @param generation this generation's id
 * @param createdAt epoch ms
 * @param startRevision the revision of its first snapshot
 * @param parent the generation this one follows at the same destination, or null
 * @param parentRevision how far the parent had shipped when this one began (0 when unknown)
 * @param reason why a new generation began: {@code new}, {@code gap}, {@code replaced}, ...
 * @param writer who wrote it: host, pid and the shipper's random id
 * @param source the data directory it ships
 */
public record Lineage(
        String generation,
        long createdAt,
        long startRevision,
        String parent,
        long parentRevision,
        String reason,
        String writer,
        String source) {
    static final JsonMapper JSON = JsonMapper.builder().build();

    byte[] toJson() {
        return JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(this);
    }

    static Lineage parse(byte[] json, String object) {
        try {
            return JSON.readValue(json, Lineage.class);
        } catch (JacksonException e) {
            throw new CorruptObjectException(
                    "unreadable lineage record (" + new String(json, StandardCharsets.UTF_8).strip() + ")",
                    object,
                    0,
                    e);
        }
    }
}
