package dev.caskade.cli;

import static dev.caskade.cli.Invocation.run;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(60)
class CommandsTest {

    @TempDir
    Path dir;

    private String data() {
        return dir.resolve("store").toString();
    }

    @Test
    void putGetDelRoundTrip() {
        Invocation put = run("put", "--data", data(), "user/1", "alice");
        assertThat(put.code()).as("%s", put).isZero();
        assertThat(put.out()).isEqualTo("1\n");
        assertThat(put.err()).isEmpty();

        assertThat(run("put", "--data", data(), "user/1", "alice2").out()).isEqualTo("2\n");

        Invocation get = run("get", "--data", data(), "user/1");
        assertThat(get.code()).as("%s", get).isZero();
        assertThat(get.out()).isEqualTo("alice2\n");

        Invocation del = run("del", "--data", data(), "user/1");
        assertThat(del.code()).as("%s", del).isZero();
        assertThat(del.out()).isEqualTo("3\n");

        Invocation missing = run("get", "--data", data(), "user/1");
        assertThat(missing.code()).as("%s", missing).isEqualTo(1);
        assertThat(missing.out()).isEmpty();
        assertThat(missing.err()).contains("not found").contains("user/1");

        Invocation delAgain = run("del", "--data", data(), "user/1");
        assertThat(delAgain.code()).as("%s", delAgain).isEqualTo(1);
        assertThat(delAgain.out()).isEmpty();
        assertThat(delAgain.err()).contains("not found");
        // a delete of a missing key writes nothing: the next commit is revision 4
        assertThat(run("put", "--data", data(), "k", "v").out()).isEqualTo("4\n");
    }

    @Test
    void readsDoNotCreateAStore() {
        for (String command : new String[] {"get", "del"}) {
            Invocation r = run(command, "--data", data(), "k");
            assertThat(r.code()).as("%s", r).isEqualTo(1);
            assertThat(r.out()).isEmpty();
        }
        for (String command : new String[] {"scan", "stats", "verify", "merge"}) {
            Invocation r = run(command, "--data", data());
            assertThat(r.code()).as("%s", r).isEqualTo(1);
            assertThat(r.err()).contains("no store at");
        }
        assertThat(Files.exists(Path.of(data()))).isFalse();
    }

    @Test
    void scanPrintsKeysInOrderUnderThePrefix() {
        for (String key : new String[] {"b/2", "a/1", "b/1", "c", "b/3"}) {
            assertThat(run("put", "--data", data(), key, "v-" + key).code()).isZero();
        }
        Invocation all = run("scan", "--data", data());
        assertThat(all.code()).as("%s", all).isZero();
        assertThat(all.out()).isEqualTo("a/1\tv-a/1\nb/1\tv-b/1\nb/2\tv-b/2\nb/3\tv-b/3\nc\tv-c\n");

        assertThat(run("scan", "--data", data(), "b/").out()).isEqualTo("b/1\tv-b/1\nb/2\tv-b/2\nb/3\tv-b/3\n");
        assertThat(run("scan", "--data", data(), "b/", "--limit", "2").out()).isEqualTo("b/1\tv-b/1\nb/2\tv-b/2\n");
        assertThat(run("scan", "--data", data(), "zzz").out()).isEmpty();

        Invocation json = run("scan", "--data", data(), "b/", "--json", "--limit", "1");
        assertThat(json.out()).isEqualTo("{\"key\":\"b/1\",\"value\":\"v-b/1\",\"revision\":3,\"expiresAt\":0}\n");
    }

    @Test
    void jsonOutputIsEscapedAndCarriesRevisionAndExpiry() {
        String value = "say \"hi\"\\\n\ttab é ✓ 😀";
        Invocation put = run("put", "--data", data(), "--json", "k\u0001", value);
        assertThat(put.out()).isEqualTo("{\"revision\":1}\n");

        Invocation get = run("get", "--data", data(), "--json", "k\u0001");
        assertThat(get.code()).as("%s", get).isZero();
        assertThat(get.out())
                .isEqualTo("{\"key\":\"k\\u0001\",\"value\":\"say \\\"hi\\\"\\\\\\n\\ttab é ✓ 😀\","
                        + "\"revision\":1,\"expiresAt\":0}\n");

        Invocation withTtl = run("put", "--data", data(), "t", "v", "--ttl", "1h");
        assertThat(withTtl.code()).as("%s", withTtl).isZero();
        long before = System.currentTimeMillis();
        String ttlJson = run("get", "--data", data(), "--json", "t").out();
        long expiresAt = Long.parseLong(ttlJson.replaceAll("(?s).*\"expiresAt\":(\\d+)}\\s*", "$1"));
        assertThat(expiresAt).isBetween(before + 3_500_000, before + 3_600_000);
    }

    @Test
    void valuesThatAreNotUtf8AreBase64InJson() throws Exception {
        try (Caskade db = Caskade.open(Files.createDirectories(Path.of(data())))) {
            db.put("bin".getBytes(StandardCharsets.UTF_8), new byte[] {(byte) 0xff, (byte) 0xfe, 0});
        }
        Invocation get = run("get", "--data", data(), "--json", "bin");
        assertThat(get.out()).isEqualTo("{\"key\":\"bin\",\"value_base64\":\"//4A\",\"revision\":1,\"expiresAt\":0}\n");
    }

