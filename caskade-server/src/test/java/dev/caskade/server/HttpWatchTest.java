package dev.caskade.server;

import static dev.caskade.server.HttpFixture.json;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.caskade.CaskadeOptions;
import dev.caskade.Durability;
import dev.caskade.server.HttpFixture.SseClient;
import dev.caskade.server.HttpFixture.SseEvent;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;

/** {@code GET /v1/watch}: Server-Sent Events of commits. */
class HttpWatchTest {
    @TempDir
    Path dir;

    @Test
    void watcherReceivesCommitsInOrderWithKeepAlives() throws Exception {
        try (HttpFixture http = new HttpFixture(dir);
                SseClient sse = http.watch("/v1/watch?prefix=w/&from=0", null)) {
            assertThat(sse.response.statusCode()).isEqualTo(200);
            assertThat(sse.response.headers().firstValue("Content-Type"))
                    .hasValueSatisfying(t -> assertThat(t).startsWith("text/event-stream"));
            for (int i = 0; i < 20; i++) {
                http.db.put("w/" + i, "v" + i);
                http.db.put("other/" + i, "x");
            }
            http.db.delete("w/0");
            for (int i = 0; i < 21; i++) {
                SseEvent e = sse.next();
                assertThat(e.event()).isEqualTo("commit");
                JsonNode data = e.json();
                long rev = 2L * i + 1;
                assertThat(e.id()).isEqualTo(Long.toString(rev));
                assertThat(data.get("revision").asLong()).isEqualTo(rev);
                assertThat(data.get("timestamp").asLong()).isPositive();
                JsonNode change = data.get("changes").get(0);
                assertThat(data.get("changes").size()).isEqualTo(1);
                assertThat(change.has("expiresAt")).as("no TTL: no expiresAt").isFalse();
                if (i < 20) {
                    assertThat(change.get("type").asString()).isEqualTo("put");
                    assertThat(change.get("key").asString()).isEqualTo("w/" + i);
                    assertThat(change.get("value").asString()).isEqualTo("v" + i);
                } else {
                    assertThat(change.get("type").asString()).isEqualTo("delete");
                    assertThat(change.get("key").asString()).isEqualTo("w/0");
                }
            }
            long ttlRev = http.db.put("w/ttl", "t", Duration.ofHours(1));
            long expiresAt = http.db.get("w/ttl").orElseThrow().expiresAt();
            SseEvent ttl = sse.next();
            assertThat(ttl.id()).isEqualTo(Long.toString(ttlRev));
            assertThat(ttl.json().get("changes").get(0).get("expiresAt").asLong())
                    .isEqualTo(expiresAt)
                    .isPositive();
            await().atMost(Duration.ofSeconds(5)).until(() -> sse.comments.get() >= 2);
        }
    }

    @Test
    void reconnectingWithLastEventIdResumesWithoutGapOrDuplicate() throws Exception {
        long seed = System.nanoTime();
        Random random = new Random(seed);
        int commits = 200;
        try (HttpFixture http = new HttpFixture(dir)) {
            AtomicReference<Throwable> writerFailure = new AtomicReference<>();
            Thread writer = Thread.ofVirtual().start(() -> {
                try {
                    for (int i = 1; i <= commits; i++) {
                        http.db.put("r/" + (i % 17), "v" + i);
                        if (i % 10 == 0) Thread.sleep(2);
                    }
                } catch (Throwable t) {
                    writerFailure.set(t);
                }
            });
            List<Long> seen = new ArrayList<>();
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            Long lastId = null;
            for (int connection = 0; connection < 6 && seen.size() < commits; connection++) {
                assertThat(System.nanoTime()).as("seed " + seed).isLessThan(deadline);
                // from=0 stays in the URL, as an EventSource would keep it: Last-Event-ID must win
                String path = "/v1/watch?prefix=r/&from=0";
                boolean lastConnection = connection == 5;
                int take = lastConnection ? Integer.MAX_VALUE : 1 + random.nextInt(60);
                try (SseClient sse = http.watch(path, lastId)) {
                    for (int n = 0; n < take && seen.size() < commits; n++) {
                        SseEvent e = sse.next();
                        assertThat(e).as("seed " + seed).isNotNull();
                        long rev = Long.parseLong(e.id());
                        JsonNode change = e.json().get("changes").get(0);
                        assertThat(change.get("value").asString())
                                .as("seed " + seed)
                                .isEqualTo("v" + rev);
                        seen.add(rev);
                        lastId = rev;
                    }
                }
            }
            writer.join(Duration.ofSeconds(10));
            assertThat(writerFailure.get()).isNull();
            assertThat(seen)
                    .as("seed " + seed)
                    .containsExactlyElementsOf(
                            LongStream.rangeClosed(1, commits).boxed().toList());
            await().atMost(Duration.ofSeconds(5)).until(() -> http.db.stats().watches() == 0);
        }
    }

