package dev.caskade.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.Durability;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Authentication and per-prefix access on the Redis protocol, reply by reply, in Redis 7's words. */
class RespAuthTest {
    static final String NOAUTH = "-NOAUTH Authentication required.";
    static final String WRONGPASS = "-WRONGPASS invalid username-password pair or user is disabled.";
    static final String NOPERM_KEY = "-NOPERM No permissions to access a key";

    @TempDir
    Path dir;

    Caskade db;
    RespServer server;

    @BeforeEach
    void start() {
        db = Caskade.open(dir, CaskadeOptions.defaults().withDurability(Durability.NONE));
        server = RespServer.start(db, RespOptions.defaults().withPort(0), AuthFixture.USERS, null);
    }

    @AfterEach
    void stop() {
        server.close();
        db.close();
    }

    private RespSocket client() {
        return new RespSocket(server.port());
    }

    private RespSocket as(String user, String password) {
        RespSocket c = client();
        assertThat(c.text("AUTH", user, password)).isEqualTo("OK");
        return c;
    }

    @Test
    void everyCommandButLoginQuitAndResetNeedsAuthentication() {
        db.put("pub/a", "1");
        try (RespSocket c = client()) {
            for (List<String> command : List.of(
                    List.of("GET", "pub/a"),
                    List.of("SET", "app/a", "1"),
                    List.of("PING"),
                    List.of("ECHO", "x"),
                    List.of("KEYS", "*"),
                    List.of("SCAN", "0"),
                    List.of("DBSIZE"),
                    List.of("INFO"),
                    List.of("CONFIG", "GET", "*"),
                    List.of("CLIENT", "SETNAME", "x"),
                    List.of("CLIENT", "LIST"),
                    List.of("FLUSHDB"),
                    List.of("SELECT", "0"),
                    List.of("MULTI"),
                    List.of("EXEC"),
                    List.of("WATCH", "pub/a"),
                    List.of("ACL", "WHOAMI"),
                    List.of("CASKADE.REVISION"),
                    List.of("CASKADE.GET", "pub/a"))) {
                assertThat(c.text(command.toArray(String[]::new)))
                        .as("%s", command)
                        .isEqualTo(NOAUTH);
            }
            assertThat(c.text("HELLO", "3"))
                    .startsWith("-NOAUTH HELLO must be called with the client already authenticated");
            assertThat(c.text("HELLO")).startsWith("-NOAUTH HELLO must be called");
            // an unknown command is refused as unknown first, as in Redis
            assertThat(c.text("NOSUCH")).startsWith("-ERR unknown command 'NOSUCH'");
            assertThat(c.text("RESET")).isEqualTo("RESET");
            assertThat(c.text("QUIT")).isEqualTo("OK");
        }
        assertThat(db.get("app/a")).isEmpty();
    }

    @Test
    void wrongCredentialsAreRefusedAndLeaveTheConnectionAsItWas() {
        try (RespSocket c = client()) {
            assertThat(c.text("AUTH", "app", "wrong")).isEqualTo(WRONGPASS);
            assertThat(c.text("AUTH", "nobody", "app-pw")).isEqualTo(WRONGPASS);
            assertThat(c.text("AUTH", "app", "")).isEqualTo(WRONGPASS);
            assertThat(c.text("AUTH", "app-pw"))
                    .as("one argument is the user 'default'")
                    .isEqualTo(WRONGPASS);
            assertThat(c.text("AUTH", "scraper", "not-the-token")).isEqualTo(WRONGPASS);
            assertThat(c.text("HELLO", "3", "AUTH", "app", "wrong")).isEqualTo(WRONGPASS);
            assertThat(c.text("AUTH", "a", "b", "c")).isEqualTo("-ERR syntax error");
            assertThat(c.text("GET", "pub/a")).isEqualTo(NOAUTH);
            // a failed AUTH does not log out who was logged in
            assertThat(c.text("AUTH", "app", "app-pw")).isEqualTo("OK");
            assertThat(c.text("AUTH", "app", "wrong")).isEqualTo(WRONGPASS);
            assertThat(c.text("ACL", "WHOAMI")).isEqualTo("app");
        }
    }

