package dev.caskade.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.caskade.UnavailableException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Redis stops for a few seconds under load on two nodes, one rejecting writes meanwhile and one queueing them, then
 * starts again on the same port from its append-only file: reads keep working, each node's writes follow its policy,
 * and both converge afterwards with every acknowledged write in place.
 */
@Timeout(90)
class ClusterOutageTest {
    static final Duration WAIT = Duration.ofSeconds(30);
    static final long OUTAGE_SECONDS = Long.getLong("caskade.cluster.outageSeconds", 10);

    @TempDir
    Path tmp;

    /** What one node's writer saw: key -> the put's result ("ok", "queued", "rejected", "unknown"). */
    static final class Writer implements Runnable {
        final ClusterNode node;
        final String prefix;
        final ConcurrentHashMap<String, String> outcome = new ConcurrentHashMap<>();
        final AtomicBoolean stop = new AtomicBoolean();
        final AtomicReference<Throwable> failure = new AtomicReference<>();
        final List<Long> rejectNanos = java.util.Collections.synchronizedList(new ArrayList<>());

        Writer(ClusterNode node, String prefix) {
            this.node = node;
            this.prefix = prefix;
        }

        @Override
        public void run() {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(40);
            try {
                for (int i = 0; !stop.get() && System.nanoTime() < deadline; i++) {
                    String k = prefix + i;
                    long t0 = System.nanoTime();
                    try {
                        long rev = node.store().put(k, "v" + i);
                        outcome.put(k, rev > 0 ? "ok" : "queued");
                    } catch (UnavailableException e) {
                        rejectNanos.add(System.nanoTime() - t0);
                        outcome.put(k, e.getMessage().startsWith("nothing was written") ? "rejected" : "unknown");
                    }
                    Thread.sleep(2);
                }
            } catch (Throwable t) {
                failure.set(t);
            }
        }
    }

    @Test
    void readsWorkWritesFollowThePolicyAndNodesConvergeAfterAnOutage() throws Exception {
        try (RedisProcess redis = RedisProcess.start(tmp.resolve("redis"))) {
            ClusterOptions options = ClusterOptions.parse(redis.url("outage"))
                    .withRedisTimeout(Duration.ofMillis(500))
                    .withBreaker(10, 5, 50, Duration.ofMillis(500));
            try (ClusterNode a = ClusterNode.open(tmp.resolve("a"), options.withNodeId("a"));
                    ClusterNode b = ClusterNode.open(
                            tmp.resolve("b"),
                            options.withNodeId("b").withWhenBusDown(ClusterOptions.WhenBusDown.QUEUE))) {
                long seen = a.store().put("known", "here");
                assertThat(b.awaitRevision(seen, WAIT)).isTrue();
                Writer wa = new Writer(a, "a/");
                Writer wb = new Writer(b, "b/");
                Thread ta = Thread.ofPlatform().start(wa);
                Thread tb = Thread.ofPlatform().start(wb);
                Thread.sleep(500);

                redis.stop();
                long downAt = System.nanoTime();
                Thread.sleep(1500); // the breaker opens
                assertThat(a.status().state()).isEqualTo("reconnecting");
                assertThat(a.status().breaker()).isIn("OPEN", "HALF_OPEN");
                // the outage: 10 s (-Dcaskade.cluster.outageSeconds shortens it for a local run)
                while (System.nanoTime() - downAt < TimeUnit.SECONDS.toNanos(OUTAGE_SECONDS)) {
                    // reads are local
                    assertThat(a.store().get("known").orElseThrow().valueString())
                            .isEqualTo("here");
                    assertThat(b.store().get("known").orElseThrow().valueString())
                            .isEqualTo("here");
                    Thread.sleep(50);
                }
                // REJECT: fails at once, saying nothing was written; QUEUE: returns at once, queued
                long t0 = System.nanoTime();
                assertThatThrownBy(() -> a.store().put("during", "x"))
                        .isInstanceOf(UnavailableException.class)
                        .hasMessageContaining("nothing was written")
                        .hasMessageContaining(redis.url("outage").substring("redis://".length()));
                assertThat(System.nanoTime() - t0).isLessThan(TimeUnit.MILLISECONDS.toNanos(700));
                assertThat(b.store().put("queued", "q")).isZero();
                assertThat(b.status().queuedWrites()).isPositive();
                // a write with a precondition is never queued
                assertThatThrownBy(() -> b.store().compareAndSet("known", seen, "cas"))
                        .isInstanceOf(UnavailableException.class);

                redis.start();
                Thread.sleep(1500);
                wa.stop.set(true);
                wb.stop.set(true);
                ta.join(20_000);
                tb.join(20_000);
                assertThat(wa.failure.get()).isNull();
                assertThat(wb.failure.get()).isNull();

                long deadline = System.nanoTime() + WAIT.toNanos();
                while (b.status().queuedWrites() > 0 && System.nanoTime() < deadline) Thread.sleep(20);
                assertThat(b.status().queuedWrites())
                        .as("b's queue drains: %s", b.status())
                        .isZero();
                long head = Math.max(a.revision(), b.revision());
                Thread.sleep(300);
                head = Math.max(head, Math.max(a.revision(), b.revision()));
                assertThat(a.awaitRevision(head, WAIT)).as("a: %s", a.status()).isTrue();
                assertThat(b.awaitRevision(head, WAIT)).as("b: %s", b.status()).isTrue();
                assertThat(a.store().digest(new byte[0])).isEqualTo(b.store().digest(new byte[0]));
                assertThat(a.status().state()).isEqualTo("live");

                // every acknowledged or queued write is there; every rejected one is not
                assertThat(wa.outcome).containsValue("rejected");
                assertThat(wb.outcome).containsValue("queued");
                for (Writer w : List.of(wa, wb)) {
                    w.outcome.forEach((k, v) -> {
                        switch (v) {
                            case "ok", "queued" ->
                                assertThat(a.store().get(k)).as("%s (%s)", k, v).isPresent();
                            case "rejected" ->
                                assertThat(a.store().get(k)).as("%s (%s)", k, v).isEmpty();
                            default -> {} // the outcome of a write cut by the crash is unknown
                        }
                    });
                }
                assertThat(b.store().get("queued").orElseThrow().valueString()).isEqualTo("q");
                assertThat(a.store().get("during")).isEmpty();
                long slow = wa.rejectNanos.stream()
                        .filter(n -> n > TimeUnit.MILLISECONDS.toNanos(700))
                        .count();
                System.out.println("ClusterOutageTest: a " + wa.outcome.size() + " writes ("
                        + wa.outcome.values().stream()
                                .filter("rejected"::equals)
                                .count() + " rejected, " + slow
                        + " slower than 700 ms), b " + wb.outcome.size() + " writes ("
                        + wb.outcome.values().stream().filter("queued"::equals).count() + " queued); revision " + head);
            }
        }
    }
}
