package dev.caskade.server;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.caskade.Durability;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import redis.clients.jedis.DefaultJedisClientConfig;
import redis.clients.jedis.HostAndPort;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.RedisProtocol;
import redis.clients.jedis.SslOptions;
import redis.clients.jedis.SslVerifyMode;

/** TLS on both ports of a whole {@link Server}, from PEM files, with users. */
class TlsTest {
    @TempDir
    static Path certs;

    static TestCertificate certificate;

    @TempDir
    Path dir;

    @BeforeAll
    static void makeCertificate() throws Exception {
        certificate = TestCertificate.create(certs);
    }

    private Server start() {
        return Server.start(new Server.Options(dir.resolve("data"), "127.0.0.1", 0, 0, Durability.NONE, false)
                .withUsers(AuthFixture.USERS)
                .withTls(new Tls(certificate.cert(), certificate.key())));
    }

    @Test
    void httpsAndRespOverTlsWithAuthentication() throws Exception {
        try (Server server = start();
                HttpClient https = HttpClient.newBuilder()
                        .sslContext(certificate.trust())
                        .connectTimeout(Duration.ofSeconds(10))
                        .build()) {
            String basic = "Basic " + Base64.getEncoder().encodeToString("app:app-pw".getBytes(UTF_8));
            HttpResponse<String> put = https.send(
                    HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + server.httpPort() + "/v1/kv/app/k"))
                            .header("Authorization", basic)
                            .PUT(HttpRequest.BodyPublishers.ofString("over tls"))
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(put.statusCode()).as(put.body()).isEqualTo(200);
            HttpResponse<String> denied = https.send(
                    HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + server.httpPort() + "/v1/kv/app/k"))
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(denied.statusCode()).isEqualTo(401);

            for (RedisProtocol protocol : RedisProtocol.values()) {
                try (Jedis j = new Jedis(
                        new HostAndPort("127.0.0.1", server.respPort()),
                        DefaultJedisClientConfig.builder()
                                .sslOptions(SslOptions.builder()
                                        .truststore(certificate.truststore().toFile(), "changeit".toCharArray())
                                        .sslVerifyMode(SslVerifyMode.FULL)
                                        .build())
                                .protocol(protocol)
                                .user("app")
                                .password("app-pw")
                                .timeoutMillis(5000)
                                .build())) {
                    assertThat(j.get("app/k")).isEqualTo("over tls");
                }
            }
            try (RespSocket raw = new RespSocket(certificate.trust().getSocketFactory(), server.respPort())) {
                assertThat(raw.text("GET", "app/k")).isEqualTo("-NOAUTH Authentication required.");
            }
            assertThat(Files.readString(dir.resolve("data/serve.json"))).contains("\"tls\":true");

            // plain text on a TLS port gets no answer: the handshake fails and the connection closes
            try (HttpClient plain = HttpClient.newBuilder()
                    .connectTimeout(Duration.ofSeconds(10))
                    .build()) {
                assertThatThrownBy(() -> plain.send(
                                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.httpPort() + "/healthz"))
                                        .timeout(Duration.ofSeconds(10))
                                        .build(),
                                HttpResponse.BodyHandlers.ofString()))
                        .isInstanceOf(IOException.class);
            }
            try (RespSocket raw = new RespSocket(server.respPort())) {
                assertThatThrownBy(() -> raw.call("PING")).isInstanceOf(java.io.UncheckedIOException.class);
            }
        }
    }

    @Test
    void unusableFilesFailAtStartNamingThem() throws Exception {
        Path notAKey = Files.writeString(
                dir.resolve("bad-key.pem"), "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
        assertThatThrownBy(() ->
                        Server.start(new Server.Options(dir.resolve("d1"), "127.0.0.1", 0, 0, Durability.NONE, false)
                                .withTls(new Tls(certificate.cert(), notAKey))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("cannot use TLS certificate " + certificate.cert())
                .hasMessageContaining(notAKey.toString());
        assertThat(dir.resolve("d1")).as("checked before the store is opened").doesNotExist();
        Path missing = dir.resolve("missing.pem");
        assertThatThrownBy(() ->
                        Server.start(new Server.Options(dir.resolve("d2"), "127.0.0.1", 0, 0, Durability.NONE, false)
                                .withTls(new Tls(missing, certificate.key()))))
                .hasMessage("cannot read TLS file " + missing);
    }
}