    @Test
    void passwordTokenOneArgumentAuthAndHello() {
        try (RespSocket c = client()) {
            assertThat(c.text("AUTH", "default-pw")).isEqualTo("OK");
            assertThat(c.text("ACL", "WHOAMI")).isEqualTo("default");
        }
        try (RespSocket c = client()) {
            assertThat(c.text("AUTH", "app", AuthFixture.APP_TOKEN))
                    .as("the token works as a password")
                    .isEqualTo("OK");
            assertThat(c.text("ACL", "WHOAMI")).isEqualTo("app");
        }
        try (RespSocket c = client()) {
            Object hello = c.call("HELLO", "2", "AUTH", "admin", "admin-pw", "SETNAME", "tool");
            assertThat(hello)
                    .asInstanceOf(org.assertj.core.api.InstanceOfAssertFactories.LIST)
                    .contains("proto", 2L);
            assertThat(c.text("ACL", "WHOAMI")).isEqualTo("admin");
            assertThat(c.text("CLIENT", "GETNAME")).isEqualTo("tool");
            assertThat(c.text("CLIENT", "LIST")).contains("name=tool").contains("user=admin");
            // RESET logs out when the server has users
            assertThat(c.text("RESET")).isEqualTo("RESET");
            assertThat(c.text("GET", "x")).isEqualTo(NOAUTH);
        }
    }

    @Test
    void rulesDecidePerKeyForReadsAndWrites() {
        db.put("pub/a", "p");
        db.put("app/secret/s", "s");
        db.put("other", "o");
        try (RespSocket c = as("app", "app-pw")) {
            assertThat(c.text("SET", "app/a", "1")).isEqualTo("OK");
            assertThat(c.text("GET", "app/a")).isEqualTo("1");
            assertThat(c.text("GET", "pub/a")).isEqualTo("p");
            assertThat(c.text("TTL", "pub/a")).isEqualTo("-1");
            assertThat(c.text("CASKADE.GET", "pub/a")).startsWith("[p, ");
            // read-only prefix: every kind of write is refused
            for (List<String> write : List.of(
                    List.of("SET", "pub/a", "x"),
                    List.of("APPEND", "pub/a", "x"),
                    List.of("INCR", "pub/n"),
                    List.of("DEL", "pub/a"),
                    List.of("GETDEL", "pub/a"),
                    List.of("GETSET", "pub/a", "x"),
                    List.of("EXPIRE", "pub/a", "100"),
                    List.of("PERSIST", "pub/a"),
                    List.of("SETRANGE", "pub/a", "0", "x"),
                    List.of("CASKADE.CAS", "pub/a", "0", "x"))) {
                assertThat(c.text(write.toArray(String[]::new))).as("%s", write).isEqualTo(NOPERM_KEY);
            }
            // no access at all: the longest prefix (app/secret/ = none) beats app/ = write
            assertThat(c.text("GET", "app/secret/s")).isEqualTo(NOPERM_KEY);
            assertThat(c.text("SET", "app/secret/s", "x")).isEqualTo(NOPERM_KEY);
            assertThat(c.text("EXISTS", "app/secret/s")).isEqualTo(NOPERM_KEY);
            assertThat(c.text("STRLEN", "other")).isEqualTo(NOPERM_KEY);
            assertThat(c.text("GET", "other")).isEqualTo(NOPERM_KEY);
            assertThat(c.text("WATCH", "other")).isEqualTo(NOPERM_KEY);
        }
        assertThat(db.get("pub/a").orElseThrow().valueString()).isEqualTo("p");
        assertThat(db.get("pub/n")).isEmpty();
        assertThat(db.get("app/secret/s").orElseThrow().valueString()).isEqualTo("s");
    }

