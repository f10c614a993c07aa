package dev.caskade.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.caskade.s3.GuardedStore.Outcome;
import dev.caskade.s3.GuardedStore.Request;
import dev.caskade.s3.GuardedStore.State;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Retry and circuit breaker against S3Proxy behind a {@link FaultProxy}, all on 127.0.0.1. */
class GuardedStoreTest {
    static final String BUCKET = "caskade-guarded";
    static final AtomicInteger PREFIXES = new AtomicInteger();

    /** Small numbers so that tests are quick: open after 4 calls at 50 %, 800 ms open, 2 probes, 3 attempts. */
    static final BreakerOptions FAST =
            new BreakerOptions(10, 50f, 4, Duration.ofMillis(800), 2, 3, Duration.ofMillis(20), Duration.ofMillis(100));

    @TempDir
    static Path s3data;

    static S3ProxyFixture s3;

    FaultProxy proxy;
    GuardedStore store;
    final long seed = System.nanoTime();
    final Random random = new Random(seed);

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

    @BeforeEach
    void openStore() {
        // a proxy of its own per test: a fresh port has no pooled keep-alive connections
        proxy = FaultProxy.start(s3.port());
        // a short read timeout for the stalls
        store = new GuardedStore(
                S3Store.open(
                        BUCKET,
                        "g" + PREFIXES.incrementAndGet(),
                        S3ProxyFixture.options(proxy.endpoint())
                                .withTimeouts(Duration.ofSeconds(1), Duration.ofMillis(1500), null)),
                FAST);
    }

    @AfterEach
    void close() {
        store.close();
        proxy.close();
    }

    byte[] bytes(int n) {
        byte[] b = new byte[n];
        random.nextBytes(b);
        return b;
    }

    @Test
    void transient503sAreRetriedAndSucceed() {
        // the default breaker (2 failures in 4 calls would open FAST's), quick retries
        store = new GuardedStore(
                store.delegate(),
                BreakerOptions.defaults().withRetry(3, Duration.ofMillis(20), Duration.ofMillis(100)));
        byte[] data = bytes(10_000);
        proxy.mode(FaultProxy.fail5xx(503, 2));
        store.put("obj", data);
        assertThat(proxy.failed()).isEqualTo(2);
        assertThat(store.get("obj")).hasValueSatisfying(d -> assertThat(d).isEqualTo(data));

        GuardedStore.Metrics m = store.metrics();
        assertThat(m.retries()).isEqualTo(2);
        assertThat(m.requests(Request.PUT, Outcome.TRANSIENT_ERROR)).isEqualTo(2);
        assertThat(m.requests(Request.PUT, Outcome.OK)).isEqualTo(1);
        assertThat(m.requests(Request.GET, Outcome.OK)).isEqualTo(1);
        assertThat(m.bytesUploaded()).isEqualTo(data.length);
        assertThat(m.bytesDownloaded()).isEqualTo(data.length);
        assertThat(m.state()).isEqualTo(State.CLOSED);
        assertThat(m.nextProbe()).isNull();
        assertThat(m.url()).isEqualTo(store.url());
    }

    @Test
    void whenEveryAttemptFailsTheLastErrorSurfaces() {
        proxy.mode(FaultProxy.fail5xx(500));
        long before = proxy.connections();
        assertThatThrownBy(() -> store.get("x"))
                .isInstanceOfSatisfying(ObjectStoreException.class, e -> {
                    assertThat(e.retryable()).isTrue();
                    assertThat(e.status()).isEqualTo(500);
                })
                .hasMessageContaining("InternalError")
                .hasMessageContaining(store.url());
        assertThat(proxy.connections() - before).as("3 attempts").isEqualTo(3);
        assertThat(store.metrics().retries()).isEqualTo(2);
    }

