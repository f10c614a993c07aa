package dev.caskade;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;

/**
 * Reads one data segment back as commits for a watch's history: entries in (from, to] under a prefix,
 * grouped by revision (the entries of one commit are adjacent and share it). Reads only below the size the
 * segment had when the watch registered, where every entry is whole.
 */
final class HistoryReader {
    private final Segment segment;
    private final long limit;
    private final byte[] prefix;
    private final long from;
    private final long to;

    HistoryReader(Segment segment, long limit, byte[] prefix, long from, long to) {
        this.segment = segment;
        this.limit = limit;
        this.prefix = prefix;
        this.from = from;
        this.to = to;
    }

    /** Feeds commits to {@code sink}; returns false when the sink asked to stop. */
    boolean replay(Predicate<WatchEvent.Commit> sink) {
        long pos = Segment.HEADER;
        long rev = -1;
        long ts = 0;
        List<Change> changes = new ArrayList<>();
        while (pos < limit) {
            ByteBuffer head = segment.view(pos, (int) Math.min(EntryCodec.HEADER, limit - pos));
            if (head.capacity() < EntryCodec.HEADER) throw new CorruptionException("short entry", segment.path, pos);
            EntryCodec.Header h = EntryCodec.header(head, 0);
            if (h.keyLen() <= 0 || h.keyLen() > EntryCodec.MAX_KEY || h.valueLen() < 0 || pos + h.size() > limit) {
                throw new CorruptionException("bad entry header", segment.path, pos);
            }
            if (h.revision() > to) break;
            boolean wanted = h.revision() > from;
            if (wanted && h.revision() != rev) {
                if (!emit(sink, rev, ts, changes)) return false;
                rev = h.revision();
                ts = h.timestamp();
            }
            if (wanted && h.keyLen() >= prefix.length) {
                ByteBuffer b = segment.view(pos, h.size());
                // checked before the key is trusted; only keys under the prefix are copied out
                if (EntryCodec.check(b, 0, h.size()) != EntryCodec.Problem.NONE) {
                    throw new CorruptionException("checksum mismatch", segment.path, pos);
                }
                if (EntryCodec.keyStartsWith(b, 0, prefix)) {
                    changes.add(new Change(
                            EntryCodec.changeType(h.type()),
                            EntryCodec.key(b, 0, h),
                            EntryCodec.value(b, 0, h),
                            h.expiresAt()));
                }
            }
            pos += h.size();
        }
        return emit(sink, rev, ts, changes);
    }

    private boolean emit(Predicate<WatchEvent.Commit> sink, long rev, long ts, List<Change> changes) {
        if (changes.isEmpty()) return true;
        WatchEvent.Commit c = new WatchEvent.Commit(rev, ts, List.copyOf(changes));
        changes.clear();
        return sink.test(c);
    }
}
