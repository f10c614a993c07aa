package dev.caskade.server;

import java.util.List;

/**
 * The users the auth tests share. Password hashes use few PBKDF2 iterations so that tests stay fast (the
 * iterations are part of the hash, exactly as in a real config).
 */
final class AuthFixture {
    static final String APP_TOKEN = Credential.newToken();
    static final String SCRAPER_TOKEN = Credential.newToken();

    /**
     * admin: everything. app: writes app/, reads pub/, nothing under app/secret/ nor elsewhere. default: reads
     * everything ({@code AUTH password}). boss: admin except a read-only logs/ (so not a server admin).
     * scraper: a token and no rules at all.
     */
    static final Users USERS = Users.of(List.of(
            new User("admin", pw("admin-pw"), null, List.of(Rule.of("", Access.ADMIN))),
            new User(
                    "app",
                    pw("app-pw"),
                    Credential.token(APP_TOKEN),
                    List.of(
                            Rule.of("app/", Access.WRITE),
                            Rule.of("pub/", Access.READ),
                            Rule.of("app/secret/", Access.NONE))),
            new User("default", pw("default-pw"), null, List.of(Rule.of("", Access.READ))),
            new User("boss", pw("boss-pw"), null, List.of(Rule.of("", Access.ADMIN), Rule.of("logs/", Access.READ))),
            new User("scraper", null, Credential.token(SCRAPER_TOKEN), List.of())));

    private AuthFixture() {}

    static Credential pw(String password) {
        return Credential.password(password, Credential.MIN_ITERATIONS);
    }
}