    @Test
    void aCommandOnSeveralKeysNeedsAccessToEveryOne() {
        db.put("pub/a", "p");
        db.put("other", "o");
        try (RespSocket c = as("app", "app-pw")) {
            assertThat(c.text("MSET", "app/a", "1", "app/b", "2")).isEqualTo("OK");
            assertThat(c.text("MSET", "app/c", "1", "pub/c", "2")).isEqualTo(NOPERM_KEY);
            assertThat(c.text("MSETNX", "app/c", "1", "pub/c", "2")).isEqualTo(NOPERM_KEY);
            assertThat(c.text("MGET", "app/a", "pub/a")).isEqualTo("[1, p]");
            assertThat(c.text("MGET", "app/a", "other")).isEqualTo(NOPERM_KEY);
            assertThat(c.text("EXISTS", "app/a", "other")).isEqualTo(NOPERM_KEY);
            assertThat(c.text("DEL", "app/a", "pub/a")).isEqualTo(NOPERM_KEY);
            assertThat(c.text("UNLINK", "app/a", "other")).isEqualTo(NOPERM_KEY);
            // RENAME writes both keys; COPY reads its source and writes its destination
            assertThat(c.text("RENAME", "app/a", "pub/z")).isEqualTo(NOPERM_KEY);
            assertThat(c.text("RENAME", "pub/a", "app/z")).isEqualTo(NOPERM_KEY);
            assertThat(c.text("RENAMENX", "pub/a", "app/z")).isEqualTo(NOPERM_KEY);
            assertThat(c.text("COPY", "app/a", "pub/z")).isEqualTo(NOPERM_KEY);
            assertThat(c.text("COPY", "other", "app/z")).isEqualTo(NOPERM_KEY);
            assertThat(c.text("COPY", "pub/a", "app/z")).isEqualTo("1");
            assertThat(c.text("RENAME", "app/z", "app/y")).isEqualTo("OK");
            assertThat(c.text("WATCH", "app/a", "other")).isEqualTo(NOPERM_KEY);
            assertThat(c.text("WATCH", "app/a", "pub/a")).isEqualTo("OK");
        }
        assertThat(db.get("app/c")).isEmpty();
        assertThat(db.get("pub/z")).isEmpty();
        assertThat(db.get("app/a")).isPresent();
        assertThat(db.get("pub/a")).isPresent();
        assertThat(db.get("app/y").orElseThrow().valueString()).isEqualTo("p");
    }

    @Test
    void aDeniedCommandInsideMultiAbortsTheTransaction() {
        try (RespSocket c = as("app", "app-pw")) {
            assertThat(c.text("MULTI")).isEqualTo("OK");
            assertThat(c.text("SET", "app/t", "1")).isEqualTo("QUEUED");
            assertThat(c.text("SET", "pub/t", "1")).isEqualTo(NOPERM_KEY);
            assertThat(c.text("EXEC")).startsWith("-EXECABORT");
            assertThat(c.text("MULTI")).isEqualTo("OK");
            assertThat(c.text("FLUSHDB")).startsWith("-NOPERM User app has no permissions to run the 'flushdb'");
            assertThat(c.text("EXEC")).startsWith("-EXECABORT");
        }
        assertThat(db.get("app/t")).isEmpty();
        // an AUTH queued in MULTI changes the user for what follows it: the later commands are checked again
        db.put("other", "o");
        try (RespSocket c = as("admin", "admin-pw")) {
            assertThat(c.text("MULTI")).isEqualTo("OK");
            assertThat(c.text("AUTH", "app", "app-pw")).isEqualTo("QUEUED");
            assertThat(c.text("GET", "other")).isEqualTo("QUEUED");
            assertThat(c.text("EXEC")).isEqualTo("[OK, " + NOPERM_KEY + "]");
        }
    }

