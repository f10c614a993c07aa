package dev.caskade;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Rebuilds the key directory when a store opens: hint files where they are sound, a full scan where they
 * are not, torn-tail truncation of the newest data segment, and the revision and compaction point.
 * Every version found competes by revision, so the order in which files are read does not matter and a
 * merge interrupted by a crash (outputs and inputs both present) loads correctly.
 */
final class LogReader {
    private final Path dir;
    private final CaskadeOptions options;
    private final KeyDir keyDir;
    private long truncatedBytes;
    private long droppedEntries;
    private long skippedEntries;
    private int hintFallbacks;
    private final List<String> notes = new ArrayList<>();

    /** What open found. */
    record Loaded(List<Segment> segments, Segment active, long nextId, long revision, long compactedRevision, Recovery recovery) {}

    private LogReader(Path dir, CaskadeOptions options, KeyDir keyDir) {
        this.dir = dir;
        this.options = options;
        this.keyDir = keyDir;
    }

    static Loaded load(Path dir, CaskadeOptions options, KeyDir keyDir) throws IOException {
        return new LogReader(dir, options, keyDir).load();
    }

    private Loaded load() throws IOException {
        MergeRecord.finishPending(dir);
        List<Path> files = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            for (Path p : ds) {
                String n = p.getFileName().toString();
                if (n.endsWith(".tmp")) {
                    Files.delete(p); // an unfinished hint or merge output: its source is still here
                } else if (n.endsWith(".seg")) {
                    files.add(p);
                }
            }
        }
        files.sort(Comparator.naturalOrder());
        long maxId = 0;
        for (Path p : files) maxId = Math.max(maxId, fileId(p));
        List<Segment> segments = new ArrayList<>();
        for (int i = 0; i < files.size(); i++) {
            Path p = files.get(i);
            try {
                segments.add(Segment.open(p));
            } catch (CorruptionException e) {
                boolean last = i == files.size() - 1;
                if (last && Files.size(p) <= Segment.HEADER) {
                    // crash while creating the next segment: nothing was ever acknowledged in it
                    notes.add("removed segment with unfinished header: " + p.getFileName());
                    truncatedBytes += Files.size(p);
                    Files.delete(p);
                } else if (options.repairing()) {
                    notes.add("skipped segment with damaged header: " + p.getFileName());
                    skippedEntries++;
                } else {
                    throw e;
                }
            }
        }
        segments.sort(Comparator.comparingLong(s -> s.id));
        Segment lastData = null;
        for (Segment s : segments) if (s.kind == Segment.Kind.DATA) lastData = s;

