package dev.caskade;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * Loads a store directory for a read-only view ({@link Caskade#openReadOnly}) without its lock, while another
 * process may be writing and merging it. It reads what {@link LogReader} reads, by the same rules, but changes
 * nothing on disk: no {@code *.tmp} cleanup, no finishing of merge records, no torn-tail cut, no hint writing.
 *
 * <ul>
 *   <li>A merge record is honoured by ignoring the input segments it names (they may be half deleted).
 *   <li>The newest data segment is read up to its last complete commit; what follows is the writer's unfinished
 *       append (or a torn tail it will cut when it next opens) and is left alone.
 *   <li>The order of the reads closes the races with a concurrent merge: segments are listed before merge
 *       records (a record exists before any input it names is deleted, so an input listed but gone from the
 *       records' view was either opened before its deletion or fails to open); every listed segment is opened
 *       before anything else happens (an open file survives deletion); and a merge output that appears during
 *       the open may hold versions whose inputs the listing missed, and a listing may miss a segment created while it
 *       runs, so either seen in a second listing makes the open start over ({@link Changed}).
 * </ul>
 */
final class LogView {
    static final Pattern SEGMENT = Pattern.compile("\\d{20}\\.seg");
    private static final Pattern RECORD = Pattern.compile("\\d{20}\\.merge");

    private LogView() {}

    /** The directory changed under the open in a way that may hide data; the caller opens again. */
    static final class Changed extends IOException {
        private static final long serialVersionUID = 1L;

        Changed(String message) {
            super(message);
        }
    }

    static LogReader.Loaded load(Path dir, CaskadeOptions options, KeyDir keyDir) throws IOException {
        TreeMap<Long, Path> files = segmentFiles(dir);
        if (files.isEmpty() && !Files.exists(dir.resolve("LOCK"))) {
            throw new CaskadeException("not a store directory (no LOCK and no segments): " + dir);
        }
        List<String> notes = new ArrayList<>();
        Map<Long, Path> superseded = mergeInputs(dir);
        if (!superseded.isEmpty()) {
            notes.add("read-only view: ignored " + superseded.size() + " segment(s) named by merge records");
        }
        List<Segment> segments = new ArrayList<>();
        try {
            for (Map.Entry<Long, Path> e : files.entrySet()) {
                if (superseded.containsKey(e.getKey())) continue;
                // only the newest file can be short: the writer is creating it (or crashed doing so), and no commit
                // is in it yet. Its size is looked at before it is opened: it only grows, to a whole header first
                if (e.getKey().equals(files.lastKey()) && sizeOf(e.getValue()) < Segment.HEADER) {
                    notes.add("read-only view: ignored segment being created: "
                            + e.getValue().getFileName());
                    continue;
                }
                segments.add(Segment.openReadOnly(e.getValue()));
            }
            // a listing only promises the files that exist throughout it: one created meanwhile may be missing
            // while a newer one is there. Ids only grow, so a file that shows up now below the highest id listed was
            // missed (or is a merge output renamed since); so is a merge output of any id
            long highest = files.isEmpty() ? -1 : files.lastKey();
            for (Map.Entry<Long, Path> e : segmentFiles(dir).entrySet()) {
                if (files.containsKey(e.getKey())) continue;
                if (e.getKey() < highest) throw new Changed("segment appeared below the listing: " + e.getValue());
                if (kindOf(e.getValue()) == Segment.Kind.MERGED) {
                    throw new Changed("merge output appeared while opening: " + e.getValue());
                }
            }
            return build(segments, files, keyDir, notes);
        } catch (IOException | RuntimeException | Error e) {
            for (Segment s : segments) s.closeQuietly();
            throw e;
        }
    }

    private static LogReader.Loaded build(
            List<Segment> segments, TreeMap<Long, Path> files, KeyDir keyDir, List<String> notes) throws IOException {
        segments.sort(Comparator.comparingLong(s -> s.id));
        Segment lastData = null;
        for (Segment s : segments) if (s.kind == Segment.Kind.DATA) lastData = s;
        long revision = 0;
        long compacted = 0;
        int hintFallbacks = 0;
        List<LogReader.Source> sources = new ArrayList<>();
        ByteBuffer buffer = null;
        for (Segment s : segments) {
            revision = Math.max(revision, s.base);
            if (s.kind == Segment.Kind.MERGED) compacted = Math.max(compacted, s.base);
            // a hint ties itself to one exact segment length, so it never describes the writer's moving tail
            HintFile.Run run = HintFile.open(Segment.hintPath(s.path), s.id, s.size());
            if (run != null) {
                s.maxTimestamp = run.maxTimestamp;
                sources.add(new LogReader.Source(s, run, null));
                s.mapReadOnly(s.size(), s != lastData);
                continue;
            }
            if (s != lastData) {
                hintFallbacks++;
                long described = LogReader.cutFrom(s);
                if (described > 0) throw LogReader.cut(s, described); // a read-only view repairs nothing
            }
            List<HintFile.Item> items = new ArrayList<>();
            SegmentScan scan = new SegmentScan(
                    s.channel(), s.path, s.kind == Segment.Kind.DATA, s == lastData, Segment.HEADER, s.base, buffer);
            while (scan.next()) {
                scan.entries((b, at, offset, h) -> items.add(new HintFile.Item(
                        EntryCodec.key(b, at, h), h.revision(), h.expiresAt(), (int) offset, h.size(), h.type())));
                s.maxRevision = Math.max(s.maxRevision, scan.revision());
                s.maxTimestamp = Math.max(s.maxTimestamp, scan.timestamp());
            }
            buffer = scan.buffer();
            items.sort(HintFile.ORDER);
            sources.add(new LogReader.Source(s, null, items.iterator()));
            s.mapReadOnly(scan.position(), s != lastData);
        }
        keyDir.build(new LogReader.Winners(sources));
        for (LogReader.Source src : sources) revision = Math.max(revision, src.segment().maxRevision);
        long nextId = files.isEmpty() ? 1 : files.lastKey() + 1;
        Recovery r = new Recovery(0, 0, 0, hintFallbacks, List.copyOf(notes));
        return new LogReader.Loaded(List.copyOf(segments), lastData, nextId, revision, compacted, r);
    }

    /** The segment files in {@code dir} by id. */
    static TreeMap<Long, Path> segmentFiles(Path dir) throws IOException {
        TreeMap<Long, Path> files = new TreeMap<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            for (Path p : ds) {
                String n = p.getFileName().toString();
                if (SEGMENT.matcher(n).matches()) files.put(Long.parseLong(n.substring(0, 20)), p);
            }
        }
        return files;
    }

    /** Every segment id named by a sound merge record, with its path. */
    private static Map<Long, Path> mergeInputs(Path dir) throws IOException {
        Map<Long, Path> inputs = new HashMap<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            for (Path p : ds) {
                if (!RECORD.matcher(p.getFileName().toString()).matches()) continue;
                long[] ids;
                try {
                    ids = MergeRecord.inputs(Files.readAllBytes(p));
                } catch (NoSuchFileException e) {
                    continue; // finished meanwhile: every input it named is gone
                }
                if (ids != null) for (long id : ids) inputs.put(id, dir.resolve(Segment.fileName(id)));
            }
        }
        return inputs;
    }

    /** The kind a segment file's header gives, or null when it is gone or has no sound header yet. */
    private static Segment.Kind kindOf(Path p) throws IOException {
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
            return Segment.readHeader(ch, p).kind();
        } catch (NoSuchFileException | CorruptionException e) {
            return null;
        }
    }

    private static long sizeOf(Path p) {
        try {
            return Files.size(p);
        } catch (IOException e) {
            return 0;
        }
    }
}
