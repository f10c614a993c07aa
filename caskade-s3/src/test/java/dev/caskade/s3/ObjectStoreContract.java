package dev.caskade.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What every {@link ObjectStore} must do. A subclass supplies a fresh, empty store per test. Random data comes from
 * a seed printed with each failure ({@code -Dcaskade.seed=N} repeats a run).
 */
abstract class ObjectStoreContract {
    protected final long seed = Long.getLong("caskade.seed", System.nanoTime());
    protected final Random random = new Random(seed);
    protected ObjectStore store;

    @TempDir
    Path scratch;

    /** A fresh, empty store; closed after each test. */
    protected abstract ObjectStore newStore() throws Exception;

    @BeforeEach
    void openStore() throws Exception {
        store = newStore();
    }

    @AfterEach
    void closeStore() {
        if (store != null) {
            store.close();
        }
    }

    protected byte[] bytes(int n) {
        byte[] b = new byte[n];
        random.nextBytes(b);
        return b;
    }

    private String seedNote() {
        return "seed " + seed + " (-Dcaskade.seed=" + seed + "), store " + store;
    }

    @Test
    void putAndReadBackManySizesFromBytesAndFromFiles() throws IOException {
        int[] sizes = {0, 1, 2, 100, 4095, 4096, 4097, 65_536, 1 << 20, (5 << 20) + 1, 20 << 20};
        for (int size : sizes) {
            byte[] data = bytes(size);
            String name = "sizes/bytes-" + size;
            store.put(name, data);
            assertThat(store.get(name))
                    .as("get %s, %s", name, seedNote())
                    .hasValueSatisfying(d -> assertThat(Arrays.equals(d, data))
                            .as("content of %s", name)
                            .isTrue());
            assertThat(store.stat(name))
                    .hasValueSatisfying(i -> assertThat(i.size()).isEqualTo(size));

            Path file = scratch.resolve("upload-" + size);
            byte[] other = bytes(size);
            Files.write(file, other);
            String fromFile = "sizes/file-" + size;
            store.put(fromFile, file);
            try (InputStream in = store.open(fromFile)) {
                assertThat(Arrays.equals(in.readAllBytes(), other))
                        .as("streamed content of %s, %s", fromFile, seedNote())
                        .isTrue();
            }
        }
        assertThat(store.list("sizes/")).hasSize(2 * sizes.length);
    }

    @Test
    void overwriteReplacesTheWholeObject() {
        store.put("o", bytes(10_000));
        byte[] shorter = bytes(10);
        store.put("o", shorter);
        assertThat(store.get("o")).hasValueSatisfying(d -> assertThat(d).isEqualTo(shorter));
        assertThat(store.list("")).extracting(ObjectStore.ObjectInfo::size).containsExactly(10L);
    }

    @Test
    void readersNeverSeePartOfAnObject() throws Exception {
        byte[] a = bytes(256 << 10);
        byte[] b = bytes(256 << 10);
        store.put("swap", a);
        AtomicBoolean stop = new AtomicBoolean();
        AtomicInteger reads = new AtomicInteger();
        try (ExecutorService pool = Executors.newFixedThreadPool(3)) {
            Future<?> writer = pool.submit(() -> {
                for (int i = 0; i < 40 && !stop.get(); i++) {
                    store.put("swap", i % 2 == 0 ? b : a);
                }
                return null;
            });
            List<Future<?>> readers = new ArrayList<>();
            for (int r = 0; r < 2; r++) {
                readers.add(pool.submit(() -> {
                    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
                    while (!writer.isDone() && System.nanoTime() < deadline) {
                        byte[] seen = store.get("swap").orElseThrow();
                        assertThat(Arrays.equals(seen, a) || Arrays.equals(seen, b))
                                .as("a reader saw %d bytes that are neither version", seen.length)
                                .isTrue();
                        reads.incrementAndGet();
                    }
                    return null;
                }));
            }
            writer.get(30, TimeUnit.SECONDS);
            for (Future<?> r : readers) {
                r.get(30, TimeUnit.SECONDS);
            }
        } finally {
            stop.set(true);
        }
        assertThat(reads.get()).isPositive();
    }

