package dev.caskade.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.caskade.server.Credential;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@code caskade passwd} and {@code caskade token}, and serve's refusals of a bad configuration. */
@Timeout(60)
class AuthCommandsTest {
    @TempDir
    Path dir;

    private static Invocation withStdin(String stdin, String... args) {
        InputStream before = System.in;
        System.setIn(new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)));
        try {
            return Invocation.run(args);
        } finally {
            System.setIn(before);
        }
    }

    @Test
    void passwdPrintsAHashThatMatchesOnlyThatPassword() {
        Invocation r = withStdin("correct horse\n", "passwd", "--iterations", "1000");
        assertThat(r.code()).as(r.toString()).isZero();
        String hash = r.out().trim();
        assertThat(hash).matches("pbkdf2-sha256:1000:[0-9a-f]{32}:[0-9a-f]{64}");
        assertThat(Credential.parse(hash).matches("correct horse")).isTrue();
        assertThat(Credential.parse(hash).matches("correct horse\n")).isFalse();
        assertThat(r.out()).doesNotContain("correct horse");
        assertThat(r.err()).isEmpty();
    }

    @Test
    void passwdRefusesNothingAnEmptyPasswordAndTooFewIterations() {
        Invocation none = withStdin("", "passwd");
        assertThat(none.code()).isEqualTo(Main.FAILED);
        assertThat(none.err()).contains("no password given");
        Invocation empty = withStdin("\n", "passwd");
        assertThat(empty.code()).isEqualTo(Main.FAILED);
        assertThat(empty.err()).contains("the password is empty");
        Invocation few = withStdin("pw\n", "passwd", "--iterations", "10");
        assertThat(few.code()).isEqualTo(Main.FAILED);
        assertThat(few.err()).contains("iterations must be in 1000..");
    }

    @Test
    void tokenPrintsATokenAndItsHash() {
        Invocation r = Invocation.run("token");
        assertThat(r.code()).as(r.toString()).isZero();
        String[] lines = r.out().trim().split("\n");
        assertThat(lines).hasSize(2);
        assertThat(lines[0]).startsWith("token: cask_");
        assertThat(lines[1]).startsWith("hash: sha256:");
        String token = lines[0].substring("token: ".length());
        assertThat(Credential.parse(lines[1].substring("hash: ".length())).matches(token))
                .isTrue();
        assertThat(Invocation.run("token").out()).as("a new one each time").isNotEqualTo(r.out());
    }

    @Test
    void serveRefusesABadConfigurationBeforeOpeningAnything() throws Exception {
        Path typo = Files.writeString(dir.resolve("typo.yaml"), "resp-port: 0\nhtpp-port: 0\n");
        Invocation r = Invocation.run("serve", "--data", dir.resolve("s").toString(), "--config", typo.toString());
        assertThat(r.code()).as(r.toString()).isEqualTo(Main.FAILED);
        assertThat(r.err()).startsWith("caskade: " + typo + ": unknown key 'htpp-port'");

        Path missing = dir.resolve("missing.yaml");
        r = Invocation.run("serve", "--config", missing.toString());
        assertThat(r.err()).isEqualTo("caskade: config file " + missing + " does not exist\n");

        r = Invocation.run("serve", "--data", dir.resolve("s").toString(), "--resp-port", "70000");
        assertThat(r.err()).contains("resp-port must be a port number in 0..65535, got 70000");

        r = Invocation.run("serve", "--data", dir.resolve("s").toString(), "--tls-key", "k.pem");
        assertThat(r.err()).contains("TLS needs both a certificate and a key, but only the key is given");

        r = Invocation.run("serve", "--data", dir.resolve("s").toString(), "--bind", "0.0.0.0", "--http-port", "0");
        assertThat(r.code()).isEqualTo(Main.FAILED);
        assertThat(r.err())
                .contains("refusing to listen on 0.0.0.0 without users")
                .contains("--insecure");
        assertThat(dir.resolve("s")).as("nothing was opened").doesNotExist();
    }
}
