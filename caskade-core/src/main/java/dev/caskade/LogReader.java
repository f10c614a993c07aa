package dev.caskade;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.AbstractMap;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.PriorityQueue;

/**
 * Rebuilds the key directory when a store opens: hint files where they are sound, a full scan where they
 * are not, torn-tail truncation of the newest data segment, and the revision and compaction point.
 * Every version found competes by revision, so the order in which files are read does not matter and a
 * merge interrupted by a crash (outputs and inputs both present) loads correctly.
 */
final class LogReader {
    /** A cleanly closed newest segment smaller than this is appended to again rather than sealed. */
    private static final long REUSE_BELOW = 8L << 20;

    private final Path dir;
    private final CaskadeOptions options;
    private final KeyDir keyDir;
    private long truncatedBytes;
    private long droppedEntries;
    private long skippedEntries;
    private int hintFallbacks;
    private final List<String> notes = new ArrayList<>();

    /** What open found. */
    record Loaded(
            List<Segment> segments,
            Segment active,
            long nextId,
            long revision,
            long compactedRevision,
            Recovery recovery) {}

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
        List<Source> sources = new ArrayList<>();
        for (Segment s : segments) {
            revision = Math.max(revision, s.base);
            if (s.kind == Segment.Kind.MERGED) compacted = Math.max(compacted, s.base);
            HintFile.Run run = HintFile.open(Segment.hintPath(s.path), s.id, s.size());
            if (run != null && s == lastData && s.size() < Math.min(options.segmentBytes() / 2, REUSE_BELOW)) {
                // a cleanly closed but small newest segment: keep appending to it instead of starting
                // another tiny one (each short-lived open would add one); its hint would go stale, so it
                // goes and the segment is scanned, which is cheap at this size
                Files.delete(Segment.hintPath(s.path));
                run = null;
            }
            if (run != null) {
                s.maxTimestamp = run.maxTimestamp;
                sources.add(new Source(s, run, null));
                s.seal();
            } else {
                boolean hintExists = Files.exists(Segment.hintPath(s.path));
                long described = hintExists ? cutFrom(s) : -1;
                if (described > 0) {
                    // only the newest segment may lose a tail, as a torn write does, and it is reported
                    if (!options.repairing() && s != lastData) throw cut(s, described);
                    long lost = HintFile.countFrom(Segment.hintPath(s.path), s.id, s.size());
                    droppedEntries += lost;
                    notes.add("segment " + s.path.getFileName() + " cut to " + s.size() + " of " + described
                            + " bytes its hint describes: " + lost + " entries lost");
                    // the loss is accepted now: the hint can never describe this segment again
                    Files.delete(Segment.hintPath(s.path));
                    hintExists = false;
                }
                if (s != lastData || hintExists) {
                    hintFallbacks++;
                    notes.add("hint " + (hintExists ? "damaged or stale" : "missing") + ", scanned "
                            + s.path.getFileName());
                }
                long skippedBefore = skippedEntries;
                List<HintFile.Item> items = scan(s, s == lastData);
                items.sort(HintFile.ORDER);
                sources.add(new Source(s, null, items.iterator()));
                // a segment repair skipped damage in stays sealed: appending behind the damage would leave a
                // segment whose hint cannot be written and whose every scan meets the damage again
                if (s == lastData && skippedEntries == skippedBefore) {
                    active = s;
                    s.activate(options.segmentBytes());
                } else {
                    s.seal();
                }
            }
        }
        keyDir.build(new Winners(sources));
        for (Source src : sources) revision = Math.max(revision, src.segment.maxRevision);
        List<Segment> all = new ArrayList<>(segments);
        if (active == null) {
            active = Segment.create(dir, maxId + 1, Segment.Kind.DATA, revision, "", options.segmentBytes());
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
     * The length an intact hint says {@code s} had when it is longer than the segment is now, else -1. A cut at an
     * entry boundary scans clean: only the hint shows that acknowledged commits are gone.
     */
    static long cutFrom(Segment s) {
        long described = HintFile.describedLength(Segment.hintPath(s.path), s.id);
        return described > s.size() ? described : -1;
    }

    static CorruptionException cut(Segment s, long described) {
        return new CorruptionException("segment shorter than its hint (" + described + " bytes)", s.path, s.size());
    }

    /**
     * Reads every entry of a segment into the key directory. In the newest data segment a bad or
     * incomplete tail with nothing sound after it is a write torn by a crash: it is cut off. Anything else
     * is damage: {@link CorruptionException}, or skipped and reported in repair mode.
     */
    private List<HintFile.Item> scan(Segment s, boolean newest) throws IOException {
        List<HintFile.Item> found = new ArrayList<>();
        long fileSize = s.size();
        if (fileSize > Integer.MAX_VALUE) throw new CorruptionException("segment too large", s.path, 0);
        int size = (int) fileSize;
        ByteBuffer b;
        try (FileChannel ch = FileChannel.open(s.path, StandardOpenOption.READ)) {
            b = ch.map(FileChannel.MapMode.READ_ONLY, 0, size).order(ByteOrder.LITTLE_ENDIAN);
        }
        boolean grouped = s.kind == Segment.Kind.DATA;
        List<HintFile.Item> group = new ArrayList<>();
        int groupStart = Segment.HEADER;
        long lastRevision = s.base;
        int pos = Segment.HEADER;
        while (pos < size) {
            EntryCodec.Problem problem = EntryCodec.check(b, pos, size);
            EntryCodec.Header h = problem == EntryCodec.Problem.NONE ? EntryCodec.header(b, pos) : null;
            if (h != null && grouped && (h.revision() < lastRevision || h.revision() <= s.base)) {
                problem = EntryCodec.Problem.BAD_HEADER; // revisions only go up within a data segment
            }
            if (problem != EntryCodec.Problem.NONE && zeros(b, pos, size)) {
                // the unused rest of the reserved active segment: not data, nothing was torn here
                if (s.sealed() || !newest) s.truncate(pos);
                else s.setSize(pos);
                break;
            }
            if (problem != EntryCodec.Problem.NONE) {
                int next = nextSound(b, pos + 1, size, s.base);
                if (newest && next < 0) {
                    cutTail(s, groupStart, dataEnd(b, groupStart, size), group.size() + 1);
                    return found;
                }
                if (!options.repairing()) {
                    throw new CorruptionException(
                            problem == EntryCodec.Problem.CHECKSUM
                                    ? "checksum mismatch"
                                    : "bad entry (" + problem + ")",
                            s.path,
                            pos);
                }
                skippedEntries += 1 + group.size();
                notes.add(
                        "skipped damaged bytes " + pos + ".." + (next < 0 ? size : next) + " in " + s.path.getFileName()
                                + (group.isEmpty() ? "" : " and the " + group.size() + " entries of its commit"));
                group.clear();
                if (next < 0) break;
                pos = next;
                groupStart = next;
                continue;
            }
            group.add(
                    new HintFile.Item(EntryCodec.key(b, pos, h), h.revision(), h.expiresAt(), pos, h.size(), h.type()));
            lastRevision = h.revision();
            s.maxRevision = Math.max(s.maxRevision, h.revision());
            s.maxTimestamp = Math.max(s.maxTimestamp, h.timestamp());
            pos += h.size();
            if (!grouped || h.last()) {
                found.addAll(group);
                group.clear();
                groupStart = pos;
            }
        }
        if (!group.isEmpty()) {
            if (newest) {
                cutTail(s, groupStart, (int) Math.max(s.size(), groupStart), group.size());
            } else if (options.repairing()) {
                skippedEntries += group.size();
                notes.add("dropped incomplete commit at " + groupStart + " in " + s.path.getFileName());
            } else {
                throw new CorruptionException("incomplete commit in sealed segment", s.path, groupStart);
            }
        }
        return found;
    }

    /** The items of one segment in key order: a hint file, or a scan sorted in memory. */
    record Source(Segment segment, HintFile.Run run, Iterator<HintFile.Item> items) {
        HintFile.Item next() {
            if (run != null) return run.next();
            return items.hasNext() ? items.next() : null;
        }
    }

    /** One source's current item in the merge. */
    private static final class Head {
        final Source source;
        HintFile.Item item;
        /** The key's first bytes as an int: most comparisons end here. */
        int pre;

        Head(Source source, HintFile.Item item) {
            this.source = source;
            set(item);
        }

        void set(HintFile.Item i) {
            item = i;
            if (i != null) pre = KeyDir.prefix(i.key());
        }
    }

    /**
     * Merges every segment's sorted items and yields, per key, the version with the highest revision if it
     * is a put. Every other version is counted as dead bytes of its segment.
     */
    static final class Winners implements Iterator<Map.Entry<byte[], Loc>> {
        private final PriorityQueue<Head> queue = new PriorityQueue<>(
                (a, b) -> a.pre != b.pre ? Integer.compare(a.pre, b.pre) : HintFile.ORDER.compare(a.item, b.item));
        private Map.Entry<byte[], Loc> next;

        Winners(List<Source> sources) {
            for (Source s : sources) {
                HintFile.Item i = s.next();
                if (i != null) queue.add(new Head(s, i));
            }
        }

        @Override
        public boolean hasNext() {
            while (next == null && !queue.isEmpty()) {
                Head h = queue.poll();
                HintFile.Item best = h.item;
                Segment bestSeg = h.source.segment();
                advance(h);
                int bestPre = KeyDir.prefix(best.key());
                while (!queue.isEmpty()
                        && queue.peek().pre == bestPre
                        && Arrays.equals(queue.peek().item.key(), best.key())) {
                    Head o = queue.poll();
                    // one commit may write a key twice (a batch): its entries share the revision and the later one
                    // wins, as it did when it was applied. Equal revisions come out of the queue in offset order, and
                    // a merge copy of a version always is of the commit's final entry for the key, so the version
                    // polled last is right
                    if (o.item.revision() >= best.revision()) {
                        bestSeg.deadBytes.addAndGet(best.size());
                        best = o.item;
                        bestSeg = o.source.segment();
                    } else {
                        o.source.segment().deadBytes.addAndGet(o.item.size());
                    }
                    advance(o);
                }
                track(bestSeg, best);
                if (best.type() == EntryCodec.PUT) {
                    next = new AbstractMap.SimpleImmutableEntry<>(
                            best.key(),
                            Loc.of(
                                    bestSeg,
                                    best.offset(),
                                    best.size(),
                                    best.revision(),
                                    best.expiresAt(),
                                    best.type()));
                } else {
                    bestSeg.deadBytes.addAndGet(best.size());
                }
            }
            return next != null;
        }

        private void advance(Head h) {
            h.set(h.source.next());
            if (h.item != null) {
                track(h.source.segment(), h.item);
                queue.add(h);
            }
        }

        private static void track(Segment s, HintFile.Item i) {
            if (i.revision() > s.maxRevision) s.maxRevision = i.revision();
        }

        @Override
        public Map.Entry<byte[], Loc> next() {
            if (!hasNext()) throw new NoSuchElementException();
            Map.Entry<byte[], Loc> e = next;
            next = null;
            return e;
        }
    }

    private void cutTail(Segment s, int from, int end, long entries) throws IOException {
        truncatedBytes += end - from;
        droppedEntries += entries;
        notes.add("truncated torn tail of " + s.path.getFileName() + " at offset " + from + ": " + (end - from)
                + " bytes, " + entries + " entries");
        s.truncate(from);
    }

    static long fileId(Path p) {
        String n = p.getFileName().toString();
        try {
            return Long.parseLong(n.substring(0, n.length() - 4));
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    /** The end of the last non-zero byte in [from, to): what a torn write actually left behind. */
    static int dataEnd(ByteBuffer b, int from, int to) {
        int end = to;
        while (end > from) {
            int start = Math.max(from, end - (1 << 16));
            if (!zeros(b, start, end)) {
                while (end > start && b.get(end - 1) == 0) end--;
                return end;
            }
            end = start;
        }
        return from;
    }

    /** True when every byte of [from, to) is zero. */
    static boolean zeros(ByteBuffer b, int from, int to) {
        ByteBuffer zero = ByteBuffer.allocate(Math.min(1 << 16, Math.max(0, to - from)));
        for (int p = from; p < to; p += zero.capacity()) {
            int n = Math.min(zero.capacity(), to - p);
            if (b.slice(p, n).mismatch(zero.slice(0, n)) >= 0) return false;
        }
        return true;
    }

    /** The next offset after {@code from} where a sound entry starts, or -1. */
    private static int nextSound(ByteBuffer b, int from, int size, long base) {
        for (int p = from; p + EntryCodec.HEADER <= size; p++) {
            if (EntryCodec.check(b, p, size) == EntryCodec.Problem.NONE && b.getLong(p + 4) > base) return p;
        }
        return -1;
    }
}