    @Test
    void rangedReads() {
        int size = 100_000;
        byte[] data = bytes(size);
        store.put("ranged", data);
        assertThat(store.read("ranged", 0, 10)).isEqualTo(Arrays.copyOfRange(data, 0, 10));
        assertThat(store.read("ranged", size - 10, 100))
                .as("a range past the end is cut")
                .isEqualTo(Arrays.copyOfRange(data, size - 10, size));
        assertThat(store.read("ranged", size, 5)).as("at the end").isEmpty();
        assertThat(store.read("ranged", size + 10, 5)).as("past the end").isEmpty();
        assertThat(store.read("ranged", 500, 0)).as("length 0").isEmpty();
        assertThat(store.read("ranged", 0, size)).isEqualTo(data);
        for (int i = 0; i < 20; i++) {
            int offset = random.nextInt(size);
            int length = random.nextInt(20_000);
            assertThat(store.read("ranged", offset, length))
                    .as("read(%d, %d), %s", offset, length, seedNote())
                    .isEqualTo(Arrays.copyOfRange(data, offset, Math.min(size, offset + length)));
        }
        store.put("empty", new byte[0]);
        assertThat(store.read("empty", 0, 10)).isEmpty();
    }

    @Test
    void missingObjects() {
        assertThat(store.get("nope")).isEmpty();
        assertThat(store.getVersioned("nope")).isEmpty();
        assertThat(store.stat("nope")).isEmpty();
        assertThatThrownBy(() -> store.open("nope"))
                .isInstanceOf(NoSuchObjectException.class)
                .hasMessageContaining("nope")
                .hasMessageContaining(store.url());
        assertThatThrownBy(() -> store.read("nope", 0, 10)).isInstanceOf(NoSuchObjectException.class);
        assertThatThrownBy(() -> store.read("nope", 0, 0)).isInstanceOf(NoSuchObjectException.class);
        assertThat(((NoSuchObjectException) catchThrowable(() -> store.open("dir/nope"))).retryable())
                .isFalse();
        assertThat(store.list("")).isEmpty();
        assertThat(store.list("no/such/prefix/")).isEmpty();
        store.delete(List.of("nope", "dir/nope"));
        store.delete(List.of());
        assertThat(store.putIfMatch("nope", bytes(3), "\"whatever\"")).isFalse();
        assertThat(store.get("nope")).isEmpty();
    }

    private static Throwable catchThrowable(Runnable r) {
        try {
            r.run();
        } catch (Throwable t) {
            return t;
        }
        throw new AssertionError("expected an exception");
    }

    @Test
    void listByPrefixInNameOrder() {
        List<String> names = List.of("a/1", "a/2", "a/b/3", "a/b/4", "ab", "b", "generations/x/log/0001-0002.seg");
        List<String> shuffled = new ArrayList<>(names);
        java.util.Collections.shuffle(shuffled, random);
        for (String n : shuffled) {
            store.put(n, n.getBytes(StandardCharsets.UTF_8));
        }
        Instant before = Instant.now().minusSeconds(120);
        List<ObjectStore.ObjectInfo> all = store.list("");
        assertThat(all).extracting(ObjectStore.ObjectInfo::name).containsExactlyElementsOf(names);
        assertThat(all).allSatisfy(i -> {
            assertThat(i.size()).isEqualTo(i.name().length());
            assertThat(i.modified()).isAfter(before);
        });
        assertThat(names(store.list("a/"))).containsExactly("a/1", "a/2", "a/b/3", "a/b/4");
        assertThat(names(store.list("a"))).containsExactly("a/1", "a/2", "a/b/3", "a/b/4", "ab");
        assertThat(names(store.list("a/b"))).containsExactly("a/b/3", "a/b/4");
        assertThat(names(store.list("a/b/4"))).containsExactly("a/b/4");
        assertThat(names(store.list("generations/x/log/0001"))).containsExactly("generations/x/log/0001-0002.seg");
        assertThat(names(store.list("c"))).isEmpty();
    }