    @Test
    void repeatedFailuresOpenTheBreakerThenCallsFailFastAndProbesCloseItAgain() {
        store.put("kept", new byte[] {42});
        Instant failing = Instant.now();
        proxy.mode(FaultProxy.fail5xx(500));
        UnavailableException refused = null;
        for (int i = 0; i < 10 && refused == null; i++) {
            try {
                store.get("kept");
            } catch (UnavailableException e) {
                refused = e;
            } catch (ObjectStoreException e) {
                assertThat(e.retryable()).isTrue();
            }
        }
        assertThat(refused).as("the breaker opened within 10 calls").isNotNull();
        assertThat(store.state()).isEqualTo(State.OPEN);
        assertThat(refused.nextProbe()).isAfter(failing).isBefore(Instant.now().plus(FAST.openWait()));
        assertThat(refused).hasMessageContaining("next probe at").hasMessageContaining(store.url());

        // open: refused at once, with no connection
        long connections = proxy.connections();
        long start = System.nanoTime();
        for (int i = 0; i < 20; i++) {
            assertThatThrownBy(() -> store.list("")).isInstanceOf(UnavailableException.class);
        }
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofMillis(300));
        assertThat(proxy.connections()).as("no connection while open").isEqualTo(connections);
        GuardedStore.Metrics open = store.metrics();
        assertThat(open.state()).isEqualTo(State.OPEN);
        assertThat(open.nextProbe()).isNotNull();
        assertThat(open.requests(Request.LIST, Outcome.REJECTED)).isEqualTo(20);

