package dev.caskade.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.Durability;
import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.protocol.ProtocolVersion;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import redis.clients.jedis.DefaultJedisClientConfig;
import redis.clients.jedis.HostAndPort;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.RedisProtocol;

/** Jedis and Lettuce log in unmodified: AUTH user pass on RESP2, HELLO 3 AUTH user pass on RESP3. */
class RespAuthClientsTest {
    @TempDir
    Path dir;

    Caskade db;
    RespServer server;

    @BeforeEach
    void start() {
        // SYNC: commands and logins run off the event loop on this path
        db = Caskade.open(dir, CaskadeOptions.defaults().withDurability(Durability.SYNC));
        server = RespServer.start(db, RespOptions.defaults().withPort(0), AuthFixture.USERS, null);
    }

    @AfterEach
    void stop() {
        server.close();
        db.close();
    }

    private Jedis jedis(RedisProtocol protocol, String user, String password) {
        DefaultJedisClientConfig.Builder b =
                DefaultJedisClientConfig.builder().protocol(protocol).timeoutMillis(5000);
        if (user != null) b.user(user).password(password);
        return new Jedis(new HostAndPort("127.0.0.1", server.port()), b.build());
    }

    @ParameterizedTest
    @EnumSource(RedisProtocol.class)
    void jedisLogsInAndIsHeldToItsRules(RedisProtocol protocol) {
        try (Jedis j = jedis(protocol, "app", "app-pw")) {
            assertThat(j.set("app/k", "v")).isEqualTo("OK");
            assertThat(j.get("app/k")).isEqualTo("v");
            assertThatThrownBy(() -> j.set("pub/k", "v")).hasMessage("NOPERM No permissions to access a key");
            assertThatThrownBy(j::flushDB)
                    .hasMessage("NOPERM User app has no permissions to run the 'flushdb' command");
            assertThat(j.aclWhoAmI()).isEqualTo("app");
        }
        // Jedis logs in as it connects
        assertThatThrownBy(() -> jedis(protocol, "app", "wrong").close()).hasMessageContaining("WRONGPASS");
        // without credentials its HELLO is refused, as by Redis with requirepass
        assertThatThrownBy(() -> jedis(protocol, null, null).close())
                .hasMessageStartingWith("NOAUTH HELLO must be called with the client already authenticated");
    }

    @ParameterizedTest
    @EnumSource(
            value = ProtocolVersion.class,
            names = {"RESP2", "RESP3"})
    void lettuceLogsIn(ProtocolVersion protocol) {
        RedisClient client = RedisClient.create();
        client.setOptions(ClientOptions.builder().protocolVersion(protocol).build());
        try {
            RedisURI uri = RedisURI.builder()
                    .withHost("127.0.0.1")
                    .withPort(server.port())
                    .withAuthentication("app", "app-pw".toCharArray())
                    .withTimeout(Duration.ofSeconds(5))
                    .build();
            try (StatefulRedisConnection<String, String> conn = client.connect(uri)) {
                assertThat(conn.sync().set("app/l", "v")).isEqualTo("OK");
                assertThat(conn.sync().get("app/l")).isEqualTo("v");
                assertThatThrownBy(() -> conn.sync().get("other")).hasMessage("NOPERM No permissions to access a key");
            }
            RedisURI wrong = RedisURI.builder()
                    .withHost("127.0.0.1")
                    .withPort(server.port())
                    .withAuthentication("app", "wrong".toCharArray())
                    .withTimeout(Duration.ofSeconds(5))
                    .build();
            assertThatThrownBy(() -> client.connect(wrong).close()).rootCause().hasMessageContaining("WRONGPASS");
        } finally {
            client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
        }
    }

    @Test
    void jedisAuthWithTheTokenAsPassword() {
        try (Jedis j = jedis(RedisProtocol.RESP3, "app", AuthFixture.APP_TOKEN)) {
            assertThat(j.aclWhoAmI()).isEqualTo("app");
        }
    }
}