    private static List<String> names(List<ObjectStore.ObjectInfo> infos) {
        return infos.stream().map(ObjectStore.ObjectInfo::name).toList();
    }

    @Test
    void listPaginatesPastAThousandObjectsAndDeleteWorksInBatches() throws Exception {
        int n = 1_100;
        List<String> expected = IntStream.range(0, n)
                .mapToObj(i -> String.format("many/%05d", i))
                .toList();
        try (ExecutorService pool = Executors.newFixedThreadPool(8)) {
            List<Future<?>> puts = new ArrayList<>();
            for (String name : expected) {
                puts.add(pool.submit(() -> store.put(name, name.getBytes(StandardCharsets.UTF_8))));
            }
            for (Future<?> f : puts) {
                f.get(60, TimeUnit.SECONDS);
            }
        }
        store.put("other", new byte[1]);
        assertThat(names(store.list("many/"))).containsExactlyElementsOf(expected);
        assertThat(store.list("")).hasSize(n + 1);

        List<String> doomed = new ArrayList<>(expected.subList(0, 1_050));
        doomed.add("many/never-existed");
        store.delete(doomed);
        assertThat(names(store.list("many/"))).containsExactlyElementsOf(expected.subList(1_050, n));
        assertThat(store.get("other")).isPresent();
    }

    @Test
    void specialCharactersInNames() {
        List<String> names = List.of(
                "sp ace/file name.txt",
                "plus+sign",
                "percent%20encoded",
                "unicode/\u00fcn\u00efc\u00f8d\u00e9-\u65e5\u672c",
                "emoji-\uD83D\uDE00",
                "q?mark",
                "hash#tag",
                "amp&eq=x",
                "quote'\"",
                "colon:semi;comma,",
                "tilde~star*",
                "brackets[]{}()",
                "dots.../x..y",
                ".hidden/.dotfile");
        for (String n : names) {
            store.put(n, n.getBytes(StandardCharsets.UTF_8));
        }
        for (String n : names) {
            assertThat(store.get(n))
                    .as("get '%s'", n)
                    .hasValueSatisfying(d ->
                            assertThat(new String(d, StandardCharsets.UTF_8)).isEqualTo(n));
        }
        List<String> sorted = new ArrayList<>(names);
        sorted.sort(ObjectStore.NAME_ORDER);
        assertThat(names(store.list(""))).containsExactlyElementsOf(sorted);
        assertThat(names(store.list("sp ace/"))).containsExactly("sp ace/file name.txt");
        store.delete(names);
        assertThat(store.list("")).isEmpty();
    }

    @Test
    void badNamesAreRejected() {
        for (String bad : List.of("", "/abs", "a//b", "a/", "../up", "a/./b", "a/../b", "tab\there")) {
            assertThatThrownBy(() -> store.put(bad, new byte[1]))
                    .as("name '%s'", bad)
                    .isInstanceOf(IllegalArgumentException.class);
        }
    }

    @Test
    void conditionalWritesOneAtATime() {
        byte[] first = bytes(100);
        assertThat(store.putIfAbsent("lease", first)).isTrue();
        assertThat(store.putIfAbsent("lease", bytes(100))).isFalse();
        ObjectStore.Versioned v = store.getVersioned("lease").orElseThrow();
        assertThat(v.data()).isEqualTo(first);

        byte[] second = bytes(50);
        assertThat(store.putIfMatch("lease", second, v.etag())).isTrue();
        assertThat(store.putIfMatch("lease", bytes(50), v.etag()))
                .as("a stale etag")
                .isFalse();
        ObjectStore.Versioned v2 = store.getVersioned("lease").orElseThrow();
        assertThat(v2.data()).isEqualTo(second);
        assertThat(v2.etag()).isNotEqualTo(v.etag());
        store.delete(List.of("lease"));
        assertThat(store.putIfMatch("lease", bytes(5), v2.etag())).as("gone").isFalse();
        assertThat(store.putIfAbsent("lease", first)).isTrue();
    }

