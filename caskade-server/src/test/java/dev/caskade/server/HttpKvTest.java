package dev.caskade.server;

import static dev.caskade.server.HttpFixture.json;
import static dev.caskade.server.HttpFixture.text;
import static org.assertj.core.api.Assertions.assertThat;

import dev.caskade.CaskadeOptions;
import dev.caskade.Durability;
import dev.caskade.Entry;
import java.io.ByteArrayOutputStream;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;

class HttpKvTest {
    @TempDir
    Path dir;

    HttpFixture http;

    @BeforeEach
    void start() {
        http = new HttpFixture(dir);
    }

    @AfterEach
    void stop() {
        http.close();
    }

    @Test
    void putGetDeleteWithEtag() {
        HttpResponse<byte[]> put = http.put("/v1/kv/user", "alice");
        assertThat(put.statusCode()).isEqualTo(200);
        long rev = json(put).get("revision").asLong();
        assertThat(rev).isEqualTo(http.db.revision()).isPositive();

        HttpResponse<byte[]> get = http.get("/v1/kv/user");
        assertThat(get.statusCode()).isEqualTo(200);
        assertThat(text(get)).isEqualTo("alice");
        assertThat(get.headers().firstValue("ETag")).contains("\"" + rev + "\"");
        assertThat(get.headers().firstValue("Content-Type")).contains("application/octet-stream");

        HttpResponse<byte[]> del = http.delete("/v1/kv/user");
        assertThat(del.statusCode()).isEqualTo(200);
        assertThat(json(del).get("revision").asLong()).isEqualTo(rev + 1);
        assertThat(http.db.get("user")).isEmpty();

        HttpResponse<byte[]> missing = http.get("/v1/kv/user");
        assertThat(missing.statusCode()).isEqualTo(404);
        assertThat(json(missing).get("code").asInt()).isEqualTo(404);
        assertThat(json(missing).get("error").asString()).isNotBlank();
        assertThat(http.delete("/v1/kv/user").statusCode()).isEqualTo(404);
    }

    @Test
    void binaryValuesRoundTripByteForByte() {
        byte[] value = new byte[1 << 20];
        new java.util.Random(42).nextBytes(value);
        HttpResponse<byte[]> put = http.send(
                HttpRequest.newBuilder(http.uri("/v1/kv/blob")).PUT(HttpRequest.BodyPublishers.ofByteArray(value)));
        assertThat(put.statusCode()).isEqualTo(200);
        assertThat(http.get("/v1/kv/blob").body()).isEqualTo(value);
        assertThat(http.put("/v1/kv/empty", "").statusCode()).isEqualTo(200);
        assertThat(http.get("/v1/kv/empty").body()).isEmpty();
    }

    @Test
    void storeLimitsAnswer413(@TempDir Path other) {
        CaskadeOptions small =
                CaskadeOptions.defaults().withDurability(Durability.NONE).withLimits(16, 64);
        try (HttpFixture limited = new HttpFixture(other, small, o -> o)) {
            HttpResponse<byte[]> longKey = limited.put("/v1/kv/" + "k".repeat(17), "v");
            assertThat(longKey.statusCode()).isEqualTo(413);
            assertThat(json(longKey).get("code").asInt()).isEqualTo(413);
            assertThat(limited.put("/v1/kv/k", "v".repeat(65)).statusCode()).isEqualTo(413);
            assertThat(limited.put("/v1/kv/k", "v".repeat(64)).statusCode()).isEqualTo(200);
            assertThat(limited.db.revision()).isEqualTo(1);
        }
    }

