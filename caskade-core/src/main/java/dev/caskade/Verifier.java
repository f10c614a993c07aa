package dev.caskade;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * The consistency checker behind {@link Caskade#verify()} and {@code caskade verify}. Works on a snapshot,
 * so it runs while the store serves reads and writes: every entry's CRC, revision order inside data
 * segments, hint files against their segments, and the key directory against the log rebuilt from
 * scratch (for each key, the version with the highest revision at or below the snapshot).
 */
final class Verifier {
    private final Caskade db;
    private final List<String> problems = new ArrayList<>();
    private final java.util.Set<Segment> damaged = new java.util.HashSet<>();
    private int segments;
    private long entries;
    private int hints;

    /** The newest version of a key seen in the log. */
    private record Seen(long revision, byte type) {}

    private Verifier(Caskade db) {
        this.db = db;
    }

    static VerifyReport run(Caskade db) {
        return new Verifier(db).verify();
    }

    private VerifyReport verify() {
        Map<Key, Seen> newest = new HashMap<>();
        long keys = 0;
        try (Snapshot snap = db.snapshot()) {
            List<Caskade.Held> held = db.hold(false);
            try {
                long lastData = 0;
                for (Caskade.Held h : held) {
                    Segment s = h.segment();
                    if (s.kind == Segment.Kind.DATA) {
                        if (s.base < lastData)
                            problem(s, 16, "segment base revision " + s.base + " below previous segment's " + lastData);
                        lastData = Math.max(lastData, s.base);
                    }
                    checkSegment(s, h.limit(), snap.revision(), newest);
                }
            } finally {
                for (Caskade.Held h : held) h.segment().release();
            }
            keys = checkKeyDir(snap.revision(), newest);
        }
        return new VerifyReport(segments, entries, hints, keys, List.copyOf(problems));
    }

    private void checkSegment(Segment s, long limit, long upTo, Map<Key, Seen> newest) {
        segments++;
        ByteBuffer b = s.bytes(limit);
        List<HintFile.Item> items = new ArrayList<>();
        long last = s.base;
        boolean grouped = s.kind == Segment.Kind.DATA;
        boolean open = false;
        int pos = Segment.HEADER;
        while (pos < limit) {
            EntryCodec.Problem p = EntryCodec.check(b, pos, (int) limit);
            if (p != EntryCodec.Problem.NONE) {
                problem(s, pos, p == EntryCodec.Problem.CHECKSUM ? "checksum mismatch" : "bad entry (" + p + ")");
                damaged.add(s);
                int next = -1;
                for (int q = pos + 1; q + EntryCodec.HEADER <= limit && next < 0; q++) {
                    if (EntryCodec.check(b, q, (int) limit) == EntryCodec.Problem.NONE) next = q;
                }
                if (next < 0) return;
                pos = next;
                continue;
            }
            entries++;
            EntryCodec.Header h = EntryCodec.header(b, pos);
            byte[] key = EntryCodec.key(b, pos, h);
            if (grouped && (h.revision() < last || h.revision() <= s.base)) {
                problem(
                        s,
                        pos,
                        "revision " + h.revision() + " out of order (previous " + last + ", base " + s.base + ")");
            }
            if (!grouped && h.revision() > s.base) {
                problem(
                        s,
                        pos,
                        "merged entry revision " + h.revision() + " above the segment's compaction point " + s.base);
            }
            last = Math.max(last, h.revision());
            open = grouped && !h.last();
            items.add(new HintFile.Item(key, h.revision(), h.expiresAt(), pos, h.size(), h.type()));
            if (h.revision() <= upTo) {
                Key k = new Key(key);
                Seen seen = newest.get(k);
                // <=: a batch may write a key twice under one revision, and its later entry wins
                if (seen == null || seen.revision() <= h.revision()) newest.put(k, new Seen(h.revision(), h.type()));
            }
            pos += h.size();
        }
        if (open && s.sealed()) problem(s, pos, "sealed segment ends inside a commit");
        if (s.sealed() && !damaged.contains(s)) checkHint(s, limit, items);
    }

    private void checkHint(Segment s, long limit, List<HintFile.Item> items) {
        // existence first: the background writer may publish the hint between a failed read and a look
        boolean existed = java.nio.file.Files.exists(Segment.hintPath(s.path));
        List<HintFile.Item> h = HintFile.read(Segment.hintPath(s.path), s.id, limit);
        if (h == null) {
            long described = existed ? HintFile.describedLength(Segment.hintPath(s.path), s.id) : -1;
            if (described > limit) {
                problem(s, limit, "segment shorter than its hint (" + described + " bytes): entries lost");
            } else if (existed) {
                problem(s, 0, "hint file unreadable or stale");
            }
            return;
        }
        hints++;
        if (h.size() != items.size()) {
            problem(s, 0, "hint lists " + h.size() + " entries, segment has " + items.size());
            return;
        }
        items.sort(HintFile.ORDER);
        for (int i = 0; i < items.size(); i++) {
            HintFile.Item a = items.get(i);
            HintFile.Item b = h.get(i);
            if (!Arrays.equals(a.key(), b.key())
                    || a.revision() != b.revision()
                    || a.offset() != b.offset()
                    || a.size() != b.size()
                    || a.type() != b.type()
                    || a.expiresAt() != b.expiresAt()) {
                problem(s, a.offset(), "hint entry " + i + " does not match the segment");
                return;
            }
        }
    }

    private long checkKeyDir(long rev, Map<Key, Seen> newest) {
        long keys = 0;
        for (Iterator<Map.Entry<byte[], Loc>> it = db.keyDir.entries(); it.hasNext(); ) {
            Map.Entry<byte[], Loc> e = it.next();
            Loc l = KeyDir.at(e.getValue(), rev);
            if (l == null) continue;
            keys++;
            Seen seen = newest.remove(new Key(e.getKey()));
            String name = new String(e.getKey(), StandardCharsets.UTF_8);
            if (seen == null && damaged.contains(l.segment)) {
                problems.add(
                        "key=" + name + " points into damaged bytes: file=" + l.segment.path + " offset=" + l.offset);
                continue;
            }
            if (seen == null || seen.type() != EntryCodec.PUT || seen.revision() != l.revision) {
                problems.add(
                        "key directory has key=" + name + " at revision " + l.revision + " but the log's newest is "
                                + (seen == null
                                        ? "nothing"
                                        : seen.revision() + " (" + EntryCodec.changeType(seen.type()) + ")"));
                continue;
            }
            try {
                db.read(e.getKey(), l, KeyDir::at, rev);
            } catch (CorruptionException ex) {
                problems.add(ex.getMessage());
            }
        }
        for (Map.Entry<Key, Seen> e : newest.entrySet()) {
            if (e.getValue().type() == EntryCodec.PUT) {
                problems.add("log has live key=" + new String(e.getKey().bytes(), StandardCharsets.UTF_8)
                        + " at revision " + e.getValue().revision() + " missing from the key directory");
            }
        }
        return keys;
    }

    private void problem(Segment s, long offset, String what) {
        problems.add(what + ": file=" + s.path + " offset=" + offset);
    }

    /** Byte-array key with value equality for the rebuild map. */
    private record Key(byte[] bytes) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Key k && Arrays.equals(bytes, k.bytes);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(bytes);
        }

        @Override
        public String toString() {
            return new String(bytes, StandardCharsets.UTF_8);
        }
    }
}