    @Test
    void conditionalCreateRace() throws Exception {
        boolean enforced = store.conditionalWrites();
        int threads = 6;
        for (int round = 0; round < 8; round++) {
            String name = "race/create-" + round;
            List<byte[]> payloads =
                    IntStream.range(0, threads).mapToObj(i -> bytes(64)).toList();
            List<Boolean> won = race(threads, i -> store.putIfAbsent(name, payloads.get(i)));
            long winners = won.stream().filter(w -> w).count();
            byte[] stored = store.get(name).orElseThrow();
            int holder = IntStream.range(0, threads)
                    .filter(i -> Arrays.equals(payloads.get(i), stored))
                    .findFirst()
                    .orElse(-1);
            assertThat(holder)
                    .as("the object holds one contender's bytes, %s", seedNote())
                    .isNotNegative();
            assertThat(won.get(holder)).as("the holder was told it won").isTrue();
            if (enforced) {
                assertThat(winners)
                        .as("round %d: exactly one creator wins, %s", round, seedNote())
                        .isEqualTo(1);
            } else {
                assertThat(winners).isPositive();
            }
        }
    }

    @Test
    void conditionalMatchRace() throws Exception {
        boolean enforced = store.conditionalWrites();
        int threads = 6;
        store.put("race/match", bytes(64));
        for (int round = 0; round < 8; round++) {
            String etag = store.getVersioned("race/match").orElseThrow().etag();
            List<byte[]> payloads =
                    IntStream.range(0, threads).mapToObj(i -> bytes(64)).toList();
            List<Boolean> won = race(threads, i -> store.putIfMatch("race/match", payloads.get(i), etag));
            long winners = won.stream().filter(w -> w).count();
            byte[] stored = store.get("race/match").orElseThrow();
            int holder = IntStream.range(0, threads)
                    .filter(i -> Arrays.equals(payloads.get(i), stored))
                    .findFirst()
                    .orElse(-1);
            assertThat(holder)
                    .as("round %d: the object holds a contender's bytes, %s", round, seedNote())
                    .isNotNegative();
            assertThat(won.get(holder)).isTrue();
            if (enforced) {
                assertThat(winners)
                        .as("round %d: exactly one updater wins, %s", round, seedNote())
                        .isEqualTo(1);
            } else {
                assertThat(winners).isPositive();
            }
        }
    }

    private interface Contender {
        boolean run(int index);
    }

    // every contender starts at once; bounded in time
    private static List<Boolean> race(int threads, Contender contender) throws Exception {
        CountDownLatch start = new CountDownLatch(1);
        try (ExecutorService pool = Executors.newFixedThreadPool(threads)) {
            List<Future<Boolean>> results = new ArrayList<>();
            for (int i = 0; i < threads; i++) {
                int index = i;
                results.add(pool.submit(() -> {
                    start.await(10, TimeUnit.SECONDS);
                    return contender.run(index);
                }));
            }
            start.countDown();
            List<Boolean> won = new ArrayList<>();
            for (Future<Boolean> f : results) {
                won.add(f.get(30, TimeUnit.SECONDS));
            }
            return won;
        }
    }

    @Test
    void urlHoldsNoSecret() {
        assertThat(store.url()).doesNotContain(S3ProxyFixture.SECRET_KEY).doesNotContain(S3ProxyFixture.ACCESS_KEY);
    }
}