        long revision = 0;
        long compacted = 0;
        Segment active = null;
        for (Segment s : segments) {
            maxId = Math.max(maxId, s.id);
            revision = Math.max(revision, s.base);
            if (s.kind == Segment.Kind.MERGED) compacted = Math.max(compacted, s.base);
            HintFile.Hints hints = HintFile.read(Segment.hintPath(s.path), s.id, s.size());
            if (hints != null) {
                for (HintFile.Item it : hints.items()) {
                    keyDir.load(it.key(), Loc.of(s, it.offset(), it.size(), it.revision(), it.expiresAt(), it.type()));
                    s.maxRevision = Math.max(s.maxRevision, it.revision());
                }
                s.maxTimestamp = hints.maxTimestamp();
                s.seal();
            } else if (s == lastData) {
                scan(s, true);
                active = s;
            } else {
                hintFallbacks++;
                notes.add("hint missing or bad, scanned " + s.path.getFileName());
                scan(s, false);
                s.seal();
            }
            revision = Math.max(revision, s.maxRevision);
        }
        keyDir.finishLoad();
        List<Segment> all = new ArrayList<>(segments);
        if (active == null) {
            active = Segment.create(dir, maxId + 1, Segment.Kind.DATA, revision, "");
            all.add(active);
            maxId++;
            try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
                d.force(true);
            }
        }
        Recovery r = new Recovery(truncatedBytes, droppedEntries, skippedEntries, hintFallbacks, List.copyOf(notes));
        return new Loaded(all, active, maxId + 1, revision, compacted, r);
    }

    /**
     * Reads every entry of a segment into the key directory. In the newest data segment a bad or
     * incomplete tail with nothing sound after it is a write torn by a crash: it is cut off. Anything else
     * is damage: {@link CorruptionException}, or skipped and reported in repair mode.
     */
    private void scan(Segment s, boolean newest) throws IOException {
        long fileSize = s.size();
        if (fileSize > Integer.MAX_VALUE) throw new CorruptionException("segment too large", s.path, 0);
        int size = (int) fileSize;
        ByteBuffer b;
        try (FileChannel ch = FileChannel.open(s.path, StandardOpenOption.READ)) {
            b = ch.map(FileChannel.MapMode.READ_ONLY, 0, size).order(ByteOrder.LITTLE_ENDIAN);
        }
        boolean grouped = s.kind == Segment.Kind.DATA;
        List<byte[]> groupKeys = new ArrayList<>();
        List<Loc> groupLocs = new ArrayList<>();
        int groupStart = Segment.HEADER;
        long lastRevision = s.base;
        int pos = Segment.HEADER;
        while (pos < size) {
            EntryCodec.Problem problem = EntryCodec.check(b, pos, size);
            EntryCodec.Header h = problem == EntryCodec.Problem.NONE ? EntryCodec.header(b, pos) : null;
            if (h != null && grouped && (h.revision() < lastRevision || h.revision() <= s.base)) {
                problem = EntryCodec.Problem.BAD_HEADER; // revisions only go up within a data segment
            }
            if (problem != EntryCodec.Problem.NONE) {
                int next = nextSound(b, pos + 1, size, s.base);
                if (newest && next < 0) {
                    cutTail(s, groupStart, size, groupLocs.size() + 1);
                    return;
                }
                if (!options.repairing()) {
                    throw new CorruptionException(
                            problem == EntryCodec.Problem.CHECKSUM ? "checksum mismatch" : "bad entry (" + problem + ")",
                            s.path,
                            pos);
                }
                skippedEntries += 1 + groupLocs.size();
                notes.add("skipped damaged bytes " + pos + ".." + (next < 0 ? size : next) + " in " + s.path.getFileName()
                        + (groupLocs.isEmpty() ? "" : " and the " + groupLocs.size() + " entries of its commit"));
                groupKeys.clear();
                groupLocs.clear();
                if (next < 0) break;
                pos = next;
                groupStart = next;
                continue;
            }
            groupKeys.add(EntryCodec.key(b, pos, h));
            groupLocs.add(Loc.of(s, pos, h.size(), h.revision(), h.expiresAt(), h.type()));
            lastRevision = h.revision();
            s.maxRevision = Math.max(s.maxRevision, h.revision());
            s.maxTimestamp = Math.max(s.maxTimestamp, h.timestamp());
            pos += h.size();
            if (!grouped || h.last()) {
                for (int i = 0; i < groupLocs.size(); i++) keyDir.load(groupKeys.get(i), groupLocs.get(i));
                groupKeys.clear();
                groupLocs.clear();
                groupStart = pos;
            }
        }
        if (!groupLocs.isEmpty()) {
            if (newest) {
                cutTail(s, groupStart, size, groupLocs.size());
            } else if (options.repairing()) {
                skippedEntries += groupLocs.size();
                notes.add("dropped incomplete commit at " + groupStart + " in " + s.path.getFileName());
            } else {
                throw new CorruptionException("incomplete commit in sealed segment", s.path, groupStart);
            }
        }
    }

    private void cutTail(Segment s, int from, int size, long entries) throws IOException {
        truncatedBytes += size - from;
        droppedEntries += entries;
        notes.add("truncated torn tail of " + s.path.getFileName() + " at offset " + from + ": " + (size - from)
                + " bytes, " + entries + " entries");
        s.truncate(from);
    }

    private static long fileId(Path p) {
        String n = p.getFileName().toString();
        try {
            return Long.parseLong(n.substring(0, n.length() - 4));
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    /** The next offset after {@code from} where a sound entry starts, or -1. */
    private static int nextSound(ByteBuffer b, int from, int size, long base) {
        for (int p = from; p + EntryCodec.HEADER <= size; p++) {
            if (EntryCodec.check(b, p, size) == EntryCodec.Problem.NONE && b.getLong(p + 4) > base) return p;
        }
        return -1;
    }
}
