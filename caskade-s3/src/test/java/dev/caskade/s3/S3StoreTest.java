package dev.caskade.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The contract against S3Proxy (filesystem provider) on 127.0.0.1; each test gets its own key prefix. */
class S3StoreTest extends ObjectStoreContract {
    static final String BUCKET = "caskade-contract";
    static final AtomicInteger PREFIXES = new AtomicInteger();

    @TempDir
    static Path s3data;

    static S3ProxyFixture s3;

    @BeforeAll
    static void startS3() {
        s3 = S3ProxyFixture.start(s3data);
        s3.createBucket(BUCKET);
    }

    @AfterAll
    static void stopS3() {
        if (s3 != null) {
            s3.close();
        }
    }

    @Override
    protected ObjectStore newStore() {
        // small parts, so that the 20 MiB cases go through multipart uploads
        return S3Store.open(
                BUCKET, "contract/t" + PREFIXES.incrementAndGet(), s3.options().withPartSize(S3Options.MIN_PART_SIZE));
    }

    @Test
    void urlNamesBucketAndPrefix() {
        assertThat(store.url()).matches("s3://" + BUCKET + "/contract/t\\d+");
        assertThat(store.toString()).contains(s3.endpoint().toString());
    }

    @Test
    void reportsWhetherS3ProxyEnforcesConditionalWrites() {
        boolean enforced = store.conditionalWrites();
        // pinned: S3Proxy 2.6.0 accepts If-None-Match / If-Match on PutObject and ignores them (the write goes
        // through). If an upgrade starts enforcing them, this fails: then make the race tests strict for S3 too.
        assertThat(enforced).as("S3Proxy 2.6.0 enforces conditional writes").isFalse();
        assertThat(store.list("")).as("the probe object is gone").isEmpty();
        assertThat(store.conditionalWrites()).as("probed once, then remembered").isEqualTo(enforced);
    }

    @Test
    void aMissingBucketIsNotRetryable() {
        try (ObjectStore missing = S3Store.open("no-such-bucket-here", "", s3.options())) {
            for (Runnable call : List.<Runnable>of(
                    () -> missing.get("x"), () -> missing.list(""), () -> missing.put("x", new byte[1]))) {
                assertThat(answer(call))
                        .isNotInstanceOf(NoSuchObjectException.class)
                        .hasMessageContaining("NoSuchBucket")
                        .hasMessageContaining("s3://no-such-bucket-here")
                        .satisfies(e -> {
                            assertThat(e.retryable()).as("%s", e).isFalse();
                            assertThat(e.status()).isEqualTo(404);
                        });
            }
        }
    }

    @Test
    void wrongCredentialsAreNotRetryable() {
        try (ObjectStore denied =
                S3Store.open(BUCKET, "x", s3.options().withCredentials(S3ProxyFixture.ACCESS_KEY, "wrong"))) {
            for (Runnable call : List.<Runnable>of(() -> denied.list(""), () -> denied.put("x", new byte[1]))) {
                assertThat(answer(call)).hasMessageNotContaining("wrong").satisfies(e -> {
                    assertThat(e.retryable()).as("%s", e).isFalse();
                    assertThat(e.status()).isEqualTo(403);
                });
            }
        }
    }

    /**
     * The error the server answered. S3Proxy answers some errors to a PUT before reading its body and closes the
     * connection, so the client may fail writing the body (a retryable I/O error, which is what a client sees from
     * any server doing that) before it reads the answer: ask again, a bounded number of times.
     */
    private static ObjectStoreException answer(Runnable call) {
        ObjectStoreException last = null;
        for (int i = 0; i < 20; i++) {
            try {
                call.run();
                throw new AssertionError("expected an error");
            } catch (ObjectStoreException e) {
                last = e;
                if (e.status() != 0) {
                    return e;
                }
                assertThat(e.retryable())
                        .as("an I/O failure is retryable: %s", e)
                        .isTrue();
            }
        }
        throw new AssertionError("no answer from the server in 20 attempts", last);
    }

    @Test
    void aRefusedConnectionIsRetryable() throws Exception {
        int port;
        try (ServerSocket free = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = free.getLocalPort();
        }
        try (ObjectStore nobody =
                S3Store.open(BUCKET, "", S3ProxyFixture.options(URI.create("http://127.0.0.1:" + port)))) {
            assertThatThrownBy(() -> nobody.list("")).isInstanceOfSatisfying(ObjectStoreException.class, e -> {
                assertThat(e.retryable()).isTrue();
                assertThat(e.status()).isZero();
                assertThat(e.operation()).isEqualTo("list");
            });
        }
    }

    @Test
    void objectsSurviveARestartOfS3Proxy(@TempDir Path data) {
        // a server of its own: a restart leaves stale keep-alive connections in the JVM-wide pool
        try (S3ProxyFixture own = S3ProxyFixture.start(data);
                ObjectStore s = S3Store.open(BUCKET, "", own.options())) {
            own.createBucket(BUCKET);
            s.put("durable", new byte[] {1, 2, 3});
            int port = own.port();
            own.restart();
            assertThat(own.port()).isEqualTo(port);
            assertThat(s.get("durable")).hasValueSatisfying(d -> assertThat(d).containsExactly(1, 2, 3));
            assertThat(s.list("")).extracting(ObjectStore.ObjectInfo::name).containsExactly("durable");
        }
    }

    @Test
    void batchDeletesOnAServerThatTakesTheSdkChecksumHeader(@TempDir Path data) {
        try (S3ProxyFixture lenient = S3ProxyFixture.start(data, true);
                ObjectStore s = S3Store.open(BUCKET, "p", lenient.options())) {
            lenient.createBucket(BUCKET);
            List<String> names = IntStream.range(0, 1_005)
                    .mapToObj(i -> String.format("d/%04d", i))
                    .toList();
            names.parallelStream().forEach(n -> s.put(n, new byte[] {7}));
            assertThat(s.list("d/")).hasSize(names.size());
            s.delete(names.subList(0, 1_002));
            assertThat(s.list("d/"))
                    .extracting(ObjectStore.ObjectInfo::name)
                    .containsExactly("d/1002", "d/1003", "d/1004");
        }
    }

    @Test
    void aDirectStoreSendsNothingUntilUsed() {
        // no endpoint listening: opening must still succeed
        try (ObjectStore idle = Destination.openDirect(
                "s3://" + BUCKET + "/p", S3ProxyFixture.options(URI.create("http://127.0.0.1:9")))) {
            assertThat(idle.url()).isEqualTo("s3://" + BUCKET + "/p");
        }
        assertThat(List.of()).isEmpty();
    }
}
