package dev.caskade.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Lettuce, which speaks RESP3 by default (HELLO 3 on connect). */
class RespLettuceTest {
    @TempDir
    Path dir;

    @Test
    void setGetOverResp3() {
        try (RespFixture fx = new RespFixture(dir)) {
            RedisClient client = RedisClient.create(RedisURI.builder()
                    .withHost("127.0.0.1")
                    .withPort(fx.port())
                    .withTimeout(Duration.ofSeconds(5))
                    .build());
            try (StatefulRedisConnection<String, String> conn = client.connect()) {
                RedisCommands<String, String> r = conn.sync();
                assertThat(r.set("k", "v")).isEqualTo("OK");
                assertThat(r.get("k")).isEqualTo("v");
                assertThat(r.get("missing")).isNull();
                assertThat(r.incr("n")).isEqualTo(1);
                assertThat(r.expire("k", 60)).isTrue();
                assertThat(r.ttl("k")).isBetween(59L, 60L);
                assertThat(r.mget("k", "missing")).hasSize(2);
                assertThat(r.del("k", "n")).isEqualTo(2);
            } finally {
                client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
            }
        }
    }
}