    @Test
    void conditionalWritesAnswer412OnMismatch() {
        HttpResponse<byte[]> created = http.send(HttpRequest.newBuilder(http.uri("/v1/kv/c"))
                .header("If-None-Match", "*")
                .PUT(HttpRequest.BodyPublishers.ofString("one")));
        assertThat(created.statusCode()).isEqualTo(200);
        long rev = json(created).get("revision").asLong();

        HttpResponse<byte[]> again = http.send(HttpRequest.newBuilder(http.uri("/v1/kv/c"))
                .header("If-None-Match", "*")
                .PUT(HttpRequest.BodyPublishers.ofString("two")));
        assertThat(again.statusCode()).isEqualTo(412);
        assertThat(json(again).get("code").asInt()).isEqualTo(412);

        HttpResponse<byte[]> stale = http.send(HttpRequest.newBuilder(http.uri("/v1/kv/c"))
                .header("If-Match", "\"" + (rev + 7) + "\"")
                .PUT(HttpRequest.BodyPublishers.ofString("two")));
        assertThat(stale.statusCode()).isEqualTo(412);
        assertThat(http.db.get("c").orElseThrow().valueString()).isEqualTo("one");

        HttpResponse<byte[]> matched = http.send(HttpRequest.newBuilder(http.uri("/v1/kv/c"))
                .header("If-Match", "\"" + rev + "\"")
                .PUT(HttpRequest.BodyPublishers.ofString("two")));
        assertThat(matched.statusCode()).isEqualTo(200);
        assertThat(http.db.get("c").orElseThrow().valueString()).isEqualTo("two");

        HttpResponse<byte[]> staleDelete = http.send(HttpRequest.newBuilder(http.uri("/v1/kv/c"))
                .header("If-Match", "\"" + rev + "\"")
                .DELETE());
        assertThat(staleDelete.statusCode()).isEqualTo(412);
        assertThat(http.db.get("c")).isPresent();

        HttpResponse<byte[]> badTag = http.send(HttpRequest.newBuilder(http.uri("/v1/kv/c"))
                .header("If-Match", "nope")
                .PUT(HttpRequest.BodyPublishers.ofString("x")));
        assertThat(badTag.statusCode()).isEqualTo(400);
    }

    @Test
    void keyIsTheRestOfThePathPercentDecoded() {
        assertThat(http.put("/v1/kv/a/b%20c%2Fd+e", "v1").statusCode()).isEqualTo(200);
        assertThat(http.db.get("a/b c/d+e").orElseThrow().valueString()).isEqualTo("v1");
        assertThat(text(http.get("/v1/kv/a/b%20c%2fd+e"))).isEqualTo("v1");

        assertThat(http.put("/v1/kv/raw%FF%00x", "v2").statusCode()).isEqualTo(200);
        assertThat(http.db
                        .get(new byte[] {'r', 'a', 'w', (byte) 0xff, 0, 'x'})
                        .orElseThrow()
                        .valueString())
                .isEqualTo("v2");
    }

    @Test
    void ttlParameterSetsAnExpiry() {
        long before = System.currentTimeMillis();
        assertThat(http.put("/v1/kv/t?ttl=100", "x").statusCode()).isEqualTo(200);
        long expiresAt = http.db.get("t").orElseThrow().expiresAt();
        assertThat(expiresAt).isBetween(before + 99_000, System.currentTimeMillis() + 100_000);
        // the expiry is visible over HTTP: a header on GET, a field in lists (left out for keys without one)
        assertThat(http.get("/v1/kv/t").headers().firstValue("Caskade-Expires-At"))
                .contains(Long.toString(expiresAt));
        http.db.put("u", "forever");
        assertThat(http.get("/v1/kv/u").headers().firstValue("Caskade-Expires-At"))
                .isEmpty();
        JsonNode items = json(http.get("/v1/kv")).get("items");
        assertThat(items.get(0).get("key").asString()).isEqualTo("t");
        assertThat(items.get(0).get("expiresAt").asLong()).isEqualTo(expiresAt);
        assertThat(items.get(1).get("key").asString()).isEqualTo("u");
        assertThat(items.get(1).has("expiresAt")).isFalse();

        assertThat(http.put("/v1/kv/t?ttl=abc", "x").statusCode()).isEqualTo(400);
        assertThat(http.put("/v1/kv/t?ttl=0", "x").statusCode()).isEqualTo(400);
        assertThat(http.put("/v1/kv/t?ttl=9223372036854775", "x").statusCode()).isEqualTo(400);
    }

