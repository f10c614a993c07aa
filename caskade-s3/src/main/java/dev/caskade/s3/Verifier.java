package dev.caskade.s3;

import java.io.BufferedInputStream;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;

/**
 * Checks every object at a destination ({@code caskade verify --from URL}): each block's checksum, each object's
 * end record, names against headers, commit order, and that each generation's log is an unbroken chain from its
 * first snapshot. Reports every problem found rather than stopping at the first.
 */
public final class Verifier {
    private Verifier() {}

    /**
     * @param generations generations checked
     * @param objects objects read in full
     * @param bytes bytes read
     * @param problems one line per problem; empty when everything checked out
     */
    public record Report(int generations, long objects, long bytes, List<String> problems) {
        public boolean ok() {
            return problems.isEmpty();
        }
    }

    /** Told after each object. */
    @FunctionalInterface
    public interface Progress {
        void update(long objectsDone, long objectsTotal, long bytesDone, long bytesTotal);
    }

    public static Report run(ObjectStore store, Progress progress) {
        List<Generation> gens = Generation.list(store);
        long total = 0;
        long totalBytes = 0;
        for (Generation g : gens) {
            total += g.snapshots().size() + g.logs().size();
            totalBytes += g.bytes();
        }
        List<String> problems = new ArrayList<>();
        long objects = 0;
        long bytes = 0;
        for (Generation g : gens) {
            // a missing lineage record is harmless (it is for people): a shipper cut short after the snapshot.
            // Only a lineage record (a shipper cut short before its snapshot, by an older version) is harmless too:
            // nothing in it was ever restorable, and retention removes it
            if (g.snapshots().isEmpty() && !g.logs().isEmpty()) {
                problems.add(g.id() + ": no snapshot (nothing in it is restorable)");
            }
            for (Generation.SnapshotRef s : g.snapshots()) {
                try (InputStream in = new BufferedInputStream(store.open(s.name()), 1 << 16)) {
                    BlockCodec.Reader r = SnapshotCodec.reader(in, s.name());
                    SnapshotCodec.Header h = SnapshotCodec.header(r);
                    if (h.revision() != s.revision()) {
                        problems.add(s.name() + ": header says revision " + h.revision());
                    }
                    long items = 0;
                    for (BlockCodec.Block b = r.next(); b != null; b = r.next()) {
                        long[] n = {0};
                        SnapshotCodec.items(b.decode(), s.name(), b.offset(), it -> n[0]++);
                        items += n[0];
                    }
                    if (items != r.records())
                        problems.add(s.name() + ": " + items + " keys, end record says " + r.records());
                } catch (IOException | RuntimeException e) {
                    problems.add(s.name() + ": " + e.getMessage());
                }
                objects++;
                bytes += s.size();
                progress.update(objects, total, bytes, totalBytes);
            }
            long chain = g.firstRevision();
            for (Generation.LogRef l : g.logs()) {
                if (chain >= 0 && l.to() > chain && l.from() > chain + 1) {
                    problems.add(
                            g.id() + ": log hole: revisions " + (chain + 1) + " to " + (l.from() - 1) + " missing");
                }
                if (l.to() > chain) chain = l.to();
                try {
                    byte[] data = store.get(l.name()).orElseThrow(() -> new IOException("vanished"));
                    BlockCodec.Reader r = LogCodec.reader(new ByteArrayInputStream(data), l.name());
                    LogCodec.Header h = LogCodec.header(r, l.name());
                    if (h.from() != l.from() || h.to() != l.to()) {
                        problems.add(l.name() + ": header says " + h.from() + "-" + h.to());
                    }
                    long prev = l.from() - 1;
                    long commits = 0;
                    for (BlockCodec.Block b = r.next(); b != null; b = r.next()) {
                        for (var c : LogCodec.commits(b.decode(), l.name(), b.offset())) {
                            if (c.revision() <= prev || c.revision() > l.to()) {
                                problems.add(l.name() + ": commit " + c.revision() + " out of order");
                            }
                            prev = c.revision();
                            commits++;
                        }
                    }
                    if (commits != r.records()) {
                        problems.add(l.name() + ": " + commits + " commits, end record says " + r.records());
                    }
                } catch (IOException | RuntimeException e) {
                    problems.add(l.name() + ": " + e.getMessage());
                }
                objects++;
                bytes += l.size();
                progress.update(objects, total, bytes, totalBytes);
            }
        }
        return new Report(gens.size(), objects, bytes, List.copyOf(problems));
    }
}