    @Test
    void ttlExpiresTheKey() {
        Invocation put = run("put", "--data", data(), "session", "s1", "--ttl", "300ms");
        assertThat(put.code()).as("%s", put).isZero();
        long written = System.currentTimeMillis();
        await().atMost(Duration.ofSeconds(10))
                .pollInterval(Duration.ofMillis(100))
                .until(() -> run("get", "--data", data(), "session").code() == 1);
        assertThat(System.currentTimeMillis() - written).isGreaterThanOrEqualTo(300);
    }

    @Test
    void badArgumentsGiveOneLineAndExit64() {
        for (String[] args : new String[][] {
            {"put", "--data", data(), "k"},
            {"put", "--data", data(), "k", "v", "--ttl", "5 parsecs"},
            {"put", "--data", data(), "k", "v", "--ttl", "0"},
            {"put", "--data", data(), "k", "v", "--durability", "often"},
            {"scan", "--data", data(), "--limit", "-1"},
            {"frobnicate"},
            {"get", "--data", data(), "k", "--colour"}
        }) {
            Invocation r = run(args);
            assertThat(r.code()).as("%s", r).isEqualTo(Main.USAGE);
            assertThat(r.out()).as("%s", r).isEmpty();
            assertThat(r.err().lines()).as("%s", r).hasSize(1);
            assertThat(r.err()).startsWith("caskade: ").doesNotContain("Exception");
        }
        assertThat(Files.exists(Path.of(data()))).isFalse();
    }

    @Test
    void durabilityOptionIsAccepted() {
        assertThat(run("put", "--data", data(), "a", "1", "--durability", "none")
                        .code())
                .isZero();
        assertThat(run("put", "--data", data(), "b", "2", "--durability", "interval:50")
                        .code())
                .isZero();
        assertThat(run("del", "--data", data(), "a", "--durability", "sync").out())
                .isEqualTo("3\n");
    }

    @Test
    void limitExceptionIsOneLine() {
        Invocation r = run("put", "--data", data(), "", "v");
        assertThat(r.code()).as("%s", r).isEqualTo(1);
        assertThat(r.err().lines()).as("%s", r).hasSize(1);
        assertThat(r.err()).startsWith("caskade: ").doesNotContain("\tat ");
    }

    @Test
    void lockedStoreIsReportedWithTheHolder() throws Exception {
        try (Caskade db = Caskade.open(Files.createDirectories(Path.of(data())))) {
            db.put("k", "v");
            for (String[] args : new String[][] {
                {"get", "--data", data(), "k"}, {"put", "--data", data(), "k", "w"}, {"verify", "--data", data()}
            }) {
                Invocation r = run(args);
                assertThat(r.code()).as("%s", r).isEqualTo(1);
                assertThat(r.out()).isEmpty();
                assertThat(r.err().lines()).as("%s", r).hasSize(1);
                assertThat(r.err())
                        .contains("locked")
                        .contains(Long.toString(ProcessHandle.current().pid()))
                        .doesNotContain("\tat ");
            }
            assertThat(db.get("k").orElseThrow().valueString()).isEqualTo("v");
        }
    }

    @Test
    void statsPrintsEveryField() {
        run("put", "--data", data(), "a", "1");
        run("put", "--data", data(), "b", "2");
        Invocation text = run("stats", "--data", data());
        assertThat(text.code()).as("%s", text).isZero();
        assertThat(text.out()).containsPattern("(?m)^revision +2$").containsPattern("(?m)^keys +2$");
        assertThat(text.out().lines()).hasSize(dev.caskade.Stats.class.getRecordComponents().length);

        Invocation json = run("stats", "--data", data(), "--json");
        assertThat(json.out()).startsWith("{\"revision\":2,\"keys\":2,").contains("\"durability\":\"");
    }

    @Test
    void mergeSaysWhetherItCompacted() throws Exception {
        // small segments so that most of them are sealed; every key overwritten many times
        CaskadeOptions small = CaskadeOptions.defaults().withSegmentBytes(4096);
        try (Caskade db = Caskade.open(Files.createDirectories(Path.of(data())), small)) {
            for (int i = 0; i < 400; i++) db.put("key-" + (i % 10), "value-" + i + "-" + "x".repeat(40));
        }
        Invocation kept = run("merge", "--data", data());
        assertThat(kept.code()).as("%s", kept).isZero();
        assertThat(kept.out()).as("%s", kept).startsWith("nothing to merge"); // all history is younger than 24h

        Invocation merged = run("merge", "--data", data(), "--history-age", "0", "--history-bytes", "0", "--json");
        assertThat(merged.code()).as("%s", merged).isZero();
        assertThat(merged.out()).as("%s", merged).startsWith("{\"merged\":true,");

        Invocation scan = run("scan", "--data", data());
        assertThat(scan.out().lines()).hasSize(10).contains("key-9\tvalue-399-" + "x".repeat(40));
        assertThat(run("verify", "--data", data()).code()).isZero();
    }

    @Test
    void versionAndHelp() {
        Invocation version = run("--version");
        assertThat(version.code()).isZero();
        assertThat(version.out()).startsWith("caskade 0.").contains("Java ");

        Invocation help = run("--help");
        assertThat(help.code()).isZero();
        assertThat(help.out()).contains("put", "get", "del", "scan", "watch", "verify", "stats", "merge");

        Invocation putHelp = run("put", "--help");
        assertThat(putHelp.out()).contains("--data", "--json", "--ttl", "--durability");

        Invocation nothing = run();
        assertThat(nothing.code()).isEqualTo(Main.USAGE);
        assertThat(nothing.err()).contains("Usage: caskade");
    }
}
