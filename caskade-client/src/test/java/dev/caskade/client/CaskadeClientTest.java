package dev.caskade.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.caskade.CaskadeOptions;
import dev.caskade.Digest;
import dev.caskade.Durability;
import dev.caskade.Entry;
import dev.caskade.server.Access;
import dev.caskade.server.Credential;
import dev.caskade.server.Rule;
import dev.caskade.server.User;
import dev.caskade.server.Users;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CaskadeClientTest {
    @TempDir
    Path dir;

    LocalServer server;
    CaskadeClient client;

    @BeforeEach
    void start() {
        server = new LocalServer(dir);
        client = server.client();
    }

    @AfterEach
    void stop() {
        client.close();
        server.close();
    }

    @Test
    void putGetDelete() {
        long rev = client.put("user/1", "alice");
        assertThat(rev).isPositive().isEqualTo(server.db.revision());
        Entry e = client.get("user/1").orElseThrow();
        assertThat(e.keyString()).isEqualTo("user/1");
        assertThat(e.valueString()).isEqualTo("alice");
        assertThat(e.revision()).isEqualTo(rev);
        assertThat(e.expiresAt()).isZero();

        assertThat(client.put("user/1", "")).isEqualTo(rev + 1);
        assertThat(client.get("user/1").orElseThrow().value()).isEmpty();

        assertThat(client.delete("user/1")).isEqualTo(rev + 2);
        assertThat(client.get("user/1")).isEmpty();
        assertThat(client.delete("user/1")).isZero();
        assertThat(client.revision()).isEqualTo(rev + 2).isEqualTo(server.db.revision());
    }

    @Test
    void binaryKeysAndValuesArriveByteForByte() {
        Random random = new Random(7);
        byte[] value = new byte[100_000];
        random.nextBytes(value);
        List<byte[]> keys = List.of(
                new byte[] {'b', '/', 0, (byte) 0xff, (byte) 0x80, '%', '+', ' ', '?', '#', '&', '='},
                "b/..".getBytes(StandardCharsets.UTF_8),
                ".".getBytes(StandardCharsets.UTF_8),
                "..".getBytes(StandardCharsets.UTF_8),
                "b/ünï 😀/x".getBytes(StandardCharsets.UTF_8),
                "b/a/../c".getBytes(StandardCharsets.UTF_8));
        for (byte[] key : keys) {
            long rev = client.put(key, value);
            assertThat(server.db.get(key)).as("stored under the very bytes").isPresent();
            Entry e = client.get(key).orElseThrow();
            assertThat(e.key()).isEqualTo(key);
            assertThat(e.value()).isEqualTo(value);
            assertThat(e.revision()).isEqualTo(rev);
        }
        assertThat(server.db.stats().keys()).isEqualTo(keys.size());
        // a scan brings non-UTF-8 keys and values back from their base64 forms
        List<Entry> scanned = client.scan(new byte[] {'b', '/'});
        try (Stream<Entry> s = server.db.scan(new byte[] {'b', '/'})) {
            assertThat(scanned).containsExactlyElementsOf(s.toList());
        }
        assertThat(scanned).hasSize(4);
        assertThat(client.delete(keys.get(0))).isPositive();
        assertThat(server.db.get(keys.get(0))).isEmpty();
    }

    @Test
    void putWithTtl() {
        long before = System.currentTimeMillis();
        long rev = client.put("session", "s", Duration.ofSeconds(30));
        Entry stored = server.db.get("session").orElseThrow();
        assertThat(stored.expiresAt()).isBetween(before + 29_000, System.currentTimeMillis() + 30_000);
        Entry e = client.get("session").orElseThrow();
        assertThat(e.revision()).isEqualTo(rev);
        // Caskade-Expires-At is sent by newer servers; without it the client says 0
        assertThat(e.expiresAt()).isIn(0L, stored.expiresAt());
        assertThatThrownBy(() -> client.put("session", "s", Duration.ofMillis(1500)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("whole");
        assertThat(server.db.revision()).isEqualTo(rev);
    }

    @Test
    void compareAndSetBothWays() {
        assertThat(client.compareAndSet("lock", 0, "a")).isTrue();
        long rev = server.db.revision();
        assertThat(client.compareAndSet("lock", 0, "b")).as("must not exist").isFalse();
        assertThat(client.compareAndSet("lock", rev + 5, "b"))
                .as("wrong revision")
                .isFalse();
        assertThat(client.get("lock").orElseThrow().valueString()).isEqualTo("a");
        assertThat(server.db.revision()).isEqualTo(rev);
        assertThat(client.compareAndSet("lock", rev, "c")).isTrue();
        assertThat(client.get("lock").orElseThrow().valueString()).isEqualTo("c");
        assertThat(client.compareAndSet("lock", rev, "d")).as("stale now").isFalse();
    }

    @Test
    void txnSucceedsOrRunsItsFailureBranch() {
        long rev = client.put("stock", "1");
        client.put("hold", "x");
        TxnResult ok = client.txn(Txn.create()
                .compare("stock", rev)
                .compare("missing", 0)
                .success(
                        Txn.put("stock", "0"),
                        Txn.delete("hold"),
                        Txn.put(
                                "bin".getBytes(StandardCharsets.UTF_8),
                                new byte[] {0, (byte) 0xfe},
                                Duration.ofSeconds(60)))
                .failure(Txn.put("log", "missed")));
        assertThat(ok.succeeded()).isTrue();
        assertThat(ok.revision()).isEqualTo(server.db.revision()).isEqualTo(rev + 2);
        assertThat(server.db.get("stock").orElseThrow().valueString()).isEqualTo("0");
        assertThat(server.db.get("hold")).isEmpty();
        Entry bin = server.db.get("bin").orElseThrow();
        assertThat(bin.value()).containsExactly(0, 0xfe);
        assertThat(bin.expiresAt()).isPositive();
        assertThat(server.db.get("log")).isEmpty();

        TxnResult missed = client.txn(
                Txn.create().compare("stock", rev).success(Txn.delete("stock")).failure(Txn.put("log", "missed")));
        assertThat(missed.succeeded()).isFalse();
        assertThat(missed.revision()).isEqualTo(rev + 3);
        assertThat(server.db.get("stock")).isPresent();
        assertThat(server.db.get("log").orElseThrow().valueString()).isEqualTo("missed");

        // keys that are not UTF-8 travel as base64, and a TTL in milliseconds as ttl_ms
        byte[] binary = {(byte) 0xff, 0, 'k'};
        TxnResult bytes = client.txn(Txn.create()
                .compare(binary, 0)
                .success(Txn.put(binary, new byte[] {1}, Duration.ofMillis(90_500)), Txn.delete("log")));
        assertThat(bytes.succeeded()).isTrue();
        Entry b = server.db.get(binary).orElseThrow();
        assertThat(b.value()).containsExactly(1);
        assertThat(b.expiresAt() - System.currentTimeMillis()).isBetween(80_000L, 90_500L);
        assertThat(server.db.get("log")).isEmpty();
        assertThatThrownBy(() -> Txn.put("k", "v", Duration.ofNanos(1)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("milliseconds");
    }

    @Test
    void scanPagesThroughEverythingUnderThePrefix() {
        try (CaskadeClient paged = server.client(ClientOptions.defaults().withPageSize(3))) {
            for (int i = 0; i < 10; i++) paged.put("p/" + i, "v" + i);
            paged.put("o", "outside");
            paged.put("q", "outside");
            List<Entry> all = paged.scan("p/");
            assertThat(all)
                    .extracting(Entry::keyString)
                    .containsExactly("p/0", "p/1", "p/2", "p/3", "p/4", "p/5", "p/6", "p/7", "p/8", "p/9");
            try (Stream<Entry> s = server.db.scan("p/")) {
                assertThat(all).containsExactlyElementsOf(s.toList());
            }
            assertThat(paged.scan("")).hasSize(12);
            assertThat(paged.scan("nothing/")).isEmpty();
        }
    }

    @Test
    void digestEqualsTheServers() {
        for (int i = 0; i < 20; i++) client.put("d/" + i, "v" + i);
        client.put(new byte[] {'d', '/', (byte) 0xff}, new byte[] {1, 2, 3});
        Digest d = client.digest("d/");
        assertThat(d).isEqualTo(server.db.digest("d/".getBytes(StandardCharsets.UTF_8)));
        assertThat(d.keys()).isEqualTo(21);
        assertThat(client.digest("")).isEqualTo(server.db.digest(new byte[0]));
    }

    @Test
    void failuresSayWhereAndWhy() throws Exception {
        // a wrong base path is a 404 without "key not found": an error, not an absent key
        try (CaskadeClient wrong =
                CaskadeClient.connect(URI.create(server.uri() + "/nope/"), ClientOptions.defaults())) {
            assertThatThrownBy(() -> wrong.get("k"))
                    .isInstanceOfSatisfying(
                            ClientException.class, e -> assertThat(e.status()).isEqualTo(404))
                    .hasMessageContaining("/nope/v1/kv/k");
        }
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        try (CaskadeClient nobody =
                CaskadeClient.connect(URI.create("http://127.0.0.1:" + port), ClientOptions.defaults())) {
            assertThatThrownBy(() -> nobody.put("k", "v"))
                    .isInstanceOfSatisfying(
                            ClientException.class, e -> assertThat(e.status()).isZero())
                    .hasMessageContaining("cannot reach http://127.0.0.1:" + port);
        }
        assertThatThrownBy(() -> client.get("")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> CaskadeClient.connect(URI.create("ftp://x"), ClientOptions.defaults()))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void optionsAreValidatedAndKeepSecretsOutOfToString() {
        assertThatThrownBy(() -> ClientOptions.defaults().withToken("t").withPageSize(0))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> ClientOptions.defaults().withUser("a:b", "pw"))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> ClientOptions.defaults().withRequestTimeout(Duration.ZERO))
                .isInstanceOf(IllegalArgumentException.class);
        assertThat(ClientOptions.defaults().withToken("s3cret").toString()).doesNotContain("s3cret");
        assertThat(ClientOptions.defaults().withUser("u", "pw-s3cret").toString())
                .doesNotContain("s3cret");
    }

    @Test
    void tokensPasswordsAndRules(@TempDir Path authDir) {
        String token = Credential.newToken();
        Users users = Users.of(List.of(
                new User(
                        "app",
                        Credential.password("app-pw", Credential.MIN_ITERATIONS),
                        Credential.token(token),
                        List.of(Rule.of("app/", Access.WRITE))),
                new User(
                        "reader",
                        Credential.password("reader-pw", Credential.MIN_ITERATIONS),
                        null,
                        List.of(Rule.of("", Access.READ)))));
        try (LocalServer secured =
                        new LocalServer(authDir, CaskadeOptions.defaults().withDurability(Durability.NONE), users);
                CaskadeClient app = secured.client(ClientOptions.defaults().withToken(token));
                CaskadeClient reader = secured.client(ClientOptions.defaults().withUser("reader", "reader-pw"));
                CaskadeClient wrong = secured.client(ClientOptions.defaults().withToken(token + "x"));
                CaskadeClient anonymous = secured.client()) {
            long rev = app.put("app/1", "one");
            assertThat(reader.get("app/1").orElseThrow().revision()).isEqualTo(rev);
            assertThat(reader.revision()).isEqualTo(rev);
            assertThatThrownBy(() -> wrong.get("app/1"))
                    .isInstanceOfSatisfying(
                            AuthException.class, e -> assertThat(e.status()).isEqualTo(401))
                    .hasMessageContaining("401");
            assertThatThrownBy(() -> anonymous.put("app/1", "x")).isInstanceOf(AuthException.class);
            assertThatThrownBy(() -> reader.put("app/1", "x"))
                    .isInstanceOfSatisfying(
                            AuthException.class, e -> assertThat(e.status()).isEqualTo(403));
            assertThatThrownBy(() -> app.put("other", "x")).isInstanceOf(AuthException.class);
            assertThatThrownBy(() -> wrong.watch("app/", 0, false, e -> {})).isInstanceOf(AuthException.class);
            assertThat(secured.db.revision()).isEqualTo(rev);
        }
    }
}
