package dev.caskade;

import java.util.Arrays;
import java.util.Iterator;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ConcurrentSkipListMap;

/**
 * The in-memory index: key to newest {@link Loc}, ordered by unsigned key bytes for prefix and range
 * scans. Mutated only under the store's commit lock; read without locks.
 *
 * <p>Snapshots: while any snapshot is open, a write keeps the version it replaces on the new version's
 * {@code prev} chain and a delete leaves a tombstone, so a snapshot at revision R finds, for every key,
 * the newest version at or below R. Keys that grew a chain are remembered and trimmed once the snapshots
 * that needed the old versions are closed.
 */
final class KeyDir {
    /**
     * Heap bytes per key besides the key bytes, for a put without TTL: skip-list node (24), its share of
     * index nodes (about 12), the key array's header (16) and the {@link Loc} (32).
     */
    static final int OVERHEAD_PER_KEY = 24 + 12 + 16 + 32;

    private final ConcurrentSkipListMap<byte[], Loc> map = new ConcurrentSkipListMap<>(Arrays::compareUnsigned);
    private final Queue<byte[]> chained = new ConcurrentLinkedQueue<>();
    private volatile long keys;
    private volatile long keyBytes;

    long keys() {
        return keys;
    }

    long heapBytes() {
        return keys * OVERHEAD_PER_KEY + keyBytes;
    }

    /** The newest version, tombstones included. */
    Loc head(byte[] key) {
        return map.get(key);
    }

    /** The newest live version, or null. */
    Loc current(byte[] key) {
        Loc l = map.get(key);
        return l != null && l.isPut() ? l : null;
    }

    /** The version a snapshot at {@code revision} sees, or null when the key did not exist then. */
    static Loc at(Loc head, long revision) {
        Loc l = head;
        while (l != null && l.revision > revision) l = l.prev();
        return l != null && l.isPut() ? l : null;
    }

    /** Records a new version. Under the commit lock. */
    void put(byte[] key, Loc loc, boolean keepPrev) {
        Loc old = map.get(key);
        if (keepPrev && old != null) {
            loc = loc.withPrev(old);
            chained.add(key);
        }
        map.put(key, loc);
        if (old != null && old.isPut()) {
            old.segment.deadBytes.addAndGet(old.size);
        } else {
            keys++;
            keyBytes += key.length;
        }
    }

    /** Records a delete; {@code tombstone} is kept only for snapshots. Under the commit lock. */
    void remove(byte[] key, Loc tombstone, boolean keepPrev) {
        tombstone.segment.deadBytes.addAndGet(tombstone.size);
        Loc old = map.get(key);
        if (old == null || !old.isPut()) return;
        old.segment.deadBytes.addAndGet(old.size);
        keys--;
        keyBytes -= key.length;
        if (keepPrev) {
            map.put(key, tombstone.withPrev(old));
            chained.add(key);
        } else {
            map.remove(key);
        }
    }

    /** Replaces {@code expected} by {@code moved} if it is still the newest version (merge). */
    boolean replace(byte[] key, Loc expected, Loc moved) {
        return map.replace(key, expected, moved);
    }

    /**
     * Drops versions no open snapshot needs: everything older than the newest version at or below
     * {@code oldestSnapshot} (Long.MAX_VALUE when none is open), and tombstones nobody needs.
     */
    void trim(long oldestSnapshot) {
        int n = chained.size();
        for (int i = 0; i < n; i++) {
            byte[] key = chained.poll();
            if (key == null) return;
            Loc head = map.get(key);
            if (head == null) continue;
            Loc keep = head;
            while (keep.revision > oldestSnapshot && keep.prev() != null) keep = keep.prev();
            if (keep instanceof Loc.Full f) f.dropPrev();
            if (keep == head && !head.isPut()) {
                map.remove(key, head);
            } else if (keep != head) {
                chained.add(key);
            }
        }
    }

    /** Ordered view of [from, to); null bounds are open. */
    NavigableMap<byte[], Loc> range(byte[] from, byte[] to) {
        if (from == null && to == null) return map;
        if (from == null) return map.headMap(to, false);
        if (to == null) return map.tailMap(from, true);
        if (Arrays.compareUnsigned(from, to) >= 0) return new ConcurrentSkipListMap<>(Arrays::compareUnsigned);
        return map.subMap(from, true, to, false);
    }

    Iterator<Map.Entry<byte[], Loc>> entries() {
        return map.entrySet().iterator();
    }

    /** Used by open: the version with the highest revision wins, whatever order files are read in. */
    void load(byte[] key, Loc loc) {
        Loc old = map.get(key);
        if (old != null && old.revision >= loc.revision) {
            loc.segment.deadBytes.addAndGet(loc.size);
            return;
        }
        map.put(key, loc);
        if (old != null) old.segment.deadBytes.addAndGet(old.size);
    }

    /** Ends loading: drops tombstones and counts what is live. */
    void finishLoad() {
        long k = 0;
        long kb = 0;
        for (Iterator<Map.Entry<byte[], Loc>> it = map.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<byte[], Loc> e = it.next();
            if (e.getValue().isPut()) {
                k++;
                kb += e.getKey().length;
            } else {
                e.getValue().segment.deadBytes.addAndGet(e.getValue().size);
                it.remove();
            }
        }
        keys = k;
        keyBytes = kb;
    }

    /** The smallest key greater than every key starting with {@code prefix}; null when there is none. */
    static byte[] prefixEnd(byte[] prefix) {
        for (int i = prefix.length - 1; i >= 0; i--) {
            if (prefix[i] != (byte) 0xff) {
                byte[] end = Arrays.copyOf(prefix, i + 1);
                end[i]++;
                return end;
            }
        }
        return null;
    }
}
