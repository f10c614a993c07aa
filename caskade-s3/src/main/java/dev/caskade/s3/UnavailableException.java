package dev.caskade.s3;

import java.time.Duration;
import java.time.Instant;

/**
 * The destination's circuit breaker is open (or its half-open probes are all in flight): the call was refused
 * without touching the network. {@link #nextProbe()} says when a call will next be let through. Retryable, but
 * only later: {@link GuardedStore} does not retry it itself.
 */
public class UnavailableException extends ObjectStoreException {
    private static final long serialVersionUID = 1L;

    private final Instant nextProbe;

    /**
     * @param nextProbe when the breaker lets a probe through (now or in the past when probes are already running)
     */
    public UnavailableException(String url, String operation, String object, Instant nextProbe, String detail) {
        this(url, operation, object, nextProbe, detail, null);
    }

    /**
     * @param cause the failure of an earlier attempt of the same call, which opened the breaker (or null)
     */
    public UnavailableException(
            String url, String operation, String object, Instant nextProbe, String detail, Throwable cause) {
        super(url, operation, object, 0, true, detail + probe(nextProbe), cause);
        this.nextProbe = nextProbe;
    }

    private static String probe(Instant at) {
        long ms = Duration.between(Instant.now(), at).toMillis();
        return ms > 0 ? "; next probe at " + at + " (in " + ms + " ms)" : "; probes are in flight, try again shortly";
    }

    /** When the breaker next lets a call through. */
    public Instant nextProbe() {
        return nextProbe;
    }
}
