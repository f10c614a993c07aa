package dev.caskade.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.caskade.Durability;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The config file, the environment, and their precedence: flag > environment > file > default. */
class ServerConfigTest {
    static final String HASH =
            Credential.password("s3cret-pw", Credential.MIN_ITERATIONS).encoded();
    static final String TOKEN = "cask_the-token";
    static final String TOKEN_HASH = Credential.token(TOKEN).encoded();

    @TempDir
    Path dir;

    private Path file(String yaml) throws Exception {
        return Files.writeString(dir.resolve("caskade.yaml"), yaml);
    }

    private String full() {
        return """
                data: store
                bind: 0.0.0.0
                resp-port: 7001
                http-port: "7002"
                durability: interval:250
                insecure: false
                tls: { cert: tls/cert.pem, key: /etc/caskade/key.pem }
                users:
                  - name: app
                    password: "%s"
                    token: "%s"
                    rules:
                      - { prefix: "app/", access: write }
                      - { prefix: "", access: read }
                  - name: ops
                    token: "%s"
                """.formatted(HASH, TOKEN_HASH, Credential.token("other").encoded());
    }

    @Test
    void readsEveryKeyAndResolvesPathsAgainstTheFilesDirectory() throws Exception {
        ServerConfig c = ServerConfig.load(file(full()));
        assertThat(c.data()).isEqualTo(dir.resolve("store"));
        assertThat(c.bind()).isEqualTo("0.0.0.0");
        assertThat(c.respPort()).isEqualTo(7001);
        assertThat(c.httpPort()).isEqualTo(7002);
        assertThat(c.durability()).isEqualTo(Durability.interval(Duration.ofMillis(250)));
        assertThat(c.insecure()).isFalse();
        assertThat(c.tlsCert()).isEqualTo(dir.resolve("tls/cert.pem"));
        assertThat(c.tlsKey()).isEqualTo(Path.of("/etc/caskade/key.pem"));
        User app = c.users().find("app").orElseThrow();
        assertThat(app.password().matches("s3cret-pw")).isTrue();
        assertThat(app.token().matches(TOKEN)).isTrue();
        assertThat(app.access("app/x".getBytes())).isEqualTo(Access.WRITE);
        assertThat(app.access("zzz".getBytes())).isEqualTo(Access.READ);
        assertThat(c.users().find("ops").orElseThrow().rules()).isEmpty();
        Server.Options o = c.options();
        assertThat(o.tls()).isEqualTo(new Tls(dir.resolve("tls/cert.pem"), Path.of("/etc/caskade/key.pem")));
        assertThat(o.users().list()).hasSize(2);
    }

    @Test
    void toStringShowsNoSecret() throws Exception {
        ServerConfig c = ServerConfig.load(file(full()));
        String text = c.toString() + c.users() + c.options();
        assertThat(text).contains("app").contains("'app/'=write");
        assertThat(text)
                .doesNotContain(HASH.substring(HASH.lastIndexOf(':') + 1))
                .doesNotContain(HASH.split(":")[2])
                .doesNotContain(TOKEN_HASH.substring(7))
                .doesNotContain(TOKEN);
    }