    @Test
    void snapshotFirstThenCommitsAfterIt() throws Exception {
        try (HttpFixture http = new HttpFixture(
                dir, CaskadeOptions.defaults().withDurability(Durability.NONE), o -> o.withSnapshotChunk(10))) {
            for (int i = 0; i < 24; i++) http.db.put("s/%02d".formatted(i), "v" + i);
            http.db.put("s/24", "v24", Duration.ofHours(1));
            long expiresAt = http.db.get("s/24").orElseThrow().expiresAt();
            http.db.put("t/outside", "x");
            long r = http.db.revision();
            try (SseClient sse = http.watch("/v1/watch?prefix=s/&snapshot=true", null)) {
                List<String> keys = new ArrayList<>();
                List<Long> expiries = new ArrayList<>();
                for (int chunk = 0; chunk < 3; chunk++) {
                    SseEvent e = sse.next();
                    assertThat(e.event()).isEqualTo("snapshot");
                    JsonNode data = e.json();
                    assertThat(data.get("revision").asLong()).isEqualTo(r);
                    assertThat(data.get("last").asBoolean()).isEqualTo(chunk == 2);
                    assertThat(e.id()).isEqualTo(chunk == 2 ? Long.toString(r) : null);
                    data.get("items").forEach(item -> {
                        keys.add(item.get("key").asString());
                        expiries.add(
                                item.has("expiresAt") ? item.get("expiresAt").asLong() : 0L);
                    });
                }
                assertThat(keys).hasSize(25).startsWith("s/00").endsWith("s/24").isSorted();
                assertThat(expiries.subList(0, 24)).as("no TTL: no expiresAt").containsOnly(0L);
                assertThat(expiries.get(24)).isEqualTo(expiresAt).isPositive();
                http.db.put("s/new", "n");
                SseEvent commit = sse.next();
                assertThat(commit.event()).isEqualTo("commit");
                assertThat(commit.id()).isEqualTo(Long.toString(r + 1));
                assertThat(commit.json().get("changes").get(0).get("key").asString())
                        .isEqualTo("s/new");
            }
            // a client that has the snapshot resumes by Last-Event-ID without getting it again
            http.db.put("s/later", "l");
            try (SseClient resumed = http.watch("/v1/watch?prefix=s/&snapshot=true", r + 1)) {
                SseEvent e = resumed.next();
                assertThat(e.event()).isEqualTo("commit");
                assertThat(e.id()).isEqualTo(Long.toString(r + 2));
            }
        }
    }

