package dev.caskade.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@code Idempotency-Key} on the write routes: a repeat answers the first reply and commits nothing. */
@Timeout(30)
class HttpIdempotencyTest {
    @TempDir
    Path tmp;

    private static HttpRequest.Builder keyed(HttpFixture f, String path, String key) {
        return HttpRequest.newBuilder(f.uri(path)).header(HttpIdempotency.HEADER, key);
    }

    @Test
    void aRepeatedPutDeleteOrTxnAnswersTheFirstReplyWithoutCommittingAgain() {
        try (HttpFixture f = new HttpFixture(tmp)) {
            HttpResponse<byte[]> first =
                    f.send(keyed(f, "/v1/kv/a", "k-1").PUT(HttpRequest.BodyPublishers.ofString("one")));
            assertThat(first.statusCode()).isEqualTo(200);
            assertThat(first.headers().firstValue(HttpIdempotency.REPLAYED)).isEmpty();
            long rev = HttpFixture.json(first).get("revision").asLong();
            HttpResponse<byte[]> again =
                    f.send(keyed(f, "/v1/kv/a", "k-1").PUT(HttpRequest.BodyPublishers.ofString("one")));
            assertThat(again.statusCode()).isEqualTo(200);
            assertThat(again.headers().firstValue(HttpIdempotency.REPLAYED)).contains("true");
            assertThat(HttpFixture.text(again)).isEqualTo(HttpFixture.text(first));
            assertThat(f.db.revision()).as("nothing committed by the repeat").isEqualTo(rev);

            // the same key for another request: refused, nothing written
            HttpResponse<byte[]> other =
                    f.send(keyed(f, "/v1/kv/a", "k-1").PUT(HttpRequest.BodyPublishers.ofString("two")));
            assertThat(other.statusCode()).isEqualTo(422);
            assertThat(HttpFixture.text(other)).contains("different request");
            assertThat(f.db.get("a").orElseThrow().valueString()).isEqualTo("one");

            // a failed condition is a final answer too: the repeat gets the 412, even once the condition would hold
            HttpResponse<byte[]> lost = f.send(keyed(f, "/v1/kv/a", "k-2")
                    .header("If-None-Match", "*")
                    .PUT(HttpRequest.BodyPublishers.ofString("x")));
            assertThat(lost.statusCode()).isEqualTo(412);
            f.db.delete("a");
            long afterDelete = f.db.revision();
            HttpResponse<byte[]> lostAgain = f.send(keyed(f, "/v1/kv/a", "k-2")
                    .header("If-None-Match", "*")
                    .PUT(HttpRequest.BodyPublishers.ofString("x")));
            assertThat(lostAgain.statusCode()).isEqualTo(412);
            assertThat(lostAgain.headers().firstValue(HttpIdempotency.REPLAYED)).contains("true");
            assertThat(f.db.revision()).isEqualTo(afterDelete);

            f.db.put("d", "x");
            HttpResponse<byte[]> del = f.send(keyed(f, "/v1/kv/d", "k-3").DELETE());
            assertThat(del.statusCode()).isEqualTo(200);
            long delRev = f.db.revision();
            f.db.put("d", "back"); // a second real delete would take it away
            HttpResponse<byte[]> delAgain = f.send(keyed(f, "/v1/kv/d", "k-3").DELETE());
            assertThat(delAgain.statusCode()).isEqualTo(200);
            assertThat(HttpFixture.json(delAgain).get("revision").asLong()).isEqualTo(delRev);
            assertThat(f.db.get("d").orElseThrow().valueString()).isEqualTo("back");

            String txn = "{\"compare\":[],\"success\":[{\"op\":\"put\",\"key\":\"t\",\"value\":\"1\"}]}";
            HttpResponse<byte[]> t1 = f.send(keyed(f, "/v1/txn", "k-4")
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(txn)));
            long before = f.db.revision();
            HttpResponse<byte[]> t2 = f.send(keyed(f, "/v1/txn", "k-4")
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(txn)));
            assertThat(t2.statusCode()).isEqualTo(200);
            assertThat(HttpFixture.text(t2)).isEqualTo(HttpFixture.text(t1));
            assertThat(f.db.revision()).isEqualTo(before);