    @Test
    void precedenceIsFlagThenEnvironmentThenFileThenDefault() throws Exception {
        ServerConfig fromFile = ServerConfig.load(file("""
                resp-port: 7001
                http-port: 7002
                durability: none
                bind: 127.0.0.2
                """));
        ServerConfig env = ServerConfig.fromEnvironment(Map.of(
                "CASKADE_HTTP_PORT", "8002",
                "CASKADE_DURABILITY", "interval:50",
                "CASKADE_DATA", "",
                "UNRELATED", "x"));
        ServerConfig flags = new ServerConfig(null, null, null, 9002, null, null, null, null, null);
        Server.Options o = flags.over(env).over(fromFile).options();
        assertThat(o.httpPort()).as("flag over env and file").isEqualTo(9002);
        assertThat(o.durability()).as("env over file").isEqualTo(Durability.interval(Duration.ofMillis(50)));
        assertThat(o.respPort()).as("file over default").isEqualTo(7001);
        assertThat(o.bind()).isEqualTo("127.0.0.2");
        assertThat(o.data()).as("default; an empty variable is not set").isEqualTo(Path.of("caskade-data"));
        assertThat(o.insecure()).isFalse();
        assertThat(o.users().isEmpty()).isTrue();
        assertThat(o.tls()).isNull();
        assertThat(ServerConfig.EMPTY.options()).isEqualTo(Server.Options.defaults());
        // every variable
        ServerConfig all = ServerConfig.fromEnvironment(Map.of(
                "CASKADE_DATA", "/d",
                "CASKADE_BIND", "::1",
                "CASKADE_RESP_PORT", "1",
                "CASKADE_HTTP_PORT", "2",
                "CASKADE_DURABILITY", "sync",
                "CASKADE_INSECURE", "true",
                "CASKADE_TLS_CERT", "/c.pem",
                "CASKADE_TLS_KEY", "/k.pem"));
        assertThat(all)
                .isEqualTo(new ServerConfig(
                        Path.of("/d"), "::1", 1, 2, Durability.SYNC, true, Path.of("/c.pem"), Path.of("/k.pem"), null));
    }

    @Test
    void unknownKeysAreErrorsNamingTheKeyAndTheFile() throws Exception {
        Path f = file("resp-port: 1\nhtpp-port: 2\n");
        assertThatThrownBy(() -> ServerConfig.load(f))
                .hasMessageStartingWith(f + ": unknown key 'htpp-port' (known keys: data, bind, resp-port,");
        Path nested = file("users:\n  - name: app\n    pasword: x\n");
        assertThatThrownBy(() -> ServerConfig.load(nested))
                .hasMessage(nested + ": unknown key 'pasword' in users[0] (known keys: name, password, token, rules)");
        Path rule = file("users:\n  - name: app\n    token: \"" + TOKEN_HASH
                + "\"\n    rules:\n      - { prefix: a, acess: read }\n");
        assertThatThrownBy(() -> ServerConfig.load(rule))
                .hasMessageContaining("unknown key 'acess' in users[0] (app).rules[0]");
        Path tls = file("tls: { cert: a, key: b, password: c }\n");
        assertThatThrownBy(() -> ServerConfig.load(tls)).hasMessageContaining("unknown key 'password' in tls");
    }

    @Test
    void badValuesNameTheirField() throws Exception {
        record Case(String yaml, String message) {}
        for (Case c : new Case[] {
            new Case("resp-port: 70000", "resp-port must be a port number in 0..65535, got 70000"),
            new Case("http-port: web", "http-port must be a port number in 0..65535, got 'web'"),
            new Case("http-port: [1]", "http-port must be a port number in 0..65535"),
            new Case("durability: fast", "durability: unknown durability: fast"),
            new Case("durability: interval:x", "durability: bad durability interval"),
            new Case("insecure: yes", "insecure must be true or false"),
            new Case("bind: { a: 1 }", "bind must be a single value, got a mapping"),
            new Case("data: ''", "data must not be empty"),
            new Case("tls: cert.pem", "tls must be a mapping"),
            new Case("users: app", "users must be a list of users"),
            new Case("users: [ { password: x } ]", "users[0].name is missing"),
            new Case("users: [ { name: app } ]", "users[0] (app) needs a password or a token"),
            new Case("users: [ { name: 'a b', token: '" + TOKEN_HASH + "' } ]", "must not contain spaces"),
            new Case("users: [ { name: app, password: '" + TOKEN_HASH + "' } ]", "must be a pbkdf2-sha256 hash"),
            new Case("users: [ { name: app, token: '" + HASH + "' } ]", "must be a sha256 hash"),
            new Case("users: [ { name: app, token: 'sha256:abc' } ]", "users[0] (app).token: malformed sha256"),
            new Case(
                    "users: [ { name: app, token: '" + TOKEN_HASH + "', rules: [ { prefix: a, access: root } ] } ]",
                    "users[0] (app).rules[0].access: access must be one of none, read, write, admin"),
            new Case(
                    "users: [ { name: app, token: '" + TOKEN_HASH + "', rules: [ { access: read } ] } ]",
                    "users[0] (app).rules[0].prefix is missing"),
            new Case(
                    "users: [ { name: app, token: '" + TOKEN_HASH
                            + "', rules: [ { prefix: a, access: read }, { prefix: a, access: write } ] } ]",
                    "two rules for the prefix 'a'"),
            new Case(
                    "users: [ { name: app, token: '" + TOKEN_HASH + "' }, { name: app, token: '" + TOKEN_HASH + "' } ]",
                    "users: two users are named app"),
            new Case("resp-port: 1\nresp-port: 2", "not valid YAML"),
            new Case("- just\n- a list", "the file must be a mapping"),
        }) {
            Path f = file(c.yaml());
            assertThatThrownBy(() -> ServerConfig.load(f))
                    .as(c.yaml())
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageStartingWith(f.toString())
                    .hasMessageContaining(c.message());
        }
    }

