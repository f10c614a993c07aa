package dev.caskade.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import redis.clients.jedis.DefaultJedisClientConfig;
import redis.clients.jedis.HostAndPort;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.Protocol;
import redis.clients.jedis.RedisProtocol;
import redis.clients.jedis.Transaction;
import redis.clients.jedis.exceptions.JedisDataException;
import redis.clients.jedis.params.ScanParams;
import redis.clients.jedis.params.SetParams;
import redis.clients.jedis.resps.ScanResult;

/** Jedis, unmodified, in RESP2 and in RESP3, against the RESP server. */
class RespJedisTest {
    @TempDir
    Path dir;

    RespFixture fx;

    @BeforeEach
    void start() {
        fx = new RespFixture(dir);
    }

    @AfterEach
    void stop() {
        fx.close();
    }

    private Jedis connect(RedisProtocol protocol) {
        return new Jedis(
                new HostAndPort("127.0.0.1", fx.port()),
                DefaultJedisClientConfig.builder()
                        .protocol(protocol)
                        .timeoutMillis(5000)
                        .build());
    }

    @ParameterizedTest
    @EnumSource(RedisProtocol.class)
    void stringsAndKeys(RedisProtocol protocol) {
        try (Jedis j = connect(protocol)) {
            assertThat(j.ping()).isEqualTo("PONG");
            assertThat(j.clientInfo()).contains(" resp=" + (protocol == RedisProtocol.RESP3 ? 3 : 2) + " ");
            assertThat(j.get("missing")).isNull();
            assertThat(j.set("k", "v")).isEqualTo("OK");
            assertThat(j.get("k")).isEqualTo("v");
            assertThat(j.exists("k", "k", "nope")).isEqualTo(2);
            assertThat(j.type("k")).isEqualTo("string");
            assertThat(j.type("nope")).isEqualTo("none");
            assertThat(j.append("k", "w")).isEqualTo(2);
            assertThat(j.strlen("k")).isEqualTo(2);
            assertThat(j.getrange("k", 1, -1)).isEqualTo("w");
            assertThat(j.setrange("k", 4, "z")).isEqualTo(5);
            assertThat(j.get("k")).isEqualTo("vw\0\0z");
            assertThat(j.set("k", "v2", SetParams.setParams().nx())).isNull();
            assertThat(j.setGet("k", "v3")).isEqualTo("vw\0\0z");
            assertThat(j.getDel("k")).isEqualTo("v3");
            assertThat(j.del("k", "nope")).isZero();
            // SETNX and PSETEX are deprecated in Jedis, but clients still send them
            assertThat(j.sendCommand(Protocol.Command.SETNX, "n", "1")).isEqualTo(1L);
            assertThat(j.sendCommand(Protocol.Command.SETNX, "n", "2")).isEqualTo(0L);
            assertThat(j.rename("n", "m")).isEqualTo("OK");
            assertThat(j.get("m")).isEqualTo("1");
            assertThat(j.copy("m", "c", false)).isTrue();
            assertThat(j.copy("m", "c", false)).isFalse();
            assertThat(j.keys("*")).containsExactlyInAnyOrder("m", "c");
            assertThat(j.dbSize()).isEqualTo(2);
            assertThatThrownBy(() -> j.rename("gone", "x")).hasMessageContaining("ERR no such key");
            assertThat(j.flushDB()).isEqualTo("OK");
            assertThat(j.dbSize()).isZero();
        }
    }

    @ParameterizedTest
    @EnumSource(RedisProtocol.class)
    void countersAndMultiKey(RedisProtocol protocol) {
        try (Jedis j = connect(protocol)) {
            assertThat(j.incr("c")).isEqualTo(1);
            assertThat(j.incrBy("c", 41)).isEqualTo(42);
            assertThat(j.decr("c")).isEqualTo(41);
            assertThat(j.decrBy("c", 1)).isEqualTo(40);
            assertThat(j.incrByFloat("f", 1.5)).isEqualTo(1.5);
            assertThat(j.incrByFloat("f", 1.5)).isEqualTo(3.0);
            assertThat(j.get("f")).isEqualTo("3");
            j.set("s", "abc");
            assertThatThrownBy(() -> j.incr("s"))
                    .isInstanceOf(JedisDataException.class)
                    .hasMessage("ERR value is not an integer or out of range");
            j.set("max", Long.toString(Long.MAX_VALUE));
            assertThatThrownBy(() -> j.incr("max")).hasMessage("ERR increment or decrement would overflow");
            assertThat(j.mset("a", "1", "b", "2")).isEqualTo("OK");
            assertThat(j.mget("a", "nope", "b")).containsExactly("1", null, "2");
            assertThat(j.msetnx("a", "9", "z", "9")).isZero();
            assertThat(j.get("z")).isNull();
            assertThat(j.msetnx("y", "9", "z", "9")).isEqualTo(1);
        }
    }

