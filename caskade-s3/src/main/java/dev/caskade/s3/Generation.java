package dev.caskade.s3;

import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * One generation as a destination holds it: an unbroken lineage of snapshots and log objects of one database.
 * A new generation begins whenever continuity breaks (a new or restored store, a gap in the shipped log), so
 * within a generation every revision after its first snapshot is either in a log object or nowhere yet.
 *
 * @param id the generation id (sorts by creation time)
 * @param lineage its lineage record, or null when missing (a generation cut short before its first upload)
 * @param snapshots its snapshots by revision
 * @param logs its log objects by first revision
 */
public record Generation(String id, Lineage lineage, List<SnapshotRef> snapshots, List<LogRef> logs) {

    /** A snapshot object: the store at {@code revision}. */
    public record SnapshotRef(String generation, long revision, String name, long size, Instant modified) {}

    /** A log object: the commits from {@code from} to {@code to}, inclusive. */
    public record LogRef(String generation, long from, long to, String name, long size, Instant modified) {}

    /** The first revision a restore can reach: the oldest snapshot's (-1 when there is none). */
    public long firstRevision() {
        return snapshots.isEmpty() ? -1 : snapshots.getFirst().revision();
    }

    /** The newest revision a restore can reach: the end of the unbroken run of log after the oldest snapshot. */
    public long lastRevision() {
        if (snapshots.isEmpty()) return -1;
        long reach = snapshots.getLast().revision();
        long chain = firstRevision();
        for (LogRef l : logs) {
            if (l.to() <= chain) continue;
            if (l.from() > chain + 1) break;
            chain = l.to();
        }
        return Math.max(reach, chain);
    }

    /** When the newest object was written. */
    public Instant updated() {
        Instant t = Instant.EPOCH;
        for (SnapshotRef s : snapshots) if (s.modified().isAfter(t)) t = s.modified();
        for (LogRef l : logs) if (l.modified().isAfter(t)) t = l.modified();
        return t;
    }

    public long bytes() {
        long b = 0;
        for (SnapshotRef s : snapshots) b += s.size();
        for (LogRef l : logs) b += l.size();
        return b;
    }

    /** The newest snapshot at or below a revision. */
    Optional<SnapshotRef> snapshotAtOrBelow(long revision) {
        SnapshotRef best = null;
        for (SnapshotRef s : snapshots) if (s.revision() <= revision) best = s;
        return Optional.ofNullable(best);
    }

    /** The log objects that carry (after, upTo], in order; empty when there is a hole (checked by the caller). */
    List<LogRef> logsAfter(long after, long upTo) {
        List<LogRef> out = new ArrayList<>();
        long chain = after;
        for (LogRef l : logs) {
            if (chain >= upTo) break;
            if (l.to() <= chain) continue;
            if (l.from() > chain + 1) break;
            out.add(l);
            chain = l.to();
        }
        return out;
    }

    /** Reads every generation at a destination, oldest first. */
    public static List<Generation> list(ObjectStore store) {
        Map<String, List<ObjectStore.ObjectInfo>> byGen = new TreeMap<>();
        for (ObjectStore.ObjectInfo o : store.list(Layout.GENERATIONS)) {
            Layout.generationOf(o.name())
                    .ifPresent(g ->
                            byGen.computeIfAbsent(g, k -> new ArrayList<>()).add(o));
        }
        List<Generation> out = new ArrayList<>();
        for (var e : byGen.entrySet()) out.add(of(store, e.getKey(), e.getValue()));
        return out;
    }

    static Optional<Generation> read(ObjectStore store, String id) {
        List<ObjectStore.ObjectInfo> objects = store.list(Layout.generation(id));
        if (objects.isEmpty()) return Optional.empty();
        return Optional.of(of(store, id, objects));
    }

    private static Generation of(ObjectStore store, String id, List<ObjectStore.ObjectInfo> objects) {
        List<SnapshotRef> snaps = new ArrayList<>();
        List<LogRef> logs = new ArrayList<>();
        boolean hasLineage = false;
        for (ObjectStore.ObjectInfo o : objects) {
            if (o.name().equals(Layout.lineage(id))) hasLineage = true;
            Layout.snapshotRef(o).ifPresent(snaps::add);
            Layout.logRef(o).ifPresent(logs::add);
        }
        snaps.sort(Comparator.comparingLong(SnapshotRef::revision));
        logs.sort(Comparator.comparingLong(LogRef::from).thenComparingLong(LogRef::to));
        Lineage lineage = null;
        if (hasLineage) {
            String name = Layout.lineage(id);
            lineage = store.get(name).map(b -> Lineage.parse(b, name)).orElse(null);
        }
        return new Generation(id, lineage, List.copyOf(snaps), List.copyOf(logs));
    }
}