    @Test
    void listPagesInKeyOrderFromOneRevision() {
        for (int i = 0; i < 25; i++) http.db.put("p/%02d".formatted(i), "v" + i);
        http.db.put("q/outside", "x");
        http.db.put("p/zz".getBytes(StandardCharsets.UTF_8), new byte[] {(byte) 0xff, 0, 1});

        JsonNode first = json(http.get("/v1/kv?prefix=p/&limit=10"));
        assertThat(first.get("revision").asLong()).isEqualTo(http.db.revision());
        assertThat(keys(first))
                .containsExactly("p/00", "p/01", "p/02", "p/03", "p/04", "p/05", "p/06", "p/07", "p/08", "p/09");
        assertThat(first.get("items").get(3).get("value").asString()).isEqualTo("v3");
        assertThat(first.get("items").get(3).get("revision").asLong()).isEqualTo(4);
        assertThat(first.get("next").asString()).isEqualTo("p/09");

        JsonNode second = json(http.get("/v1/kv?prefix=p%2F&limit=10&after=p/09"));
        assertThat(keys(second)).hasSize(10).startsWith("p/10").endsWith("p/19");

        JsonNode last = json(
                http.get("/v1/kv?prefix=p/&limit=10&after=" + second.get("next").asString()));
        assertThat(keys(last)).containsExactly("p/20", "p/21", "p/22", "p/23", "p/24", "p/zz");
        assertThat(last.has("next")).isFalse();
        JsonNode binary = last.get("items").get(5);
        assertThat(binary.has("value")).isFalse();
        assertThat(Base64.getDecoder().decode(binary.get("value_base64").asString()))
                .containsExactly((byte) 0xff, 0, 1);

        assertThat(keys(json(http.get("/v1/kv")))).hasSize(27);
        assertThat(http.get("/v1/kv?limit=0").statusCode()).isEqualTo(400);
        assertThat(http.get("/v1/kv?limit=x").statusCode()).isEqualTo(400);
    }

    @Test
    void keysThatAreNotUtf8PageThroughBase64() {
        http.db.put("nb/a", "1");
        http.db.put(new byte[] {'n', 'b', '/', (byte) 0xc3}, "2".getBytes(StandardCharsets.UTF_8));
        http.db.put(new byte[] {'n', 'b', '/', (byte) 0xff}, "3".getBytes(StandardCharsets.UTF_8));

        JsonNode page = json(http.get("/v1/kv?prefix=nb/&limit=1&after=nb/a"));
        JsonNode item = page.get("items").get(0);
        assertThat(item.has("key")).isFalse();
        assertThat(Base64.getDecoder().decode(item.get("key_base64").asString()))
                .containsExactly('n', 'b', '/', (byte) 0xc3);
        assertThat(item.get("value").asString()).isEqualTo("2");
        assertThat(page.has("next")).isFalse();
        byte[] next = Base64.getDecoder().decode(page.get("next_base64").asString());

        StringBuilder after = new StringBuilder();
        for (byte b : next) after.append('%').append(HexFormat.of().toHexDigits(b));
        JsonNode rest = json(http.get("/v1/kv?prefix=nb/&limit=1&after=" + after));
        assertThat(Base64.getDecoder()
                        .decode(rest.get("items").get(0).get("key_base64").asString()))
                .containsExactly('n', 'b', '/', (byte) 0xff);
        assertThat(rest.has("next")).isFalse();
        assertThat(rest.has("next_base64")).isFalse();
    }

    private static List<String> keys(JsonNode page) {
        return page.get("items").valueStream().map(i -> i.get("key").asString()).toList();
    }

