package dev.caskade;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The key directory against a sorted map, with keys built to break prefix tricks: long shared prefixes (longer
 * than the 16 bytes a node packs), zero bytes that look like padding, keys that are prefixes of others, and
 * enough keys for many splits and emptied leaves.
 */
class KeyDirTest {
    private static final byte[][] PREFIXES = {
        new byte[0],
        "key:000000".getBytes(),
        new byte[] {0, 0, 0},
        "a".repeat(20).getBytes(),
        "user/".getBytes()
    };
    private static final byte[] ALPHABET = {0, 1, 'a', 'b', (byte) 0xff};

    @Test
    void matchesASortedMapUnderRandomPutsDeletesAndScans(@TempDir Path dir) throws Exception {
        long seed = Long.getLong("caskade.keydir.seed", System.nanoTime());
        Random r = new Random(seed);
        Segment seg = Segment.create(dir, 1, Segment.Kind.DATA, 0, "", 0);
        try {
            for (int round = 0; round < 4; round++) {
                KeyDir dirIndex = new KeyDir();
                TreeMap<byte[], Long> model = new TreeMap<>(Arrays::compareUnsigned);
                byte[] prefix = PREFIXES[r.nextInt(PREFIXES.length)];
                long rev = 0;
                for (int op = 0; op < 30_000; op++) {
                    byte[] key = key(r, prefix);
                    if (r.nextInt(4) == 0) {
                        Loc tomb = Loc.of(seg, 0, 1, ++rev, 0, EntryCodec.DELETE);
                        dirIndex.remove(key, tomb, false);
                        model.remove(key);
                    } else {
                        dirIndex.put(key, Loc.of(seg, 0, 1, ++rev, 0, EntryCodec.PUT), false);
                        model.put(key, rev);
                    }
                    if (op % 97 == 0) {
                        byte[] probe = key(r, prefix);
                        Loc l = dirIndex.current(probe);
                        Long want = model.get(probe);
                        assertThat(l == null ? null : l.revision)
                                .as("seed %d: get %s", seed, Keys.show(probe))
                                .isEqualTo(want);
                    }
                    if (op % 1999 == 0) checkRange(dirIndex, model, key(r, prefix), key(r, prefix), seed);
                }
                assertThat(dirIndex.keys()).as("seed %d", seed).isEqualTo(model.size());
                checkRange(dirIndex, model, null, null, seed);
            }
        } finally {
            seg.closeQuietly();
        }
    }

    private static void checkRange(KeyDir d, TreeMap<byte[], Long> model, byte[] a, byte[] b, long seed) {
        byte[] from = a;
        byte[] to = b;
        if (from != null && to != null && Arrays.compareUnsigned(from, to) > 0) {
            from = b;
            to = a;
        }
        List<String> got = new ArrayList<>();
        for (Iterator<Map.Entry<byte[], Loc>> it = d.range(from, to); it.hasNext(); ) {
            Map.Entry<byte[], Loc> e = it.next();
            got.add(Keys.show(e.getKey()) + "@" + e.getValue().revision);
        }
        Map<byte[], Long> view =
                from == null ? model : to == null ? model.tailMap(from, true) : model.subMap(from, true, to, false);
        List<String> want = new ArrayList<>();
        view.forEach((k, v) -> want.add(Keys.show(k) + "@" + v));
        assertThat(got)
                .as("seed %d: range %s..%s", seed, Keys.show(from), Keys.show(to))
                .isEqualTo(want);
    }

    private static byte[] key(Random r, byte[] prefix) {
        // often a cut of the prefix itself: keys that are prefixes of others, and keys outside the shared bytes
        int keep = r.nextInt(8) == 0 ? r.nextInt(prefix.length + 1) : prefix.length;
        int n = r.nextInt(r.nextBoolean() ? 3 : 13);
        byte[] k = Arrays.copyOf(prefix, keep + n);
        for (int i = keep; i < k.length; i++) k[i] = ALPHABET[r.nextInt(ALPHABET.length)];
        if (k.length == 0) k = new byte[] {'z'};
        return k;
    }
}
