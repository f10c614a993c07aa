package dev.caskade;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.util.AbstractMap;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * The in-memory index: key to newest {@link Loc}, ordered by unsigned key bytes for prefix and range
 * scans. A B+tree tuned for one writer (the commit lock holder) and any number of lock-free readers.
 *
 * <p>Nodes are immutable in shape: an insert or delete copies the leaf (and, on a split or an emptied
 * leaf, its parents) and publishes the copy with one reference store, so a reader always walks a
 * well-formed tree. Overwriting an existing key, the common write, just swaps the {@link Loc} in its
 * leaf slot. Arrays are sized exactly (every insert copies anyway). Each node knows how many leading bytes
 * all its keys share ({@code skip}) and keeps the next four bytes of every key in an {@code int[]}, so a
 * binary search compares ints in one array instead of chasing key arrays, even when every key starts the
 * same way ({@code user:0000…}): one comparison against the shared bytes, then ints.
 *
 * <p>Snapshots: while any snapshot is open, a write keeps the version it replaces on the new version's
 * chain and a delete leaves a tombstone, so a snapshot at revision R finds, for every key, the newest
 * version at or below R. Keys that grew a chain are remembered and trimmed once no snapshot needs them.
 */
final class KeyDir {
    /**
     * Heap bytes per key besides the key bytes, for a put without TTL: the key array's header (16), its
     * reference and prefix in the leaf (4 + 4), the Loc reference (4) and the Loc (32).
     */
    static final int OVERHEAD_PER_KEY = 16 + 4 + 4 + 4 + 32;