    @ParameterizedTest
    @EnumSource(RedisProtocol.class)
    void expiry(RedisProtocol protocol) {
        try (Jedis j = connect(protocol)) {
            j.set("k", "v");
            assertThat(j.ttl("k")).isEqualTo(-1);
            assertThat(j.ttl("nope")).isEqualTo(-2);
            assertThat(j.expire("k", 100)).isEqualTo(1);
            assertThat(j.ttl("k")).isBetween(99L, 100L);
            assertThat(j.pttl("k")).isBetween(98_000L, 100_000L);
            assertThat(j.expireTime("k")).isGreaterThan(System.currentTimeMillis() / 1000);
            // INCR and APPEND keep the TTL, SET drops it, as in Redis
            j.set("n", "1", SetParams.setParams().ex(50));
            j.incr("n");
            j.append("n", "0");
            assertThat(j.get("n")).isEqualTo("20");
            assertThat(j.ttl("n")).isBetween(49L, 50L);
            assertThat(j.persist("n")).isEqualTo(1);
            assertThat(j.ttl("n")).isEqualTo(-1);
            j.sendCommand(Protocol.Command.PSETEX, "p", "50", "x");
            org.awaitility.Awaitility.await()
                    .atMost(java.time.Duration.ofSeconds(5))
                    .until(() -> j.get("p") == null);
            j.set("k2", "v", SetParams.setParams().px(10_000));
            assertThat(j.set("k2", "w", SetParams.setParams().keepTtl())).isEqualTo("OK");
            assertThat(j.pttl("k2")).isPositive();
            assertThat(j.expire("k2", -1)).isEqualTo(1); // a past expiry deletes
            assertThat(j.exists("k2")).isFalse();
        }
    }

    @ParameterizedTest
    @EnumSource(RedisProtocol.class)
    void scanVisitsEveryKeyOnce(RedisProtocol protocol) {
        try (Jedis j = connect(protocol)) {
            for (int i = 0; i < 95; i++) j.set("key:" + i, "v");
            j.set("other", "v");
            Set<String> seen = new HashSet<>();
            String cursor = ScanParams.SCAN_POINTER_START;
            int rounds = 0;
            do {
                ScanResult<String> r =
                        j.scan(cursor, new ScanParams().match("key:*").count(10));
                for (String k : r.getResult())
                    assertThat(seen.add(k)).as("seen twice: %s", k).isTrue();
                cursor = r.getCursor();
                assertThat(++rounds).isLessThan(100);
            } while (!cursor.equals("0"));
            assertThat(seen).hasSize(95);
        }
    }

    @ParameterizedTest
    @EnumSource(RedisProtocol.class)
    void multiExecAndWatchConflict(RedisProtocol protocol) {
        try (Jedis j = connect(protocol);
                Jedis other = connect(protocol)) {
            Transaction t = j.multi();
            t.set("a", "1");
            t.incr("a");
            t.get("a");
            List<Object> results = t.exec();
            assertThat(results).hasSize(3);
            assertThat(results.get(1)).isEqualTo(2L);
            assertThat(results.get(2)).isEqualTo("2");

            j.watch("a");
            other.set("a", "changed");
            Transaction lost = j.multi();
            lost.set("a", "mine");
            assertThat(lost.exec()).isNull();
            assertThat(j.get("a")).isEqualTo("changed");

            j.watch("a");
            Transaction won = j.multi();
            won.set("a", "mine");
            assertThat(won.exec()).containsExactly("OK");
            assertThat(other.get("a")).isEqualTo("mine");
        }
    }

    @ParameterizedTest
    @EnumSource(RedisProtocol.class)
    void redisErrorWording(RedisProtocol protocol) {
        try (Jedis j = connect(protocol)) {
            assertThatThrownBy(() -> j.sendCommand(() -> "FOO".getBytes(), "a", "b"))
                    .hasMessage("ERR unknown command 'FOO', with args beginning with: 'a' 'b' ");
            assertThatThrownBy(() -> j.sendCommand(Protocol.Command.GET))
                    .hasMessage("ERR wrong number of arguments for 'get' command");
            assertThatThrownBy(() -> j.sendCommand(Protocol.Command.SET, "k", "v", "BOGUS"))
                    .hasMessage("ERR syntax error");
            assertThatThrownBy(() -> j.select(1)).hasMessage("ERR DB index is out of range");
            assertThat(j.select(0)).isEqualTo("OK");
        }
    }

    @ParameterizedTest
    @EnumSource(RedisProtocol.class)
    void clientCommands(RedisProtocol protocol) {
        try (Jedis a = connect(protocol);
                Jedis b = connect(protocol)) {
            assertThat(a.clientSetname("worker-1")).isEqualTo("OK");
            assertThat(a.clientGetname()).isEqualTo("worker-1");
            assertThatThrownBy(() -> a.clientSetname("has space")).hasMessageStartingWith("ERR Client names cannot");
            long id = a.clientId();
            assertThat(b.clientList()).contains("id=" + id + " ", "name=worker-1 ");
            assertThat(b.sendCommand(Protocol.Command.CLIENT, "KILL", "ID", Long.toString(id)))
                    .isEqualTo(1L);
            assertThatThrownBy(a::ping).isInstanceOf(redis.clients.jedis.exceptions.JedisConnectionException.class);
            assertThat(b.sendCommand(Protocol.Command.CLIENT, "KILL", "ID", Long.toString(id)))
                    .isEqualTo(0L);
            assertThat(b.ping()).isEqualTo("PONG");
        }
    }
}