        // the store is back; after the wait, the probes succeed and close the breaker
        proxy.mode(FaultProxy.pass());
        await().atMost(Duration.ofSeconds(5))
                .pollInterval(Duration.ofMillis(50))
                .until(() -> {
                    try {
                        return store.get("kept").isPresent();
                    } catch (UnavailableException e) {
                        return false;
                    }
                });
        assertThat(store.state()).isEqualTo(State.HALF_OPEN);
        assertThat(store.get("kept")).isPresent();
        assertThat(store.state()).as("2 successful probes close it").isEqualTo(State.CLOSED);
        assertThat(store.metrics().nextProbe()).isNull();
    }

    @Test
    void aFailedProbeOpensTheBreakerAgain() {
        proxy.mode(FaultProxy.fail5xx(503));
        for (int i = 0; i < 10 && store.state() != State.OPEN; i++) {
            try {
                store.get("x");
            } catch (ObjectStoreException e) {
                // expected
            }
        }
        assertThat(store.state()).isEqualTo(State.OPEN);
        Instant firstProbe = store.metrics().nextProbe();
        long failedBefore = proxy.failed();
        await().atMost(Duration.ofSeconds(5))
                .pollInterval(Duration.ofMillis(50))
                .until(() -> {
                    try {
                        store.get("x");
                    } catch (UnavailableException e) {
                        // refused while open; once the probes went through and failed, it holds their error
                        if (e.getCause() != null) {
                            assertThat(e.getCause()).isInstanceOf(ObjectStoreException.class);
                        }
                    } catch (ObjectStoreException e) {
                        // a probe failed
                    }
                    return proxy.failed() > failedBefore;
                });
        assertThat(store.state()).isEqualTo(State.OPEN);
        assertThat(store.metrics().nextProbe()).isAfter(firstProbe);
    }

    @Test
    void nonRetryableErrorsAreNeitherRetriedNorHeldAgainstTheStore() {
        try (GuardedStore noBucket = new GuardedStore(
                S3Store.open("no-such-bucket-guarded", "", S3ProxyFixture.options(proxy.endpoint())), FAST)) {
            long before = proxy.connections();
            for (int i = 0; i < 10; i++) {
                assertThatThrownBy(() -> noBucket.get("x"))
                        .isInstanceOfSatisfying(
                                ObjectStoreException.class,
                                e -> assertThat(e.retryable()).isFalse())
                        .hasMessageContaining("NoSuchBucket");
            }
            assertThat(noBucket.state()).isEqualTo(State.CLOSED);
            GuardedStore.Metrics m = noBucket.metrics();
            assertThat(m.retries()).isZero();
            assertThat(m.requests(Request.GET, Outcome.PERMANENT_ERROR)).isEqualTo(10);
            assertThat(m.requests(Request.GET)).isEqualTo(10);
            assertThat(proxy.connections() - before).isLessThanOrEqualTo(10);
        }
        // a missing object is an answer, not a failure
        for (int i = 0; i < 10; i++) {
            assertThat(store.get("missing")).isEmpty();
            assertThatThrownBy(() -> store.open("missing")).isInstanceOf(NoSuchObjectException.class);
            assertThat(store.stat("missing")).isEmpty();
        }
        GuardedStore.Metrics m = store.metrics();
        assertThat(m.state()).isEqualTo(State.CLOSED);
        assertThat(m.retries()).isZero();
        assertThat(m.requests(Request.GET, Outcome.NOT_FOUND)).isEqualTo(20);
        assertThat(m.requests(Request.HEAD, Outcome.NOT_FOUND)).isEqualTo(10);
        assertThat(m.failureRate()).isIn(-1f, 0f);
    }

    @Test
    void stallsCutsAndResetsAreRetryableFaults() {
        ObjectStore raw = store.delegate();
        raw.put("x", new byte[] {1});
        for (FaultProxy.Mode mode :
                List.of(FaultProxy.stall(Duration.ofSeconds(10)), FaultProxy.cut(), FaultProxy.reset())) {
            proxy.mode(mode);
            long start = System.nanoTime();
            assertThatThrownBy(() -> raw.get("x"))
                    .as("%s", mode)
                    .isInstanceOfSatisfying(ObjectStoreException.class, e -> {
                        assertThat(e.retryable()).as("%s: %s", mode, e).isTrue();
                        assertThat(e.status()).isZero();
                    });
            // the read timeout is 1.5 s
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(4));
        }
        proxy.mode(FaultProxy.delay(Duration.ofMillis(300)));
        long start = System.nanoTime();
        assertThat(raw.get("x")).isPresent();
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isGreaterThanOrEqualTo(Duration.ofMillis(300));
    }

    @Test
    void callsRecoverWhenS3ProxyIsStoppedAndRestarted(@TempDir Path data) {
        BreakerOptions quick = FAST.withBreaker(10, 50f, 4, Duration.ofMillis(300), 2);
        try (S3ProxyFixture own = S3ProxyFixture.start(data);
                GuardedStore direct = new GuardedStore(S3Store.open(BUCKET, "restart", own.options()), quick)) {
            own.createBucket(BUCKET);
            byte[] data1 = bytes(5_000);
            direct.put("before", data1);
            own.stop();
            // down: refused connections are retryable; the breaker opens
            for (int i = 0; i < 10 && direct.state() != State.OPEN; i++) {
                assertThatThrownBy(() -> direct.get("before"))
                        .isInstanceOfSatisfying(
                                ObjectStoreException.class,
                                e -> assertThat(e.retryable()).isTrue());
            }
            assertThat(direct.state()).isEqualTo(State.OPEN);
            own.restart();
            await().atMost(Duration.ofSeconds(10))
                    .pollInterval(Duration.ofMillis(50))
                    .until(() -> {
                        try {
                            direct.put("after", new byte[] {9});
                            return true;
                        } catch (ObjectStoreException e) {
                            return false;
                        }
                    });
            assertThat(direct.get("before"))
                    .hasValueSatisfying(d -> assertThat(d).isEqualTo(data1));
            assertThat(direct.get("after"))
                    .hasValueSatisfying(d -> assertThat(d).containsExactly(9));
            assertThat(direct.state()).isEqualTo(State.CLOSED);
        }
    }

    @Test
    void aConditionalWriteWhoseSuccessWasHiddenByAFaultStillWins(@TempDir Path dir) {
        // the first attempt is applied, but its answer is lost
        var lossy = new LostAnswerStore(DirectoryStore.open(dir));
        try (GuardedStore guarded = new GuardedStore(lossy, FAST)) {
            byte[] mine = bytes(32);
            lossy.loseNext.set(1);
            assertThat(guarded.putIfAbsent("lease", mine)).isTrue();
            assertThat(guarded.metrics().retries()).isEqualTo(1);

            String etag = guarded.getVersioned("lease").orElseThrow().etag();
            byte[] next = bytes(32);
            lossy.loseNext.set(1);
            assertThat(guarded.putIfMatch("lease", next, etag)).isTrue();

            // someone else's bytes: a real conflict
            lossy.loseNext.set(0);
            assertThat(guarded.putIfAbsent("lease", bytes(32))).isFalse();
            assertThat(guarded.get("lease"))
                    .hasValueSatisfying(d -> assertThat(d).isEqualTo(next));
        }
    }

    /** A real store whose conditional writes succeed, then report a retryable fault (the answer got lost). */
    static final class LostAnswerStore extends ForwardingStore {
        final AtomicInteger loseNext = new AtomicInteger();

        LostAnswerStore(ObjectStore inner) {
            super(inner);
        }

        private boolean lose(boolean result, String op, String name) {
            if (loseNext.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
                throw new ObjectStoreException(url(), op, name, 0, true, "connection reset after the write", null);
            }
            return result;
        }

        @Override
        public boolean putIfAbsent(String name, byte[] data) {
            return lose(inner.putIfAbsent(name, data), "putIfAbsent", name);
        }

        @Override
        public boolean putIfMatch(String name, byte[] data, String etag) {
            return lose(inner.putIfMatch(name, data, etag), "putIfMatch", name);
        }
    }
}