    @Test
    void txnCommitsSuccessOrFailureBranchAtomically() {
        long a = http.db.put("a", "1");
        String body = """
                {"compare": [{"key": "a", "revision": %d}, {"key": "new", "revision": 0}],
                 "success": [{"op": "put", "key": "b", "value": "2"}, {"op": "delete", "key": "a"},
                             {"op": "put", "key": "t", "value": "x", "ttl": 60}],
                 "failure": [{"op": "put", "key": "failed", "value": "yes"}]}""";
        JsonNode ok = json(http.post("/v1/txn", body.formatted(a)));
        assertThat(ok.get("succeeded").asBoolean()).isTrue();
        long rev = ok.get("revision").asLong();
        assertThat(http.db.get("b").orElseThrow().revision()).isEqualTo(rev);
        assertThat(http.db.get("t").orElseThrow().revision()).isEqualTo(rev);
        assertThat(http.db.get("t").orElseThrow().expiresAt()).isPositive();
        assertThat(http.db.get("a")).isEmpty();
        assertThat(http.db.get("failed")).isEmpty();

        JsonNode failed = json(http.post("/v1/txn", body.formatted(a)));
        assertThat(failed.get("succeeded").asBoolean()).isFalse();
        assertThat(failed.get("revision").asLong()).isEqualTo(rev + 1);
        assertThat(http.db.get("failed").orElseThrow().valueString()).isEqualTo("yes");
        assertThat(http.db.get("b").orElseThrow().revision()).isEqualTo(rev);

        JsonNode nothing = json(http.post("/v1/txn", "{\"compare\": [{\"key\": \"zzz\", \"revision\": 5}]}"));
        assertThat(nothing.get("succeeded").asBoolean()).isFalse();
        assertThat(nothing.get("revision").asLong()).isEqualTo(http.db.revision());
    }

    @Test
    void concurrentTxnsOnOneCounterNeverLoseAnUpdate() throws Exception {
        http.db.put("n", "0");
        int threads = 4;
        int rounds = 15;
        java.util.concurrent.atomic.AtomicInteger wins = new java.util.concurrent.atomic.AtomicInteger();
        List<Thread> workers = new java.util.ArrayList<>();
        for (int t = 0; t < threads; t++) {
            workers.add(Thread.ofVirtual().start(() -> {
                for (int i = 0; i < rounds; i++) {
                    Entry e = http.db.get("n").orElseThrow();
                    int next = Integer.parseInt(e.valueString()) + 1;
                    JsonNode r = json(http.post("/v1/txn", """
                            {"compare": [{"key": "n", "revision": %d}],
                             "success": [{"op": "put", "key": "n", "value": "%d"}],
                             "failure": [{"op": "put", "key": "lost/%d", "value": "x"}]}""".formatted(e.revision(), next, e.revision())));
                    if (r.get("succeeded").asBoolean()) wins.incrementAndGet();
                }
            }));
        }
        for (Thread w : workers)
            assertThat(w.join(java.time.Duration.ofSeconds(20))).isTrue();
        assertThat(Integer.parseInt(http.db.get("n").orElseThrow().valueString()))
                .isEqualTo(wins.get());
        try (Stream<Entry> lost = http.db.scan("lost/")) {
            assertThat(wins.get() + lost.count()).isLessThanOrEqualTo(threads * rounds);
        }
    }

    @Test
    void txnRejectsMalformedBodies() {
        long before = http.db.revision();
        for (String bad : List.of(
                "{",
                "",
                "[]",
                "{\"success\": [{\"op\": \"upsert\", \"key\": \"k\", \"value\": \"v\"}]}",
                "{\"success\": [{\"op\": \"put\", \"key\": \"k\"}]}",
                "{\"success\": [{\"op\": \"put\", \"value\": \"v\"}]}",
                "{\"bogus\": 1}",
                "{\"compare\": [{\"key\": \"k\", \"revision\": -1}]}")) {
            HttpResponse<byte[]> r = http.post("/v1/txn", bad);
            assertThat(r.statusCode()).as(bad).isEqualTo(400);
            assertThat(json(r).get("code").asInt()).as(bad).isEqualTo(400);
        }
        assertThat(http.db.revision()).isEqualTo(before);
    }

