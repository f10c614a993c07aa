package dev.caskade.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.caskade.Change;
import dev.caskade.ChangeType;
import dev.caskade.Entry;
import dev.caskade.WatchEvent;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.Test;

/** Snapshot and log objects round-trip exactly, inline or compressed in parallel, and damage never decodes. */
class ObjectCodecTest {
    static List<Entry> entries(Random rnd, int n) {
        List<Entry> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            byte[] v = new byte[rnd.nextInt(3) == 0 ? rnd.nextInt(5000) : rnd.nextInt(50)];
            if (rnd.nextBoolean()) rnd.nextBytes(v); // incompressible blocks are stored as they are
            else Arrays.fill(v, (byte) 'a');
            out.add(new Entry(
                    "key/%06d".formatted(i).getBytes(StandardCharsets.UTF_8),
                    v,
                    1 + rnd.nextInt(1000),
                    rnd.nextInt(2)));
        }
        return out;
    }

    static byte[] snapshot(List<Entry> es, ExecutorService pool) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        SnapshotCodec.write(out, new SnapshotCodec.Header(1000, 17, 18), es.iterator(), 4096, pool, 4);
        return out.toByteArray();
    }

    static List<Entry> read(byte[] object) throws Exception {
        BlockCodec.Reader r = SnapshotCodec.reader(new ByteArrayInputStream(object), "snap");
        assertThat(SnapshotCodec.header(r)).isEqualTo(new SnapshotCodec.Header(1000, 17, 18));
        List<Entry> out = new ArrayList<>();
        for (BlockCodec.Block b = r.next(); b != null; b = r.next()) {
            SnapshotCodec.items(
                    b.decode(),
                    "snap",
                    b.offset(),
                    it -> out.add(new Entry(it.key(), it.value(), it.revision(), it.expiresAt())));
        }
        assertThat(r.records()).isEqualTo(out.size());
        return out;
    }

    @Test
    void snapshotsRoundTripInlineAndInParallelToTheSameBytes() throws Exception {
        long seed = System.nanoTime();
        Random rnd = new Random(seed);
        List<Entry> es = entries(rnd, 3000);
        ExecutorService pool = Executors.newFixedThreadPool(3);
        try {
            byte[] inline = snapshot(es, null);
            byte[] parallel = snapshot(es, pool);
            assertThat(parallel).as("seed %d", seed).isEqualTo(inline);
            assertThat(read(inline)).as("seed %d", seed).isEqualTo(es);
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void everyFlippedByteOrCutIsDetected() throws Exception {
        long seed = System.nanoTime();
        Random rnd = new Random(seed);
        List<Entry> es = entries(rnd, 300);
        byte[] good = snapshot(es, null);
        for (int i = 0; i < 300; i++) {
            byte[] bad = good.clone();
            int at = rnd.nextInt(bad.length);
            bad[at] ^= (byte) (1 << rnd.nextInt(8));
            List<Entry> back;
            try {
                back = read(bad);
            } catch (CorruptObjectException e) {
                continue;
            }
            // a flip inside deflate's output can leave the inflated bytes unchanged; then the data is still right
            assertThat(back).as("flip at %d, seed %d", at, seed).isEqualTo(es);
        }
        for (int cut : new int[] {0, 5, 30, good.length / 2, good.length - 1}) {
            byte[] shortened = Arrays.copyOf(good, cut);
            assertThatThrownBy(() -> read(shortened)).as("cut at %d", cut).isInstanceOf(CorruptObjectException.class);
        }
    }

    @Test
    void logObjectsRoundTripAndCheckTheirRange() throws Exception {
        List<WatchEvent.Commit> commits = new ArrayList<>();
        for (long rev = 5; rev <= 40; rev++) {
            commits.add(new WatchEvent.Commit(
                    rev,
                    1000 + rev,
                    List.of(
                            new Change(
                                    ChangeType.PUT, ("k" + rev).getBytes(StandardCharsets.UTF_8), new byte[] {1, 2}, 0),
                            new Change(ChangeType.DELETE, "gone".getBytes(StandardCharsets.UTF_8), new byte[0], 0))));
        }
        byte[] obj = LogCodec.encode(5, 40, commits, 1024);
        BlockCodec.Reader r = LogCodec.reader(new ByteArrayInputStream(obj), "log");
        assertThat(LogCodec.header(r, "log")).isEqualTo(new LogCodec.Header(5, 40, 1005, 1040));
        List<WatchEvent.Commit> back = new ArrayList<>();
        for (BlockCodec.Block b = r.next(); b != null; b = r.next())
            back.addAll(LogCodec.commits(b.decode(), "log", 0));
        assertThat(back).isEqualTo(commits);
        assertThatThrownBy(() -> LogCodec.encode(6, 40, commits, 1024)).isInstanceOf(IllegalArgumentException.class);
    }
}
