package dev.caskade.s3;

import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.Locale;
import java.util.Objects;

/**
 * The retry and circuit breaker around every call to one destination ({@link GuardedStore}).
 *
 * @param window the breaker judges the failure rate over the last this many calls
 * @param failureRatePercent the breaker opens when at least this share of the window failed (0 < x <= 100)
 * @param minimumCalls no judgement before this many calls were recorded (1 .. window)
 * @param openWait how long an open breaker refuses calls before letting probes through
 * @param halfOpenProbes how many probe calls a half-open breaker lets through; their failure rate decides
 * @param retryAttempts attempts per call, the first included (1 = no retry)
 * @param retryInitial the wait before the first retry; each next one doubles, with +-50 % jitter
 * @param retryMax the longest wait between attempts
 */
public record BreakerOptions(
        int window,
        float failureRatePercent,
        int minimumCalls,
        Duration openWait,
        int halfOpenProbes,
        int retryAttempts,
        Duration retryInitial,
        Duration retryMax) {

    /** The keys {@link #parse} understands, for messages and help texts. */
    public static final String KEYS =
            "window, failure-rate, minimum-calls, open-wait, probes, attempts, backoff, max-backoff";

    public BreakerOptions {
        if (window < 1) {
            throw new IllegalArgumentException("breaker window must be >= 1, got " + window);
        }
        if (!(failureRatePercent > 0 && failureRatePercent <= 100)) {
            throw new IllegalArgumentException(
                    "breaker failure rate must be within (0, 100] percent, got " + failureRatePercent);
        }
        if (minimumCalls < 1 || minimumCalls > window) {
            throw new IllegalArgumentException(
                    "breaker minimum calls must be within 1 .. window (" + window + "), got " + minimumCalls);
        }
        positive("breaker open wait", openWait);
        if (halfOpenProbes < 1) {
            throw new IllegalArgumentException("breaker probes must be >= 1, got " + halfOpenProbes);
        }
        if (retryAttempts < 1 || retryAttempts > 100) {
            throw new IllegalArgumentException("retry attempts must be within 1 .. 100, got " + retryAttempts);
        }
        positive("retry backoff", retryInitial);
        positive("retry max backoff", retryMax);
        if (retryMax.compareTo(retryInitial) < 0) {
            throw new IllegalArgumentException(
                    "retry max backoff (" + retryMax + ") is below the initial backoff (" + retryInitial + ")");
        }
    }

    private static void positive(String what, Duration d) {
        Objects.requireNonNull(d, what);
        if (d.isNegative() || d.isZero()) {
            throw new IllegalArgumentException(what + " must be > 0, got " + d);
        }
    }

    /** Window 20 calls, 50 %, at least 5 calls, open 10 s, 2 probes; 3 attempts from 200 ms up to 5 s. */
    public static BreakerOptions defaults() {
        return new BreakerOptions(
                20, 50f, 5, Duration.ofSeconds(10), 2, 3, Duration.ofMillis(200), Duration.ofSeconds(5));
    }

    /** Another breaker; the retry settings stay. */
    public BreakerOptions withBreaker(
            int window, float failureRatePercent, int minimumCalls, Duration openWait, int halfOpenProbes) {
        return new BreakerOptions(
                window,
                failureRatePercent,
                minimumCalls,
                openWait,
                halfOpenProbes,
                retryAttempts,
                retryInitial,
                retryMax);
    }

    /** Another retry; the breaker settings stay. */
    public BreakerOptions withRetry(int attempts, Duration initial, Duration max) {
        return new BreakerOptions(
                window, failureRatePercent, minimumCalls, openWait, halfOpenProbes, attempts, initial, max);
    }

    /**
     * Parses {@code key=value} pairs separated by commas over {@link #defaults()}, for command-line flags, e.g.
     * {@code "window=50,failure-rate=25,open-wait=30s,attempts=5,backoff=100ms"}. Keys: {@value #KEYS}. Durations:
     * {@code 250ms}, {@code 10s}, {@code 2m}, {@code 1h} or ISO-8601 ({@code PT10S}); the failure rate may end with
     * '%'. An empty string gives the defaults.
     *
     * @throws IllegalArgumentException naming the bad pair
     */
    public static BreakerOptions parse(String spec) {
        BreakerOptions d = defaults();
        if (spec == null || spec.isBlank()) {
            return d;
        }
        // every pair first, then one check: "window=2,minimum-calls=2" must not fail on the default minimum of 5
        int window = d.window;
        float failureRate = d.failureRatePercent;
        int minimumCalls = d.minimumCalls;
        Duration openWait = d.openWait;
        int probes = d.halfOpenProbes;
        int attempts = d.retryAttempts;
        Duration backoff = d.retryInitial;
        Duration maxBackoff = d.retryMax;
        for (String pair : spec.split(",")) {
            int eq = pair.indexOf('=');
            if (eq < 0) {
                throw new IllegalArgumentException("expected key=value in breaker options, got '" + pair.strip() + "'");
            }
            String key = pair.substring(0, eq).strip().toLowerCase(Locale.ROOT);
            String value = pair.substring(eq + 1).strip();
            try {
                switch (key) {
                    case "window" -> window = Integer.parseInt(value);
                    case "failure-rate" ->
                        failureRate =
                                Float.parseFloat(value.endsWith("%") ? value.substring(0, value.length() - 1) : value);
                    case "minimum-calls" -> minimumCalls = Integer.parseInt(value);
                    case "open-wait" -> openWait = duration(value);
                    case "probes" -> probes = Integer.parseInt(value);
                    case "attempts" -> attempts = Integer.parseInt(value);
                    case "backoff" -> backoff = duration(value);
                    case "max-backoff" -> maxBackoff = duration(value);
                    default ->
                        throw new IllegalArgumentException(
                                "unknown breaker option '" + key + "' (known: " + KEYS + ")");
                }
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("bad number in breaker option '" + pair.strip() + "'", e);
            }
        }
        return new BreakerOptions(window, failureRate, minimumCalls, openWait, probes, attempts, backoff, maxBackoff);
    }

    /** Parses {@code 250ms}, {@code 10s}, {@code 2m}, {@code 1h}, {@code 1d} or an ISO-8601 duration. */
    public static Duration duration(String text) {
        String t = text.strip().toLowerCase(Locale.ROOT);
        try {
            if (t.startsWith("p")) {
                return Duration.parse(t.toUpperCase(Locale.ROOT));
            }
            if (t.endsWith("ms")) {
                return Duration.ofMillis(Long.parseLong(t.substring(0, t.length() - 2)));
            }
            long n = Long.parseLong(t.substring(0, t.length() - 1));
            return switch (t.charAt(t.length() - 1)) {
                case 's' -> Duration.ofSeconds(n);
                case 'm' -> Duration.ofMinutes(n);
                case 'h' -> Duration.ofHours(n);
                case 'd' -> Duration.ofDays(n);
                default -> throw new IllegalArgumentException("bad duration '" + text + "' (e.g. 250ms, 10s, 2m)");
            };
        } catch (NumberFormatException | DateTimeParseException | StringIndexOutOfBoundsException e) {
            throw new IllegalArgumentException("bad duration '" + text + "' (e.g. 250ms, 10s, 2m)", e);
        }
    }

    @Override
    public String toString() {
        return "window=" + window + ",failure-rate=" + failureRatePercent + "%,minimum-calls=" + minimumCalls
                + ",open-wait=" + openWait.toMillis() + "ms,probes=" + halfOpenProbes + ",attempts=" + retryAttempts
                + ",backoff=" + retryInitial.toMillis() + "ms,max-backoff=" + retryMax.toMillis() + "ms";
    }
}