    @Test
    void belowRetentionTheStreamSaysCompactedAndEnds() throws Exception {
        CaskadeOptions compacting = CaskadeOptions.defaults()
                .withDurability(Durability.NONE)
                .withSegmentBytes(4096)
                .withHistory(Duration.ZERO, 0);
        try (HttpFixture http = new HttpFixture(dir, compacting, o -> o)) {
            String value = "x".repeat(200);
            for (int i = 0; i < 100; i++) http.db.put("c/" + (i % 5), value + i);
            assertThat(http.db.merge()).isTrue();
            long oldest = http.db.compactedRevision();
            assertThat(oldest).isPositive();
            try (SseClient sse = http.watch("/v1/watch?prefix=c/&from=0", null)) {
                SseEvent e = sse.next();
                assertThat(e.event()).isEqualTo("compacted");
                assertThat(e.json().get("oldest").asLong()).isEqualTo(oldest);
                assertThat(sse.next()).isNull();
            }
            // from the oldest allowed revision it streams the rest
            try (SseClient sse = http.watch("/v1/watch?prefix=c/&from=" + oldest, null)) {
                SseEvent e = sse.next();
                assertThat(e.event()).isEqualTo("commit");
                assertThat(Long.parseLong(e.id())).isGreaterThan(oldest);
            }
            assertThat(json(http.get("/v1/status")).get("compactedRevision").asLong())
                    .isEqualTo(oldest);
        }
    }

    @Test
    void aStalledClientOverflowsAndResumesWhereItStopped() throws Exception {
        CaskadeOptions small =
                CaskadeOptions.defaults().withDurability(Durability.NONE).withWatchBuffer(4);
        int commits = 150;
        String big = "b".repeat(128 * 1024); // enough to fill the socket buffers of a client that does not read
        try (HttpFixture http = new HttpFixture(dir, small, o -> o)) {
            CountDownLatch gate = new CountDownLatch(1);
            List<Long> seen = new ArrayList<>();
            long resume;
            try (SseClient stalled = http.watch("/v1/watch?prefix=o/&from=0", null, gate)) {
                for (int i = 1; i <= commits; i++) http.db.put("o/" + (i % 3), i + big);
                gate.countDown();
                SseEvent e;
                while ((e = stalled.next()) != null && e.event().equals("commit")) {
                    seen.add(Long.parseLong(e.id()));
                    assertThat(seen.size()).isLessThanOrEqualTo(commits);
                }
                assertThat(e).isNotNull();
                assertThat(e.event()).isEqualTo("overflow");
                resume = e.json().get("resume").asLong();
                assertThat(stalled.next()).isNull(); // the stream ends after overflow
            }
            assertThat(seen)
                    .containsExactlyElementsOf(
                            LongStream.rangeClosed(1, seen.size()).boxed().toList());
            assertThat(resume).isEqualTo(seen.size()).isLessThan(commits);
            try (SseClient again = http.watch("/v1/watch?prefix=o/", resume)) {
                for (long rev = resume + 1; rev <= commits; rev++) {
                    SseEvent e = again.next();
                    assertThat(e.id()).isEqualTo(Long.toString(rev));
                    assertThat(e.json().get("changes").get(0).get("value").asString())
                            .startsWith(rev + "b");
                }
            }
        }
    }

    @Test
    void closingTheServerEndsStreamsButNotTheStore() throws Exception {
        try (HttpFixture http = new HttpFixture(dir)) {
            SseClient sse = http.watch("/v1/watch?prefix=z/", null);
            http.db.put("z/1", "1");
            assertThat(sse.next().id()).isEqualTo("1");
            long start = System.nanoTime();
            http.server.close();
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(4));
            assertThat(sse.next()).isNull();
            await().atMost(Duration.ofSeconds(5)).until(() -> http.db.stats().watches() == 0);
            assertThat(http.db.put("z/2", "2")).isEqualTo(2);
            sse.close();
        }
    }

    @Test
    void closingTheConnectionClosesTheWatch() throws Exception {
        try (HttpFixture http = new HttpFixture(dir)) {
            SseClient sse = http.watch("/v1/watch?prefix=a/", null);
            http.db.put("a/1", "1");
            assertThat(sse.next().id()).isEqualTo("1");
            assertThat(http.db.stats().watches()).isEqualTo(1);
            sse.close();
            await().atMost(Duration.ofSeconds(5)).until(() -> http.db.stats().watches() == 0);
        }
    }
}