    private static final int MAX = 64;
    private static final int FILL = 48;
    private static final VarHandle LOCS = MethodHandles.arrayElementVarHandle(Loc[].class);
    private static final VarHandle KIDS = MethodHandles.arrayElementVarHandle(Object[].class);
    private static final VarHandle INT_BE = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.BIG_ENDIAN);
    private static final VarHandle LONG_BE = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.BIG_ENDIAN);

    /** What leaves and inner nodes share: sorted keys, and how to find one without touching most key arrays. */
    private abstract static class Node {
        /** Leading bytes every key here shares (at most; fewer is allowed, just slower). */
        final int skip;

        /** The shared bytes, packed: compared without touching a key array (when skip <= 16). */
        final long head0;

        final long head1;
        /** Four key bytes after the shared ones, per key, as ints in unsigned order. */
        final int[] pre;

        final byte[][] keys;

        Node(int skip, int[] pre, byte[][] keys) {
            this.skip = skip;
            this.head0 = keys.length == 0 ? 0 : word(keys[0], 0, Math.min(skip, 8));
            this.head1 = keys.length == 0 || skip <= 8 ? 0 : word(keys[0], 8, Math.min(skip - 8, 8));
            this.pre = pre;
            this.keys = keys;
        }

        /** Index of {@code k}, or {@code -(insertion point) - 1}. */
        final int search(byte[] k) {
            int n = keys.length;
            if (n == 0) return -1;
            if (skip > 0) {
                // a key that differs in the shared bytes sorts before or after the whole node. Packed with zero
                // padding, a shorter key can compare equal; the int compares and full-key ties below still order
                // it right (it then sorts before every key here)
                int c;
                if (skip <= 16) {
                    c = Long.compareUnsigned(word(k, 0, Math.min(skip, 8)), head0);
                    if (c == 0 && skip > 8) c = Long.compareUnsigned(word(k, 8, skip - 8), head1);
                } else {
                    c = Arrays.compareUnsigned(k, 0, Math.min(skip, k.length), keys[0], 0, skip);
                }
                if (c < 0) return -1;
                if (c > 0) return -(n + 1);
            }
            int p = prefixAt(k, skip);
            int lo = 0;
            int hi = n - 1;
            while (lo <= hi) {
                int mid = (lo + hi) >>> 1;
                int c = pre[mid] != p ? Integer.compare(pre[mid], p) : Arrays.compareUnsigned(keys[mid], k);
                if (c < 0) lo = mid + 1;
                else if (c > 0) hi = mid - 1;
                else return mid;
            }
            return -(lo + 1);
        }
    }

    private static final class Leaf extends Node {
        final Loc[] locs;

        Leaf(int skip, int[] pre, byte[][] keys, Loc[] locs) {
            super(skip, pre, keys);
            this.locs = locs;
        }

        Loc loc(int i) {
            return (Loc) LOCS.getAcquire(locs, i);
        }

        /** A leaf over sorted {@code keys}, with the best skip; reads every key. */
        static Leaf of(byte[][] keys, Loc[] locs) {
            int skip = skipOf(keys);
            return new Leaf(skip, pres(keys, skip), keys, locs);
        }
    }

    /** keys[i] is the smallest key of kids[i + 1]; kids are Leaf or Inner. */
    private static final class Inner extends Node {
        final Object[] kids;

        Inner(int skip, int[] pre, byte[][] keys, Object[] kids) {
            super(skip, pre, keys);
            this.kids = kids;
        }

        Object kid(int i) {
            return KIDS.getAcquire(kids, i);
        }

        static Inner of(byte[][] keys, Object[] kids) {
            int skip = skipOf(keys);
            return new Inner(skip, pres(keys, skip), keys, kids);
        }

        /** The child to descend to for {@code k}. */
        int childIndex(byte[] k) {
            int i = search(k);
            return i >= 0 ? i + 1 : -i - 1;
        }
    }

    private static final Leaf EMPTY = new Leaf(0, new int[0], new byte[0][], new Loc[0]);

    private volatile Object root = EMPTY;
    /** The writer's descent path, reused: only the commit lock holder writes. */
    private Inner[] writerPath = new Inner[8];

    private int[] writerAt = new int[8];
    private final Queue<byte[]> chained = new ConcurrentLinkedQueue<>();
    private volatile long keys;
    private volatile long keyBytes;

    long keys() {
        return keys;
    }

    long heapBytes() {
        return keys * OVERHEAD_PER_KEY + keyBytes;
    }

    // ---- search

    /** The first four key bytes as an int whose signed order is the bytes' unsigned order. */
    static int prefix(byte[] k) {
        return prefixAt(k, 0);
    }

    /** Four key bytes from {@code from} (zero-padded) as an int whose signed order is their unsigned order. */
    static int prefixAt(byte[] k, int from) {
        if (from + 4 <= k.length) return (int) INT_BE.get(k, from) ^ 0x80000000; // one load: the common case
        int p = 0;
        for (int i = from; i < from + 4; i++) p = (p << 8) | (i < k.length ? k[i] & 0xff : 0);
        return p ^ 0x80000000;
    }

    /** {@code n <= 8} key bytes from {@code from}, big-endian, zero-padded past the key's end. */
    static long word(byte[] k, int from, int n) {
        if (n > 0 && from + 8 <= k.length) return (long) LONG_BE.get(k, from) >>> (64 - 8 * n);
        long w = 0;
        for (int i = from; i < from + n; i++) w = (w << 8) | (i < k.length ? k[i] & 0xff : 0);
        return w;
    }

    /** Leading bytes shared by all of {@code sorted}: those of its first and last key. */
    static int skipOf(byte[][] sorted) {
        if (sorted.length == 0) return 0;
        byte[] a = sorted[0];
        byte[] b = sorted[sorted.length - 1];
        int m = Arrays.mismatch(a, b);
        return m < 0 ? a.length : m;
    }

    private static int[] pres(byte[][] keys, int skip) {
        int[] pre = new int[keys.length];
        for (int i = 0; i < keys.length; i++) pre[i] = prefixAt(keys[i], skip);
        return pre;
    }

    private Leaf leafFor(byte[] k) {
        Object n = root;
        while (n instanceof Inner in) n = in.kid(in.childIndex(k));
        return (Leaf) n;
    }

    /** The newest version, tombstones included. */
    Loc head(byte[] key) {
        Leaf leaf = leafFor(key);
        int i = leaf.search(key);
        return i >= 0 ? leaf.loc(i) : null;
    }

    /** The newest live version, or null. */
    Loc current(byte[] key) {
        Loc l = head(key);
        return l != null && l.isPut() ? l : null;
    }

    /** The version a snapshot at {@code revision} sees, or null when the key did not exist then. */
    static Loc at(Loc head, long revision) {
        Loc l = head;
        while (l != null && l.revision > revision) l = l.prev();
        return l != null && l.isPut() ? l : null;
    }

    // ---- writes (under the commit lock)

    /** Records a new version. */
    void put(byte[] key, Loc loc, boolean keepPrev) {
        Loc old = upsert(key, loc, keepPrev);
        if (old != null && old.isPut()) {
            old.segment.deadBytes.addAndGet(old.size);
        } else {
            keys++;
            keyBytes += key.length;
        }
    }

    /** Records a delete; {@code tombstone} is kept only for snapshots. */
    void remove(byte[] key, Loc tombstone, boolean keepPrev) {
        tombstone.segment.deadBytes.addAndGet(tombstone.size);
        Loc old = head(key);
        if (old == null || !old.isPut()) return;
        old.segment.deadBytes.addAndGet(old.size);
        keys--;
        keyBytes -= key.length;
        if (keepPrev) {
            upsert(key, tombstone, true);
        } else {
            delete(key);
        }
    }

    /** Replaces {@code expected} by {@code moved} if it is still the newest version (merge). */
    boolean replace(byte[] key, Loc expected, Loc moved) {
        Leaf leaf = leafFor(key);
        int i = leaf.search(key);
        return i >= 0 && LOCS.compareAndSet(leaf.locs, i, expected, moved);
    }

    /** Inserts or overwrites; returns the previous version. */
    private Loc upsert(byte[] key, Loc loc, boolean keepPrev) {
        Inner[] path = writerPath;
        int[] at = writerAt;
        int depth = 0;
        Object n = root;
        while (n instanceof Inner in) {
            if (depth == path.length) {
                path = writerPath = Arrays.copyOf(path, depth * 2);
                at = writerAt = Arrays.copyOf(at, depth * 2);
            }
            int c = in.childIndex(key);
            path[depth] = in;
            at[depth++] = c;
            n = in.kid(c);
        }
        Leaf leaf = (Leaf) n;
        int i = leaf.search(key);
        if (i >= 0) {
            Loc old = leaf.loc(i);
            if (keepPrev && old != null) {
                loc = loc.withPrev(old);
                chained.add(key);
            }
            LOCS.setRelease(leaf.locs, i, loc);
            return old;
        }
        int ip = -i - 1;
        int len = leaf.keys.length;
        byte[][] ks = new byte[len + 1][];
        Loc[] ls = new Loc[len + 1];
        System.arraycopy(leaf.keys, 0, ks, 0, ip);
        System.arraycopy(leaf.locs, 0, ls, 0, ip);
        ks[ip] = key;
        ls[ip] = loc;
        System.arraycopy(leaf.keys, ip, ks, ip + 1, len - ip);
        System.arraycopy(leaf.locs, ip, ls, ip + 1, len - ip);
        if (len + 1 > MAX) {
            int half = (len + 1) / 2;
            Leaf left = Leaf.of(Arrays.copyOfRange(ks, 0, half), Arrays.copyOfRange(ls, 0, half));
            Leaf right = Leaf.of(Arrays.copyOfRange(ks, half, len + 1), Arrays.copyOfRange(ls, half, len + 1));
            split(path, at, depth, left, right, right.keys[0]);
            return null;
        }
        // only a new first or last key can change what all keys share
        int skip = ip == 0 || ip == len ? skipOf(ks) : leaf.skip;
        int[] pre = skip == leaf.skip ? inserted(leaf.pre, ip, prefixAt(key, skip)) : pres(ks, skip);
        publish(path, at, depth, new Leaf(skip, pre, ks, ls));
        return null;
    }

    private static int[] inserted(int[] a, int i, int v) {
        int[] r = new int[a.length + 1];
        System.arraycopy(a, 0, r, 0, i);
        r[i] = v;
        System.arraycopy(a, i, r, i + 1, a.length - i);
        return r;
    }

    /** Puts {@code node} where path[depth-1].kids[at[depth-1]] was (or at the root). */
    private void publish(Inner[] path, int[] at, int depth, Object node) {
        if (depth == 0) {
            root = node;
        } else {
            KIDS.setRelease(path[depth - 1].kids, at[depth - 1], node);
        }
    }

    /** Replaces the child at the end of the path by {@code left} and {@code right}, splitting upwards. */
    private void split(Inner[] path, int[] at, int depth, Object left, Object right, byte[] sep) {
        while (true) {
            if (depth == 0) {
                root = Inner.of(new byte[][] {sep}, new Object[] {left, right});
                return;
            }
            Inner parent = path[depth - 1];
            int c = at[depth - 1];
            int n = parent.keys.length;
            byte[][] ks = new byte[n + 1][];
            Object[] kids = new Object[n + 2];
            System.arraycopy(parent.keys, 0, ks, 0, c);
            ks[c] = sep;
            System.arraycopy(parent.keys, c, ks, c + 1, n - c);
            for (int j = 0; j < c; j++) kids[j] = parent.kid(j);
            kids[c] = left;
            kids[c + 1] = right;
            for (int j = c + 1; j <= n; j++) kids[j + 1] = parent.kid(j);
            depth--;
            if (n + 1 <= MAX) {
                int skip = c == 0 || c == n ? skipOf(ks) : parent.skip;
                int[] pre = skip == parent.skip ? inserted(parent.pre, c, prefixAt(sep, skip)) : pres(ks, skip);
                publish(path, at, depth, new Inner(skip, pre, ks, kids));
                return;
            }
            int half = (n + 1) / 2; // separator ks[half] moves up
            left = Inner.of(Arrays.copyOfRange(ks, 0, half), Arrays.copyOfRange(kids, 0, half + 1));
            right = Inner.of(Arrays.copyOfRange(ks, half + 1, n + 1), Arrays.copyOfRange(kids, half + 1, n + 2));
            sep = ks[half];
        }
    }

    /** Removes a key from the tree; an emptied leaf is unlinked from its parent. */
    private void delete(byte[] key) {
        Inner[] path = new Inner[16];
        int[] at = new int[16];
        int depth = 0;
        Object n = root;
        while (n instanceof Inner in) {
            int c = in.childIndex(key);
            path[depth] = in;
            at[depth++] = c;
            n = in.kid(c);
        }
        Leaf leaf = (Leaf) n;
        int i = leaf.search(key);
        if (i < 0) return;
        int len = leaf.keys.length;
        if (len > 1 || depth == 0) {
            // the remaining keys still share what all shared: the skip stays valid
            publish(path, at, depth, new Leaf(leaf.skip, cut(leaf.pre, i), cut(leaf.keys, i), cut(leaf.locs, i)));
            return;
        }
        // the leaf empties: drop it from its parent, and so on up while parents empty
        while (depth > 0) {
            Inner parent = path[depth - 1];
            int c = at[depth - 1];
            depth--;
            int kidsLeft = parent.keys.length; // kids after removal
            if (kidsLeft == 1) {
                publish(path, at, depth, parent.kid(c == 0 ? 1 : 0)); // collapse a one-child inner node
                return;
            }
            int sepIdx = c == 0 ? 0 : c - 1;
            Object[] kids = new Object[parent.kids.length - 1];
            for (int j = 0, k = 0; j < parent.kids.length; j++) if (j != c) kids[k++] = parent.kid(j);
            publish(path, at, depth, new Inner(parent.skip, cut(parent.pre, sepIdx), cut(parent.keys, sepIdx), kids));
            return;
        }
    }

    private static int[] cut(int[] a, int i) {
        int[] r = new int[a.length - 1];
        System.arraycopy(a, 0, r, 0, i);
        System.arraycopy(a, i + 1, r, i, a.length - i - 1);
        return r;
    }

    private static <T> T[] cut(T[] a, int i) {
        T[] r = Arrays.copyOf(a, a.length - 1);
        System.arraycopy(a, i + 1, r, i, a.length - i - 1);
        return r;
    }

    /**
     * Drops versions no open snapshot needs: everything older than the newest version at or below
     * {@code oldestSnapshot} (Long.MAX_VALUE when none is open), and tombstones nobody needs. Under the
     * commit lock.
     */
    void trim(long oldestSnapshot) {
        int n = chained.size();
        for (int i = 0; i < n; i++) {
            byte[] key = chained.poll();
            if (key == null) return;
            Loc head = head(key);
            if (head == null) continue;
            Loc keep = head;
            while (keep.revision > oldestSnapshot && keep.prev() != null) keep = keep.prev();
            if (keep instanceof Loc.Full f) f.dropPrev();
            if (keep == head && !head.isPut()) {
                delete(key);
            } else if (keep != head) {
                chained.add(key);
            }
        }
    }

    // ---- iteration

    /** Keys in [from, to) with their newest version, in order; weakly consistent. Null bounds are open. */
    Iterator<Map.Entry<byte[], Loc>> range(byte[] from, byte[] to) {
        return new Cursor(from, to);
    }

    Iterator<Map.Entry<byte[], Loc>> entries() {
        return new Cursor(null, null);
    }

    private final class Cursor implements Iterator<Map.Entry<byte[], Loc>> {
        private final byte[] to;
        private Leaf leaf;
        private int i;
        private byte[] last;
        private Map.Entry<byte[], Loc> next;
        private boolean done;

        Cursor(byte[] from, byte[] to) {
            this.to = to;
            seek(from == null ? new byte[0] : from, false);
        }

        /** Positions at the first key >= k (or > k when strict), following separators past empty ends. */
        private void seek(byte[] k, boolean strict) {
            while (true) {
                byte[] bound = null;
                Object n = root;
                while (n instanceof Inner in) {
                    int c = in.childIndex(k);
                    if (c < in.keys.length) bound = in.keys[c];
                    n = in.kid(c);
                }
                Leaf l = (Leaf) n;
                int s = l.search(k);
                int pos = s >= 0 ? (strict ? s + 1 : s) : -s - 1;
                if (pos < l.keys.length) {
                    leaf = l;
                    i = pos;
                    return;
                }
                if (bound == null) {
                    done = true;
                    return;
                }
                k = bound;
                strict = false;
            }
        }

        @Override
        public boolean hasNext() {
            while (next == null && !done) {
                if (i >= leaf.keys.length) {
                    seek(last, true);
                    continue;
                }
                byte[] k = leaf.keys[i];
                if (to != null && Arrays.compareUnsigned(k, to) >= 0) {
                    done = true;
                    break;
                }
                Loc l = leaf.loc(i++);
                last = k;
                if (l != null) next = new AbstractMap.SimpleImmutableEntry<>(k, l);
            }
            return next != null;
        }

        @Override
        public Map.Entry<byte[], Loc> next() {
            if (!hasNext()) throw new NoSuchElementException();
            Map.Entry<byte[], Loc> e = next;
            next = null;
            return e;
        }
    }

    // ---- loading

    /**
     * Builds the tree from keys in strictly ascending order (open: the merged hint files), replacing
     * whatever was there. Tombstones are not passed in.
     */
    void build(Iterator<Map.Entry<byte[], Loc>> sorted) {
        List<Object> level = new ArrayList<>();
        List<byte[]> firsts = new ArrayList<>();
        byte[][] ks = new byte[FILL][];
        Loc[] ls = new Loc[FILL];
        int n = 0;
        long k = 0;
        long kb = 0;
        while (sorted.hasNext()) {
            Map.Entry<byte[], Loc> e = sorted.next();
            ks[n] = e.getKey();
            ls[n++] = e.getValue();
            k++;
            kb += e.getKey().length;
            if (n == FILL) {
                level.add(Leaf.of(ks, ls));
                firsts.add(ks[0]);
                ks = new byte[FILL][];
                ls = new Loc[FILL];
                n = 0;
            }
        }
        if (n > 0 || level.isEmpty()) {
            level.add(Leaf.of(Arrays.copyOf(ks, n), Arrays.copyOf(ls, n)));
            firsts.add(n > 0 ? ks[0] : new byte[0]);
        }
        while (level.size() > 1) {
            List<Object> up = new ArrayList<>();
            List<byte[]> upFirsts = new ArrayList<>();
            for (int s = 0; s < level.size(); s += FILL) {
                int e = Math.min(level.size(), s + FILL);
                if (level.size() - e > 0 && level.size() - e < 2) e = level.size(); // no one-child node at the end
                int m = e - s;
                byte[][] ik = new byte[m - 1][];
                for (int j = 1; j < m; j++) ik[j - 1] = firsts.get(s + j);
                up.add(Inner.of(ik, level.subList(s, e).toArray()));
                upFirsts.add(firsts.get(s));
                s = e - FILL;
            }
            level = up;
            firsts = upFirsts;
        }
        root = level.get(0);
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
