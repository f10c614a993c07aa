package dev.caskade.server;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Rules, access levels and credentials, without a server. */
class AccessTest {
    static byte[] b(String s) {
        return s.getBytes(UTF_8);
    }

    @Test
    void theLongestMatchingPrefixDecides() {
        User u = new User(
                "u",
                null,
                null,
                List.of(
                        Rule.of("", Access.READ),
                        Rule.of("a/", Access.WRITE),
                        Rule.of("a/b/", Access.NONE),
                        Rule.of("a/b/c", Access.ADMIN)));
        assertThat(u.access(b("x"))).isEqualTo(Access.READ);
        assertThat(u.access(b(""))).isEqualTo(Access.READ);
        assertThat(u.access(b("a/"))).isEqualTo(Access.WRITE);
        assertThat(u.access(b("a/x"))).isEqualTo(Access.WRITE);
        assertThat(u.access(b("a/b"))).isEqualTo(Access.WRITE);
        assertThat(u.access(b("a/b/"))).isEqualTo(Access.NONE);
        assertThat(u.access(b("a/b/cd"))).isEqualTo(Access.ADMIN);
        assertThat(u.can(Access.READ, b("a/b/c"))).isTrue();
        assertThat(u.can(Access.WRITE, b("x"))).isFalse();
        // over a whole prefix: the narrower rules under it count too
        assertThat(u.canAll(Access.READ, b("a/"))).isFalse();
        assertThat(u.canAll(Access.READ, b("a/x"))).isTrue();
        assertThat(u.canAll(Access.READ, b("a/b/c"))).isTrue();
        assertThat(u.canAll(Access.READ, b(""))).isFalse();
        assertThat(u.admin()).isFalse();
        assertThat(new User("n", null, null, List.of()).access(b("x"))).isEqualTo(Access.NONE);
        assertThat(User.OPEN.admin()).isTrue();
        assertThat(new User("r", null, null, List.of(Rule.of("", Access.ADMIN), Rule.of("z", Access.WRITE))).admin())
                .isFalse();
        // keys are bytes: a prefix matches bytes, not characters
        User bytes = new User("b", null, null, List.of(new Rule(new byte[] {(byte) 0xff}, Access.WRITE)));
        assertThat(bytes.can(Access.WRITE, new byte[] {(byte) 0xff, 0})).isTrue();
        assertThat(bytes.can(Access.READ, new byte[] {(byte) 0xfe})).isFalse();
    }

    @Test
    void levelsIncludeTheOnesBelow() {
        assertThat(Access.ADMIN.includes(Access.WRITE)).isTrue();
        assertThat(Access.WRITE.includes(Access.READ)).isTrue();
        assertThat(Access.READ.includes(Access.WRITE)).isFalse();
        assertThat(Access.NONE.includes(Access.READ)).isFalse();
        assertThat(Access.parse("Write")).isEqualTo(Access.WRITE);
        assertThatThrownBy(() -> Access.parse("root")).hasMessageContaining("none, read, write, admin");
    }

    @Test
    void credentialsRoundTripAndCompare() {
        Credential.Pbkdf2 p = Credential.password("pässword", 1000);
        Credential parsed = Credential.parse(p.encoded());
        assertThat(parsed).isEqualTo(p);
        assertThat(parsed.matches("pässword")).isTrue();
        assertThat(parsed.matches("password")).isFalse();
        assertThat(parsed.matches("")).isFalse();
        assertThat(p.encoded()).matches("pbkdf2-sha256:1000:[0-9a-f]{32}:[0-9a-f]{64}");
        assertThat(Credential.password("same", 1000))
                .as("a fresh salt each time")
                .isNotEqualTo(Credential.password("same", 1000));
        String token = Credential.newToken();
        assertThat(token).matches("cask_[A-Za-z0-9_-]{43}");
        assertThat(Credential.parse(Credential.token(token).encoded()).matches(token))
                .isTrue();
        assertThat(Credential.token(token).matches(token + "x")).isFalse();
        assertThat(p.toString() + Credential.token(token)).isEqualTo("pbkdf2-sha256:<redacted>sha256:<redacted>");
        assertThatThrownBy(() -> Credential.parse("pbkdf2-sha256:10:00112233445566778899:" + "00".repeat(32)))
                .hasMessageContaining("iterations must be in 1000..");
        assertThatThrownBy(() -> Credential.parse("md5:abc")).hasMessageContaining("not a hash made by");
        assertThatThrownBy(() -> Credential.password("", 1000)).hasMessage("the password is empty");
    }

    @Test
    void usersLogInWithPasswordOrTokenAndFindBearers() {
        Users users = AuthFixture.USERS;
        assertThat(users.login("app", "app-pw")).map(User::name).contains("app");
        assertThat(users.login("app", "app-pw"))
                .as("again, from the cache")
                .map(User::name)
                .contains("app");
        assertThat(users.login("app", "app-pw ")).isEmpty();
        assertThat(users.login("app", AuthFixture.APP_TOKEN)).map(User::name).contains("app");
        assertThat(users.login("admin", "app-pw")).isEmpty();
        assertThat(users.login("ghost", "app-pw")).isEmpty();
        assertThat(users.login("scraper", "")).isEmpty();
        assertThat(users.bearer(AuthFixture.SCRAPER_TOKEN)).map(User::name).contains("scraper");
        assertThat(users.bearer("app-pw")).isEmpty();
        assertThat(Users.NONE.isEmpty()).isTrue();
        assertThat(Users.of(List.of())).isSameAs(Users.NONE);
        assertThatThrownBy(() -> Users.of(List.of(User.OPEN, User.OPEN))).hasMessage("two users are named default");
    }
}
