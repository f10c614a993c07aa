package dev.caskade.server;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * The remembered replies of writes sent with an {@code Idempotency-Key} header: the first request with a key (per
 * user) runs and its reply is kept; a repeat gets that reply again, marked {@code Idempotent-Replayed: true}, without
 * running. A duplicate that arrives while the first is still running waits for its reply, so the two never both
 * commit. In memory only (a restart forgets), bounded in count and age, oldest evicted first.
 */
final class HttpIdempotency {
    static final String HEADER = "Idempotency-Key";
    static final String REPLAYED = "Idempotent-Replayed";
    static final int MAX_KEY_LENGTH = 255;

    /** One key of one user. */
    private record Id(String user, String key) {}

    /** A key's request (its fingerprint) and the reply, once there is one. */
    private record Slot(byte[] fingerprint, long createdAt, CompletableFuture<HttpReply.Full> reply) {}

    private final int capacity;
    private final long windowMillis;
    private final LongSupplier clock;
    /** In insertion order, so the eldest is the first to go. */
    private final LinkedHashMap<Id, Slot> slots = new LinkedHashMap<>();

    HttpIdempotency(int capacity, long windowMillis, LongSupplier clock) {
        if (capacity < 1) throw new IllegalArgumentException("capacity must be >= 1: " + capacity);
        if (windowMillis < 1) throw new IllegalArgumentException("window must be positive: " + windowMillis);
        this.capacity = capacity;
        this.windowMillis = windowMillis;
        this.clock = clock;
    }

    /** 100,000 keys, each remembered for 24 hours. */
    static HttpIdempotency defaults() {
        return new HttpIdempotency(100_000, 24L * 3600 * 1000, System::currentTimeMillis);
    }

    /**
     * The header's key, or null without one; a key that is empty, longer than {@value #MAX_KEY_LENGTH} or holds
     * anything but printable ASCII (no space) is refused with 400 before anything runs.
     */
    static String key(HttpCall call) {
        String key = call.headers().get(HEADER);
        if (key == null) return null;
        if (key.isEmpty() || key.length() > MAX_KEY_LENGTH)
            throw HttpFailure.badRequest(HEADER + " must be 1 to " + MAX_KEY_LENGTH + " characters long");
        for (int i = 0; i < key.length(); i++) {
            char c = key.charAt(i);
            if (c <= ' ' || c >= 0x7f)
                throw HttpFailure.badRequest(
                        HEADER + " must be printable ASCII without spaces (character " + (i + 1) + " is not)");
        }
        return key;
    }

    /**
     * Runs {@code write} once per ({@code user}, {@code key}) and answers every repeat with its reply. A reply of
     * 5xx is not kept (the write did not happen or its fate is unknown; a retry should run it). A repeat whose
     * method, path, query or body differ is refused with 422: the key was reused for another request.
     */
    HttpReply.Full run(String user, String key, HttpCall call, Supplier<HttpReply.Full> write) {
        Id id = new Id(user, key);
        byte[] fingerprint = fingerprint(call);
        CompletableFuture<HttpReply.Full> mine = new CompletableFuture<>();
        Slot slot;
        synchronized (slots) {
            long now = clock.getAsLong();
            evict(now, 0);
            slot = slots.get(id);
            if (slot == null) {
                evict(now, 1); // room for this one
                slots.put(id, new Slot(fingerprint, now, mine));
            }
        }
        if (slot != null) {
            if (!Arrays.equals(slot.fingerprint(), fingerprint))
                throw new HttpFailure(
                        422, HEADER + " '" + key + "' was already used for a different request; use a new key");
            return replayed(await(slot.reply()));
        }
        HttpReply.Full reply;
        try {
            reply = write.get();
        } catch (RuntimeException | Error e) {
            forget(id, mine);
            mine.completeExceptionally(e);
            throw e;
        }
        if (reply.status().code() >= 500) forget(id, mine);
        mine.complete(reply);
        return reply;
    }

    /** How many keys are remembered (running or done). */
    int size() {
        synchronized (slots) {
            return slots.size();
        }
    }

    /** Drops slots older than the window and the eldest finished ones until {@code room} more fit. */
    private void evict(long now, int room) {
        Iterator<Slot> it = slots.values().iterator();
        while (it.hasNext()) {
            Slot s = it.next();
            boolean old = now - s.createdAt() >= windowMillis;
            boolean over = slots.size() + room > capacity;
            if (!old && !over) break;
            if (!s.reply().isDone()) break; // still running: its duplicates must keep finding it
            it.remove();
        }
    }

    private void forget(Id id, CompletableFuture<HttpReply.Full> mine) {
        synchronized (slots) {
            Slot s = slots.get(id);
            if (s != null && s.reply() == mine) slots.remove(id);
        }
    }

    private static HttpReply.Full await(CompletableFuture<HttpReply.Full> reply) {
        try {
            return reply.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HttpFailure(503, "interrupted while waiting for the first request with this " + HEADER);
        } catch (ExecutionException e) {
            throw new HttpFailure(
                    503,
                    "the first request with this " + HEADER + " failed: "
                            + e.getCause().getMessage());
        }
    }

    private static HttpReply.Full replayed(HttpReply.Full reply) {
        Map<String, String> headers = new HashMap<>(reply.headers());
        headers.put(REPLAYED, "true");
        return new HttpReply.Full(reply.status(), reply.contentType(), reply.body(), headers);
    }

    /** SHA-256 of what the request asks for, so that a key reused for something else is noticed. */
    private static byte[] fingerprint(HttpCall call) {
        try {
            MessageDigest d = MessageDigest.getInstance("SHA-256");
            d.update(call.method().name().getBytes(StandardCharsets.UTF_8));
            d.update((byte) 0);
            d.update(call.path().getBytes(StandardCharsets.UTF_8));
            d.update((byte) 0);
            for (String h : new String[] {"If-Match", "If-None-Match"}) {
                String v = call.headers().get(h);
                d.update((v == null ? "" : v).getBytes(StandardCharsets.UTF_8));
                d.update((byte) 0);
            }
            for (Map.Entry<String, byte[]> p : new TreeMap<>(call.query().params()).entrySet()) {
                d.update(p.getKey().getBytes(StandardCharsets.UTF_8));
                d.update((byte) 0);
                d.update(p.getValue());
                d.update((byte) 0);
            }
            d.update(call.body());
            return d.digest();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
    }
}