    @Test
    void serverWideCommandsNeedAdminOverTheWholeKeySpace() {
        db.put("pub/a", "p");
        String[][] adminOnly = {
            {"FLUSHDB"}, {"FLUSHALL"}, {"CLIENT", "LIST"}, {"CLIENT", "KILL", "ID", "999"},
            {"CONFIG", "SET", "timeout", "0"}, {"CONFIG", "RESETSTAT"}, {"ACL", "LIST"}, {"ACL", "USERS"}
        };
        for (String user : List.of("app", "default", "boss")) {
            try (RespSocket c = as(user, user + "-pw")) {
                for (String[] command : adminOnly) {
                    String name = (command.length > 1 && !command[0].startsWith("FLUSH")
                                    ? command[0] + "|" + command[1]
                                    : command[0])
                            .toLowerCase(java.util.Locale.ROOT);
                    assertThat(c.text(command))
                            .as("%s %s", user, String.join(" ", command))
                            .isEqualTo(
                                    "-NOPERM User " + user + " has no permissions to run the '" + name + "' command");
                }
                // connection-level and informational commands need only a login
                assertThat(c.text("PING")).isEqualTo("PONG");
                assertThat(c.text("CLIENT", "ID")).matches("\\d+");
                assertThat(c.text("CLIENT", "SETNAME", "n")).isEqualTo("OK");
                assertThat(c.text("CONFIG", "GET", "maxclients")).startsWith("[maxclients");
                assertThat(c.text("INFO", "server")).contains("redis_version");
                assertThat(c.text("DBSIZE")).isEqualTo("1");
                assertThat(c.text("ACL", "WHOAMI")).isEqualTo(user);
            }
        }
        assertThat(db.get("pub/a")).isPresent();
        try (RespSocket c = as("admin", "admin-pw")) {
            assertThat(c.text("ACL", "USERS")).isEqualTo("[admin, app, default, boss, scraper]");
            String list = c.text("ACL", "LIST");
            assertThat(list).contains("user app on password token 'app/secret/'=none 'app/'=write 'pub/'=read");
            assertThat(list).doesNotContain("pbkdf2").doesNotContain("sha256");
            assertThat(c.text("FLUSHDB")).isEqualTo("OK");
        }
        assertThat(db.get("pub/a")).isEmpty();
    }

    @Test
    void keysAndScanShowOnlyReadableKeys() {
        for (String k : List.of("app/1", "app/2", "app/secret/x", "other/1", "pub/1", "zzz")) db.put(k, "v");
        try (RespSocket c = as("app", "app-pw")) {
            assertThat(c.text("KEYS", "*")).isEqualTo("[app/1, app/2, pub/1]");
            assertThat(c.text("KEYS", "app/*")).isEqualTo("[app/1, app/2]");
            // SCAN walks every key in pages but returns only the readable ones
            List<String> seen = new java.util.ArrayList<>();
            String cursor = "0";
            for (int page = 0; page < 20; page++) {
                @SuppressWarnings("unchecked")
                List<Object> reply = (List<Object>) c.call("SCAN", cursor, "COUNT", "2");
                cursor = (String) reply.get(0);
                for (Object k : (List<?>) reply.get(1)) seen.add((String) k);
                if (cursor.equals("0")) break;
            }
            assertThat(cursor).isEqualTo("0");
            assertThat(seen).containsExactly("app/1", "app/2", "pub/1");
        }
        try (RespSocket c = as("admin", "admin-pw")) {
            assertThat(c.text("KEYS", "*")).isEqualTo("[app/1, app/2, app/secret/x, other/1, pub/1, zzz]");
        }
    }

    @Test
    void aUserWithoutRulesCanLogInButTouchNoKey() {
        try (RespSocket c = as("scraper", AuthFixture.SCRAPER_TOKEN)) {
            assertThat(c.text("PING")).isEqualTo("PONG");
            assertThat(c.text("GET", "x")).isEqualTo(NOPERM_KEY);
            assertThat(c.text("SET", "x", "1")).isEqualTo(NOPERM_KEY);
            assertThat(c.text("KEYS", "*")).isEqualTo("[]");
        }
    }

    @Test
    void channelsAndWatchesFollowTheKeyRules() {
        try (RespSocket c = as("app", "app-pw")) {
            // app reads pub/ and writes app/ (not app/secret/): channels are checked as keys of the same name
            assertThat(c.text("PUBLISH", "pub/news", "x")).isEqualTo("-NOPERM No permissions to access a channel");
            assertThat(c.text("PUBLISH", "app/news", "x")).isEqualTo("0");
            assertThat(c.text("SUBSCRIBE", "other")).isEqualTo("-NOPERM No permissions to access a channel");
            assertThat(c.text("PSUBSCRIBE", "app/*")).isEqualTo("-NOPERM No permissions to access a channel");
            assertThat(c.text("PSUBSCRIBE", "__keyspace@0__:*"))
                    .isEqualTo("-NOPERM No permissions to access a channel");
            assertThat(c.text("CASKADE.WATCH", "app/", "0")).isEqualTo("-NOPERM No permissions to access a key");
            // allowed: it gets as far as the protocol check (watch streams need RESP3)
            assertThat(c.text("CASKADE.WATCH", "pub/", "0")).startsWith("-ERR").contains("HELLO 3");
        }
    }
}
