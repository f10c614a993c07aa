package dev.caskade.s3;

import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import io.github.resilience4j.core.IntervalFunction;
import io.github.resilience4j.retry.Retry;
import io.github.resilience4j.retry.RetryConfig;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Function;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An {@link ObjectStore} behind a retry and a circuit breaker (Resilience4j), one of each per destination. Every
 * attempt goes through the breaker, and only {@linkplain ObjectStoreException#retryable() retryable} errors are
 * retried (exponential backoff with jitter) and count as failures. A missing object counts as a success (the store
 * answered); other non-retryable errors count as neither. When the failure rate over the window reaches the
 * threshold the breaker opens: calls then fail at once with {@link UnavailableException}, without any network,
 * until the open wait has passed; then a few probe calls decide whether it closes again.
 *
 * <p>A conditional write that had to be retried after an ambiguous failure (a timeout or a cut connection may hide a
 * success) and then reports a conflict is checked once more: if the object now holds exactly the bytes we wrote,
 * our earlier attempt won and the answer is true. Callers should make conditional payloads unique (an owner id, a
 * nonce) so that equal bytes do mean "ours".
 *
 * <p>{@link #metrics()} counts attempts (not logical calls) by request type and outcome; a listing of many pages
 * or a delete of many batches counts once.
 */
public final class GuardedStore implements ObjectStore {
    private static final Logger log = LoggerFactory.getLogger(GuardedStore.class);

    /** The breaker's state. */
    public enum State {
        /** calls flow */
        CLOSED,
        /** calls are refused until the wait has passed */
        OPEN,
        /** a few probe calls flow; others are refused */
        HALF_OPEN
    }

    /** The kind of request, for metrics. */
    public enum Request {
        PUT,
        GET,
        LIST,
        DELETE,
        HEAD
    }

    /** How an attempt ended, for metrics. */
    public enum Outcome {
        /** done */
        OK,
        /** the object did not exist */
        NOT_FOUND,
        /** a conditional write lost */
        CONFLICT,
        /** a retryable error: 5xx, throttling, timeout, connection refused or reset */
        TRANSIENT_ERROR,
        /** a non-retryable error: denied, bad request, missing bucket */
        PERMANENT_ERROR,
        /** refused by the open breaker, without network */
        REJECTED
    }

    /**
     * A snapshot of the counters.
     *
     * @param url the destination
     * @param state the breaker's state now
     * @param failureRate the failure rate (percent) over the breaker's window, or -1 before the minimum calls
     * @param nextProbe when an open breaker lets the next probe through, or null when it is not open
     * @param retries attempts that were retries
     * @param bytesUploaded bytes of objects written successfully
     * @param bytesDownloaded bytes read successfully
     * @param requests attempts by request type and outcome (every pair present)
     */
    public record Metrics(
            String url,
            State state,
            float failureRate,
            Instant nextProbe,
            long retries,
            long bytesUploaded,
            long bytesDownloaded,
            Map<Request, Map<Outcome, Long>> requests) {

        /** Attempts of one type that ended one way. */
        public long requests(Request type, Outcome outcome) {
            return requests.get(type).get(outcome);
        }

        /** Attempts of one type, however they ended. */
        public long requests(Request type) {
            return requests.get(type).values().stream()
                    .mapToLong(Long::longValue)
                    .sum();
        }

        /** Attempts that ended one way, of any type. */
        public long requests(Outcome outcome) {
            return requests.values().stream().mapToLong(m -> m.get(outcome)).sum();
        }
    }

    private final ObjectStore inner;
    private final BreakerOptions options;
    private final CircuitBreaker breaker;
    private final Retry retry;
    private final LongAdder[][] counts = new LongAdder[Request.values().length][Outcome.values().length];
    private final LongAdder retries = new LongAdder();
    private final LongAdder uploaded = new LongAdder();
    private final LongAdder downloaded = new LongAdder();
    private volatile Instant nextProbe = Instant.EPOCH;
    private volatile Boolean conditional;

    /** Wraps {@code inner} (closed with this). */
    public GuardedStore(ObjectStore inner, BreakerOptions options) {
        this.inner = inner;
        this.options = options;
        for (LongAdder[] row : counts) {
            Arrays.setAll(row, i -> new LongAdder());
        }
        this.breaker = CircuitBreaker.of(
                inner.url(),
                CircuitBreakerConfig.custom()
                        .slidingWindowType(CircuitBreakerConfig.SlidingWindowType.COUNT_BASED)
                        .slidingWindowSize(options.window())
                        .minimumNumberOfCalls(options.minimumCalls())
                        .failureRateThreshold(options.failureRatePercent())
                        .waitDurationInOpenState(options.openWait())
                        .permittedNumberOfCallsInHalfOpenState(options.halfOpenProbes())
                        .ignoreException(e -> !isFault(e) && !(e instanceof NoSuchObjectException))
                        .recordException(GuardedStore::isFault)
                        .build());
        this.retry = Retry.of(
                inner.url(),
                RetryConfig.custom()
                        .maxAttempts(options.retryAttempts())
                        .intervalFunction(IntervalFunction.ofExponentialRandomBackoff(
                                options.retryInitial(), 2.0, 0.5, options.retryMax()))
                        .retryOnException(GuardedStore::isFault)
                        .build());
        retry.getEventPublisher().onRetry(e -> retries.increment());
        breaker.getEventPublisher().onStateTransition(e -> {
            switch (e.getStateTransition().getToState()) {
                case OPEN, FORCED_OPEN -> {
                    nextProbe = Instant.now().plus(options.openWait());
                    log.warn(
                            "{}: circuit breaker OPEN (failure rate {}% over the last calls); next probe at {}",
                            inner.url(), breaker.getMetrics().getFailureRate(), nextProbe);
                }
                case HALF_OPEN -> log.info("{}: circuit breaker HALF_OPEN, probing", inner.url());
                case CLOSED -> log.info("{}: circuit breaker CLOSED, destination is back", inner.url());
                default -> {}
            }
        });
    }

    // a fault of the destination: worth retrying, and counts against the breaker
    private static boolean isFault(Throwable e) {
        return e instanceof ObjectStoreException o && o.retryable() && !(e instanceof UnavailableException);
    }

    /** The wrapped store. */
    public ObjectStore delegate() {
        return inner;
    }

    /** The settings. */
    public BreakerOptions options() {
        return options;
    }

    /** The breaker's state now. */
    public State state() {
        return switch (breaker.getState()) {
            case OPEN, FORCED_OPEN -> State.OPEN;
            case HALF_OPEN -> State.HALF_OPEN;
            default -> State.CLOSED;
        };
    }

    /** A snapshot of the counters. */
    public Metrics metrics() {
        Map<Request, Map<Outcome, Long>> byType = new EnumMap<>(Request.class);
        for (Request r : Request.values()) {
            Map<Outcome, Long> byOutcome = new EnumMap<>(Outcome.class);
            for (Outcome o : Outcome.values()) {
                byOutcome.put(o, counts[r.ordinal()][o.ordinal()].sum());
            }
            byType.put(r, Collections.unmodifiableMap(byOutcome));
        }
        State state = state();
        return new Metrics(
                inner.url(),
                state,
                breaker.getMetrics().getFailureRate(),
                state == State.OPEN ? nextProbe : null,
                retries.sum(),
                uploaded.sum(),
                downloaded.sum(),
                Collections.unmodifiableMap(byType));
    }

    @Override
    public void put(String name, byte[] data) {
        call(Request.PUT, "put", name, () -> {
            inner.put(name, data);
            return data.length;
        });
        uploaded.add(data.length);
    }

    @Override
    public void put(String name, Path file) {
        long size = call(Request.PUT, "put", name, () -> {
            long s = sizeOf(file);
            inner.put(name, file);
            return s;
        });
        uploaded.add(size);
    }

    private static long sizeOf(Path file) {
        try {
            return Files.size(file);
        } catch (IOException e) {
            return 0; // the store reports the missing file itself
        }
    }

    @Override
    public Optional<byte[]> get(String name) {
        Optional<byte[]> data = call(
                Request.GET, "get", name, () -> inner.get(name), r -> r.isPresent() ? Outcome.OK : Outcome.NOT_FOUND);
        data.ifPresent(d -> downloaded.add(d.length));
        return data;
    }

    @Override
    public InputStream open(String name) {
        return new FilterInputStream(call(Request.GET, "open", name, () -> inner.open(name))) {
            @Override
            public int read() throws IOException {
                int b = super.read();
                if (b >= 0) {
                    downloaded.increment();
                }
                return b;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                int n = super.read(b, off, len);
                if (n > 0) {
                    downloaded.add(n);
                }
                return n;
            }
        };
    }

    @Override
    public byte[] read(String name, long offset, int length) {
        byte[] data = call(Request.GET, "read", name, () -> inner.read(name, offset, length));
        downloaded.add(data.length);
        return data;
    }

    @Override
    public List<ObjectInfo> list(String prefix) {
        return call(Request.LIST, "list", prefix, () -> inner.list(prefix));
    }

    @Override
    public Optional<ObjectInfo> stat(String name) {
        return call(
                Request.HEAD,
                "stat",
                name,
                () -> inner.stat(name),
                r -> r.isPresent() ? Outcome.OK : Outcome.NOT_FOUND);
    }

    @Override
    public void delete(Collection<String> names) {
        if (names.isEmpty()) {
            return;
        }
        call(Request.DELETE, "delete", names.size() == 1 ? names.iterator().next() : null, () -> {
            inner.delete(names);
            return names.size();
        });
    }

    @Override
    public Optional<Versioned> getVersioned(String name) {
        Optional<Versioned> v = call(
                Request.GET,
                "getVersioned",
                name,
                () -> inner.getVersioned(name),
                r -> r.isPresent() ? Outcome.OK : Outcome.NOT_FOUND);
        v.ifPresent(x -> downloaded.add(x.data().length));
        return v;
    }

    @Override
    public boolean putIfAbsent(String name, byte[] data) {
        int[] attempts = {0};
        boolean won = call(
                Request.PUT,
                "putIfAbsent",
                name,
                () -> {
                    attempts[0]++;
                    return inner.putIfAbsent(name, data);
                },
                ok -> ok ? Outcome.OK : Outcome.CONFLICT);
        return settle(name, data, won, attempts[0]);
    }

    @Override
    public boolean putIfMatch(String name, byte[] data, String etag) {
        int[] attempts = {0};
        boolean won = call(
                Request.PUT,
                "putIfMatch",
                name,
                () -> {
                    attempts[0]++;
                    return inner.putIfMatch(name, data, etag);
                },
                ok -> ok ? Outcome.OK : Outcome.CONFLICT);
        return settle(name, data, won, attempts[0]);
    }

    // a conflict after a retry may be our own earlier attempt that succeeded unseen
    private boolean settle(String name, byte[] data, boolean won, int attempts) {
        if (won) {
            uploaded.add(data.length);
            return true;
        }
        if (attempts > 1
                && get(name).map(current -> Arrays.equals(current, data)).orElse(false)) {
            log.info("{}: conditional write of {} was applied by an earlier attempt", inner.url(), name);
            uploaded.add(data.length);
            return true;
        }
        return false;
    }

    @Override
    public boolean conditionalWrites() {
        Boolean known = conditional;
        if (known == null) {
            // may probe the store (S3): guard it like any other call, then remember
            known = call(Request.PUT, "probe", null, inner::conditionalWrites);
            conditional = known;
        }
        return known;
    }

    @Override
    public String url() {
        return inner.url();
    }

    @Override
    public void close() {
        inner.close();
    }

    @Override
    public String toString() {
        return "GuardedStore[" + inner + ", " + state() + "]";
    }

    private <T> T call(Request type, String op, String name, Supplier<T> body) {
        return call(type, op, name, body, r -> Outcome.OK);
    }

    private <T> T call(Request type, String op, String name, Supplier<T> body, Function<T, Outcome> outcomeOf) {
        Throwable[] lastFault = {null};
        Supplier<T> attempt = () -> {
            if (!breaker.tryAcquirePermission()) {
                count(type, Outcome.REJECTED);
                throw unavailable(op, name, lastFault[0]);
            }
            long start = System.nanoTime();
            try {
                T result = body.get();
                breaker.onSuccess(System.nanoTime() - start, TimeUnit.NANOSECONDS);
                count(type, outcomeOf.apply(result));
                return result;
            } catch (Throwable e) {
                breaker.onError(System.nanoTime() - start, TimeUnit.NANOSECONDS, e);
                count(type, outcome(e));
                lastFault[0] = e;
                throw e;
            }
        };
        return retry.executeSupplier(attempt);
    }

    private static Outcome outcome(Throwable e) {
        if (e instanceof NoSuchObjectException) {
            return Outcome.NOT_FOUND;
        }
        return isFault(e) ? Outcome.TRANSIENT_ERROR : Outcome.PERMANENT_ERROR;
    }

    private void count(Request type, Outcome outcome) {
        counts[type.ordinal()][outcome.ordinal()].increment();
    }

    // cause: the failure of this call's earlier attempt, if that is what opened the breaker
    private UnavailableException unavailable(String op, String name, Throwable cause) {
        State s = state();
        Instant at = s == State.OPEN ? nextProbe : Instant.now();
        return new UnavailableException(
                inner.url(),
                op,
                name,
                at,
                "circuit breaker " + s + " after repeated failures (failure rate "
                        + breaker.getMetrics().getFailureRate() + "%), call refused without contacting the store",
                cause);
    }
}
