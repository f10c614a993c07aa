package dev.caskade.cli;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * How a {@link Webhook} delivers: where to, what, where it keeps its position, and how it treats a receiver that
 * fails. A validated record: start from {@link #of(URI, String, Path)} and change what you need.
 *
 * @param postTo the receiver: every commit is one {@code POST} there
 * @param prefix the keys whose commits are delivered ("" = all)
 * @param from where to start when the state directory holds no position yet (null: the source's revision now)
 * @param state the directory of the durable position ({@code position.json}) and its lock
 * @param headers extra request headers ({@code Name: value}), e.g. the receiver's credentials
 * @param requestTimeout how long one POST may take, connect included; past it the attempt failed
 * @param backoffInitial the wait after the first failed attempt, doubled per failure up to {@code backoffMax}, +-50 %
 *     jitter; also how often a parked commit is offered again ({@code backoffMax})
 * @param window the circuit breaker's window: the last this many attempts
 * @param failureRatePercent the breaker opens when this share of the window failed
 * @param minimumCalls ... once at least this many attempts were made
 * @param openWait while open, no request is sent at all, for this long; then one probe decides
 * @param onRefusal what a permanent refusal (a 4xx other than 408 and 429, a 3xx) does: {@code PARK} holds the commit
 *     and offers it again every {@code backoffMax}, {@code SKIP} moves on; either way an ERROR is logged and counted
 * @param idleTimeout a server stream that brings nothing (not even the 15 s keep-alive) this long is reopened
 */
record WebhookOptions(
        URI postTo,
        String prefix,
        Long from,
        Path state,
        List<String> headers,
        Duration requestTimeout,
        Duration backoffInitial,
        Duration backoffMax,
        int window,
        int failureRatePercent,
        int minimumCalls,
        Duration openWait,
        OnRefusal onRefusal,
        Duration idleTimeout) {

    /** What a permanent refusal of a commit does. */
    enum OnRefusal {
        PARK,
        SKIP;

        static OnRefusal parse(String s) {
            try {
                return valueOf(s.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("on-refusal must be park or skip: " + s);
            }
        }
    }

    WebhookOptions {
        Objects.requireNonNull(postTo, "postTo");
        Objects.requireNonNull(prefix, "prefix");
        Objects.requireNonNull(state, "state");
        Objects.requireNonNull(onRefusal, "onRefusal");
        headers = List.copyOf(headers);
        String scheme = postTo.getScheme();
        if (!"http".equalsIgnoreCase(scheme) && !"https".equalsIgnoreCase(scheme) || postTo.getHost() == null)
            throw new IllegalArgumentException("the receiver must be an http:// or https:// URL: " + postTo);
        if (from != null && from < 0) throw new IllegalArgumentException("from must be >= 0: " + from);
        for (String h : headers) {
            int colon = h.indexOf(':');
            if (colon <= 0 || h.substring(0, colon).isBlank())
                throw new IllegalArgumentException("a header is NAME: VALUE: " + h);
        }
        positive(requestTimeout, "requestTimeout");
        positive(backoffInitial, "backoffInitial");
        positive(backoffMax, "backoffMax");
        positive(openWait, "openWait");
        positive(idleTimeout, "idleTimeout");
        if (backoffMax.compareTo(backoffInitial) < 0)
            throw new IllegalArgumentException("backoffMax must be >= backoffInitial");
        if (window < 1) throw new IllegalArgumentException("window must be >= 1: " + window);
        if (failureRatePercent < 1 || failureRatePercent > 100)
            throw new IllegalArgumentException("failureRatePercent must be in [1, 100]: " + failureRatePercent);
        if (minimumCalls < 1) throw new IllegalArgumentException("minimumCalls must be >= 1: " + minimumCalls);
    }

    /**
     * 10 s per request, backoff 200 ms doubling to 30 s, a breaker that opens when half of the last 10 attempts (at
     * least 5) failed and then waits 30 s, refusals parked, a stream silent for 45 s reopened.
     */
    static WebhookOptions of(URI postTo, String prefix, Path state) {
        return new WebhookOptions(
                postTo,
                prefix,
                null,
                state,
                List.of(),
                Duration.ofSeconds(10),
                Duration.ofMillis(200),
                Duration.ofSeconds(30),
                10,
                50,
                5,
                Duration.ofSeconds(30),
                OnRefusal.PARK,
                Duration.ofSeconds(45));
    }

    WebhookOptions withFrom(Long value) {
        return new WebhookOptions(
                postTo,
                prefix,
                value,
                state,
                headers,
                requestTimeout,
                backoffInitial,
                backoffMax,
                window,
                failureRatePercent,
                minimumCalls,
                openWait,
                onRefusal,
                idleTimeout);
    }

    WebhookOptions withHeaders(List<String> value) {
        return new WebhookOptions(
                postTo,
                prefix,
                from,
                state,
                value,
                requestTimeout,
                backoffInitial,
                backoffMax,
                window,
                failureRatePercent,
                minimumCalls,
                openWait,
                onRefusal,
                idleTimeout);
    }

    WebhookOptions withRequestTimeout(Duration value) {
        return new WebhookOptions(
                postTo,
                prefix,
                from,
                state,
                headers,
                value,
                backoffInitial,
                backoffMax,
                window,
                failureRatePercent,
                minimumCalls,
                openWait,
                onRefusal,
                idleTimeout);
    }

    WebhookOptions withBackoff(Duration initial, Duration max) {
        return new WebhookOptions(
                postTo,
                prefix,
                from,
                state,
                headers,
                requestTimeout,
                initial,
                max,
                window,
                failureRatePercent,
                minimumCalls,
                openWait,
                onRefusal,
                idleTimeout);
    }

    WebhookOptions withBreaker(int windowSize, int failureRate, int minimum, Duration wait) {
        return new WebhookOptions(
                postTo,
                prefix,
                from,
                state,
                headers,
                requestTimeout,
                backoffInitial,
                backoffMax,
                windowSize,
                failureRate,
                minimum,
                wait,
                onRefusal,
                idleTimeout);
    }

    WebhookOptions withOnRefusal(OnRefusal value) {
        return new WebhookOptions(
                postTo,
                prefix,
                from,
                state,
                headers,
                requestTimeout,
                backoffInitial,
                backoffMax,
                window,
                failureRatePercent,
                minimumCalls,
                openWait,
                value,
                idleTimeout);
    }

    private static void positive(Duration d, String name) {
        Objects.requireNonNull(d, name);
        if (d.isNegative() || d.isZero()) throw new IllegalArgumentException(name + " must be positive: " + d);
    }
}
