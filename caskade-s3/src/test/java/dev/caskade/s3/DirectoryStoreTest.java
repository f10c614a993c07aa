package dev.caskade.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DirectoryStoreTest extends ObjectStoreContract {
    @TempDir
    Path dir;

    @Override
    protected ObjectStore newStore() {
        return DirectoryStore.open(dir.resolve("dest"));
    }

    @Test
    void urlIsAFileUrlOfTheAbsoluteRoot() {
        assertThat(store.url()).isEqualTo("file://" + dir.resolve("dest"));
        assertThat(store.conditionalWrites()).isTrue();
    }

    @Test
    void temporaryFilesAndTheLockFileAreNeverListed() throws Exception {
        store.put("gen/a", new byte[] {1});
        assertThat(store.putIfAbsent("lease", new byte[] {2})).isTrue();
        // a writer that crashed between create and rename leaves a temporary file behind
        Files.write(dir.resolve("dest/gen/" + DirectoryStore.TMP_PREFIX + "deadbeef"), new byte[] {3});
        assertThat(store.list("")).extracting(ObjectStore.ObjectInfo::name).containsExactly("gen/a", "lease");
        assertThat(store.list("gen/")).extracting(ObjectStore.ObjectInfo::name).containsExactly("gen/a");
        assertThatThrownBy(() -> store.put("gen/" + DirectoryStore.TMP_PREFIX + "x", new byte[1]))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> store.put(DirectoryStore.LOCK_FILE, new byte[1]))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void aSuccessfulWriteLeavesNoTemporaryFile() throws Exception {
        for (int i = 0; i < 20; i++) {
            store.put("x/" + i, bytes(1000));
            store.put("x/" + i, scratchFile(i));
        }
        try (Stream<Path> files = Files.walk(dir.resolve("dest"))) {
            assertThat(files.filter(p -> p.getFileName().toString().startsWith(DirectoryStore.TMP_PREFIX)))
                    .isEmpty();
        }
    }

    private Path scratchFile(int i) throws Exception {
        Path f = scratch.resolve("f" + i);
        Files.write(f, bytes(2000));
        return f;
    }

    @Test
    void anObjectCannotAlsoBeADirectory() {
        store.put("a", new byte[1]);
        assertThatThrownBy(() -> store.put("a/b", new byte[1]))
                .isInstanceOfSatisfying(
                        ObjectStoreException.class,
                        e -> assertThat(e.retryable()).isFalse())
                .hasMessageContaining("a/b");
        assertThat(store.get("a/b")).isEmpty();
        assertThatThrownBy(() -> store.open("a/b")).isInstanceOf(NoSuchObjectException.class);
        store.put("c/d", new byte[1]);
        assertThat(store.get("c")).as("a directory is not an object").isEmpty();
        assertThat(store.stat("c")).isEmpty();
    }

    @Test
    void aMissingSourceFileIsNotRetryable() {
        assertThatThrownBy(() -> store.put("x", scratch.resolve("missing")))
                .isInstanceOfSatisfying(
                        ObjectStoreException.class,
                        e -> assertThat(e.retryable()).isFalse())
                .hasMessageContaining("missing");
    }

    @Test
    void conditionalCreateRaceAcrossTwoStoreInstances() throws Exception {
        try (ObjectStore other = DirectoryStore.open(dir.resolve("dest"))) {
            for (int round = 0; round < 10; round++) {
                String name = "two/" + round;
                CountDownLatch start = new CountDownLatch(1);
                List<Future<Boolean>> results = new ArrayList<>();
                try (ExecutorService pool = Executors.newFixedThreadPool(4)) {
                    for (int i = 0; i < 4; i++) {
                        ObjectStore s = i % 2 == 0 ? store : other;
                        byte[] data = bytes(16);
                        results.add(pool.submit(() -> {
                            start.await(10, TimeUnit.SECONDS);
                            return s.putIfAbsent(name, data);
                        }));
                    }
                    start.countDown();
                    long winners = 0;
                    for (Future<Boolean> f : results) {
                        winners += f.get(30, TimeUnit.SECONDS) ? 1 : 0;
                    }
                    assertThat(winners).as("round %d", round).isEqualTo(1);
                }
            }
        }
    }
}