    @Test
    void digestMatchesOneComputedHere() throws Exception {
        for (int i = 0; i < 30; i++) http.db.put("d/" + i, "value-" + i);
        http.db.put("d/bin".getBytes(StandardCharsets.UTF_8), new byte[] {0, (byte) 0x80});
        http.db.put("e/other", "x");
        http.db.delete("d/3");

        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        long keys;
        try (Stream<Entry> s = http.db.scan("d/")) {
            List<Entry> entries = s.toList();
            keys = entries.size();
            for (Entry e : entries) {
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                out.writeBytes(ByteBuffer.allocate(4).putInt(e.key().length).array());
                out.writeBytes(e.key());
                out.writeBytes(ByteBuffer.allocate(4).putInt(e.value().length).array());
                out.writeBytes(e.value());
                sha.update(out.toByteArray());
            }
        }
        JsonNode digest = json(http.get("/v1/digest?prefix=d/"));
        assertThat(digest.get("keys").asLong()).isEqualTo(keys).isEqualTo(30);
        assertThat(digest.get("revision").asLong()).isEqualTo(http.db.revision());
        assertThat(digest.get("digest").asString()).isEqualTo(HexFormat.of().formatHex(sha.digest()));

        JsonNode empty = json(http.get("/v1/digest?prefix=none/"));
        assertThat(empty.get("keys").asLong()).isZero();
        assertThat(empty.get("digest").asString())
                .isEqualTo("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    @Test
    void statusAndHealth() {
        http.db.put("s", "1");
        JsonNode status = json(http.get("/v1/status"));
        assertThat(status.get("revision").asLong()).isEqualTo(1);
        assertThat(status.get("keys").asLong()).isEqualTo(1);
        assertThat(status.get("role").asString()).isEqualTo("primary");
        assertThat(status.get("diskBytes").asLong()).isPositive();
        assertThat(status.get("segments").asInt()).isPositive();
        assertThat(status.get("compactedRevision").asLong()).isZero();
        assertThat(status.get("durability").asString()).isNotBlank();

        HttpResponse<byte[]> health = http.get("/healthz");
        assertThat(health.statusCode()).isEqualTo(200);
        assertThat(json(health).get("status").asString()).isEqualTo("ok");
        assertThat(http.get("/readyz").statusCode()).isEqualTo(200);
    }

    @Test
    void errorsAreJsonWithTheirStatus() {
        HttpResponse<byte[]> unknown = http.get("/v2/nothing");
        assertThat(unknown.statusCode()).isEqualTo(404);
        assertThat(json(unknown).get("code").asInt()).isEqualTo(404);

        HttpResponse<byte[]> wrongMethod =
                http.send(HttpRequest.newBuilder(http.uri("/v1/kv/k")).POST(HttpRequest.BodyPublishers.noBody()));
        assertThat(wrongMethod.statusCode()).isEqualTo(405);
        assertThat(json(wrongMethod).get("code").asInt()).isEqualTo(405);
        assertThat(wrongMethod.headers().firstValue("Allow")).contains("GET, PUT, DELETE");
        assertThat(http.get("/v1/txn").statusCode()).isEqualTo(405);
        assertThat(http.delete("/v1/status").statusCode()).isEqualTo(405);

        assertThat(http.get("/v1/kv/").statusCode()).isEqualTo(400);
        assertThat(http.get("/v1/watch?from=minus").statusCode()).isEqualTo(400);
        assertThat(http.get("/v1/watch?snapshot=maybe").statusCode()).isEqualTo(400);
    }
}