    @Test
    void aPasswordInClearIsRefusedWithoutRepeatingIt() throws Exception {
        Path f = file("users: [ { name: app, password: hunter2-in-clear } ]");
        assertThatThrownBy(() -> ServerConfig.load(f))
                .hasMessageContaining("users[0] (app).password: not a hash made by 'caskade passwd'")
                .message()
                .doesNotContain("hunter2-in-clear");
    }

    @Test
    void emptyFileMissingFileAndBadEnvironment() throws Exception {
        assertThat(ServerConfig.load(file(""))).isEqualTo(ServerConfig.EMPTY);
        assertThat(ServerConfig.load(file("# only a comment\n"))).isEqualTo(ServerConfig.EMPTY);
        Path missing = dir.resolve("nope.yaml");
        assertThatThrownBy(() -> ServerConfig.load(missing)).hasMessage("config file " + missing + " does not exist");
        assertThatThrownBy(() -> ServerConfig.fromEnvironment(Map.of("CASKADE_HTTP_PORT", "80a")))
                .hasMessage("CASKADE_HTTP_PORT must be a port number in 0..65535, got '80a'");
        assertThatThrownBy(() -> ServerConfig.fromEnvironment(Map.of("CASKADE_DURABILITY", "often")))
                .hasMessageStartingWith("CASKADE_DURABILITY: unknown durability");
        assertThatThrownBy(() -> ServerConfig.fromEnvironment(Map.of("CASKADE_INSECURE", "maybe")))
                .hasMessage("CASKADE_INSECURE must be true or false, got 'maybe'");
        ServerConfig halfTls = new ServerConfig(null, null, null, null, null, null, Path.of("c.pem"), null, null);
        assertThatThrownBy(halfTls::options).hasMessageContaining("only the certificate is given");
        assertThatThrownBy(() -> new ServerConfig(null, null, null, null, null, null, null, null, null)
                        .over(ServerConfig.EMPTY)
                        .over(new ServerConfig(null, null, 5, 5, null, null, null, null, null))
                        .options())
                .hasMessage("resp and http ports must differ: 5");
    }

    @Test
    void aNonLoopbackBindNeedsUsersOrInsecure() {
        Server.Options open = new Server.Options(dir, "0.0.0.0", 0, 0, Durability.NONE, false);
        assertThat(Server.refusal(open))
                .startsWith("refusing to listen on 0.0.0.0 without users: anyone who reaches it could read and"
                        + " write every key")
                .contains("--insecure")
                .contains("configure users");
        assertThat(Server.refusal(open.withUsers(AuthFixture.USERS))).isNull();
        assertThat(Server.refusal(new Server.Options(dir, "0.0.0.0", 0, 0, Durability.NONE, true)))
                .isNull();
        assertThat(Server.refusal(new Server.Options(dir, "127.0.0.1", 0, 0, Durability.NONE, false)))
                .isNull();
        assertThat(Server.refusal(new Server.Options(dir, "::1", 0, 0, Durability.NONE, false)))
                .isNull();
        assertThatThrownBy(() -> Server.start(open)).hasMessage(Server.refusal(open));
    }
}