            // different keys are different writes
            f.send(keyed(f, "/v1/kv/a", "k-5").PUT(HttpRequest.BodyPublishers.ofString("one")));
            f.send(keyed(f, "/v1/kv/a", "k-6").PUT(HttpRequest.BodyPublishers.ofString("one")));
            assertThat(f.db.revision()).isEqualTo(before + 2);
        }
    }

    @Test
    void concurrentDuplicatesCommitOnce() throws Exception {
        int threads = 8;
        try (HttpFixture f = new HttpFixture(tmp);
                ExecutorService pool = Executors.newFixedThreadPool(threads)) {
            for (int round = 0; round < 5; round++) {
                String key = "dup-" + round;
                long before = f.db.revision();
                CountDownLatch go = new CountDownLatch(1);
                List<Future<HttpResponse<byte[]>>> replies = new ArrayList<>();
                for (int i = 0; i < threads; i++)
                    replies.add(pool.submit(() -> {
                        go.await();
                        return f.send(keyed(f, "/v1/kv/c", key).PUT(HttpRequest.BodyPublishers.ofString("v")));
                    }));
                go.countDown();
                AtomicInteger fresh = new AtomicInteger();
                for (Future<HttpResponse<byte[]>> r : replies) {
                    HttpResponse<byte[]> answer = r.get(10, TimeUnit.SECONDS);
                    assertThat(answer.statusCode()).isEqualTo(200);
                    assertThat(HttpFixture.json(answer).get("revision").asLong())
                            .isEqualTo(before + 1);
                    if (answer.headers().firstValue(HttpIdempotency.REPLAYED).isEmpty()) fresh.incrementAndGet();
                }
                assertThat(fresh.get()).as("round %d: one request ran", round).isEqualTo(1);
                assertThat(f.db.revision()).as("round %d: one commit", round).isEqualTo(before + 1);
            }
        }
    }

    @Test
    void aBadKeyIsRefusedAndNothingIsWritten() {
        try (HttpFixture f = new HttpFixture(tmp)) {
            for (String bad : new String[] {"has space", "x".repeat(HttpIdempotency.MAX_KEY_LENGTH + 1), "tab\tkey"}) {
                HttpResponse<byte[]> r;
                try {
                    r = f.send(keyed(f, "/v1/kv/b", bad).PUT(HttpRequest.BodyPublishers.ofString("v")));
                } catch (IllegalArgumentException clientRefused) {
                    continue; // the JDK client refuses some header values itself
                }
                assertThat(r.statusCode()).as("key %s", bad).isEqualTo(400);
                assertThat(HttpFixture.text(r)).contains(HttpIdempotency.HEADER);
            }
            HttpResponse<byte[]> r = f.send(keyed(f, "/v1/kv/b", "has space").DELETE());
            assertThat(r.statusCode()).isEqualTo(400);
            assertThat(f.db.revision()).isZero();
            // reads ignore the header
            assertThat(f.send(keyed(f, "/v1/kv/b", "has space").GET()).statusCode())
                    .isEqualTo(404);
        }
    }

    @Test
    void theTableForgetsTheEldestPastItsCapacityAndEveryKeyPastItsWindow() {
        AtomicLong now = new AtomicLong(1_000);
        HttpIdempotency table = new HttpIdempotency(3, 10_000, now::get);
        AtomicInteger runs = new AtomicInteger();
        HttpCall call = new HttpCall(
                HttpMethod.PUT,
                "/v1/kv/k",
                HttpQuery.parse(""),
                new DefaultHttpHeaders(),
                "v".getBytes(StandardCharsets.UTF_8));
        java.util.function.Function<String, HttpReply.Full> send = key -> table.run("u", key, call, () -> {
            runs.incrementAndGet();
            return new HttpReply.Full(HttpResponseStatus.OK, "application/json", new byte[0], Map.of());
        });
        for (String k : List.of("a", "b", "c")) send.apply(k);
        assertThat(runs.get()).isEqualTo(3);
        send.apply("a");
        assertThat(runs.get()).as("remembered").isEqualTo(3);
        send.apply("d"); // evicts the eldest, a
        assertThat(table.size()).isEqualTo(3);
        send.apply("b");
        assertThat(runs.get()).as("b is still remembered").isEqualTo(4);
        send.apply("a");
        assertThat(runs.get()).as("a was evicted: it runs again").isEqualTo(5);
        // another user's key of the same name is another key
        table.run("v", "a", call, () -> {
            runs.incrementAndGet();
            return new HttpReply.Full(HttpResponseStatus.OK, "application/json", new byte[0], Map.of());
        });
        assertThat(runs.get()).isEqualTo(6);

        now.addAndGet(10_000); // the window has passed for all
        send.apply("a");
        assertThat(runs.get()).isEqualTo(7);
        assertThat(table.size()).isEqualTo(1);

        // a 5xx is not remembered: the retry runs
        AtomicInteger failing = new AtomicInteger();
        for (int i = 0; i < 2; i++)
            table.run("u", "e", call, () -> {
                failing.incrementAndGet();
                return new HttpReply.Full(
                        HttpResponseStatus.SERVICE_UNAVAILABLE, "application/json", new byte[0], Map.of());
            });
        assertThat(failing.get()).isEqualTo(2);
    }
}
