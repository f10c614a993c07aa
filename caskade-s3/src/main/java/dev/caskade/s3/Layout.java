package dev.caskade.s3;

import java.security.SecureRandom;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.HexFormat;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Object names at a destination. Revisions are written with 20 digits so that names sort by revision, and
 * generation ids start with their UTC creation time so that they sort by age:
 *
 * <pre>
 * lease.json                                         the writer's lease (fencing)
 * generations/&lt;id&gt;/lineage.json                        where the generation came from
 * generations/&lt;id&gt;/snapshots/&lt;revision&gt;.snap          the store at that revision
 * generations/&lt;id&gt;/log/&lt;from&gt;-&lt;to&gt;.seg                 commits from..to (inclusive)
 * </pre>
 */
final class Layout {
    static final String GENERATIONS = "generations/";
    static final String LEASE = "lease.json";
    private static final Pattern ID = Pattern.compile("\\d{8}T\\d{9}Z-[0-9a-f]{8}");
    private static final Pattern SNAPSHOT = Pattern.compile("generations/(" + ID + ")/snapshots/(\\d{20})\\.snap");
    private static final Pattern LOG = Pattern.compile("generations/(" + ID + ")/log/(\\d{20})-(\\d{20})\\.seg");
    private static final DateTimeFormatter STAMP =
            DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmssSSS'Z'").withZone(ZoneOffset.UTC);
    private static final SecureRandom RANDOM = new SecureRandom();

    private Layout() {}

    static String newGenerationId(Instant now) {
        byte[] r = new byte[4];
        RANDOM.nextBytes(r);
        return STAMP.format(now) + "-" + HexFormat.of().formatHex(r);
    }

    static boolean isGenerationId(String s) {
        return ID.matcher(s).matches();
    }

    static String generation(String id) {
        return GENERATIONS + id + "/";
    }

    static String lineage(String id) {
        return generation(id) + "lineage.json";
    }

    static String snapshot(String id, long revision) {
        return generation(id) + "snapshots/" + "%020d".formatted(revision) + ".snap";
    }

    static String log(String id, long from, long to) {
        return generation(id) + "log/" + "%020d".formatted(from) + "-" + "%020d".formatted(to) + ".seg";
    }

    static Optional<Generation.SnapshotRef> snapshotRef(ObjectStore.ObjectInfo o) {
        Matcher m = SNAPSHOT.matcher(o.name());
        if (!m.matches()) return Optional.empty();
        return Optional.of(
                new Generation.SnapshotRef(m.group(1), Long.parseLong(m.group(2)), o.name(), o.size(), o.modified()));
    }

    static Optional<Generation.LogRef> logRef(ObjectStore.ObjectInfo o) {
        Matcher m = LOG.matcher(o.name());
        if (!m.matches()) return Optional.empty();
        long from = Long.parseLong(m.group(2));
        long to = Long.parseLong(m.group(3));
        if (from > to) return Optional.empty();
        return Optional.of(new Generation.LogRef(m.group(1), from, to, o.name(), o.size(), o.modified()));
    }

    /** The generation id of an object name under generations/, if it has one. */
    static Optional<String> generationOf(String name) {
        if (!name.startsWith(GENERATIONS)) return Optional.empty();
        int slash = name.indexOf('/', GENERATIONS.length());
        if (slash < 0) return Optional.empty();
        String id = name.substring(GENERATIONS.length(), slash);
        return isGenerationId(id) ? Optional.of(id) : Optional.empty();
    }
}
