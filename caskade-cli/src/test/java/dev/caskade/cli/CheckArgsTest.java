package dev.caskade.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@code --check-args}: the command line is checked as the command would check it, and nothing is opened. */
@Timeout(60)
class CheckArgsTest {

    @TempDir
    Path dir;

    @Test
    void aGoodServeLineExitsZeroAndOpensNothing() {
        Path data = dir.resolve("never");
        for (String[] args : new String[][] {
            {
                "serve",
                "--check-args",
                "--data",
                data.toString(),
                "--http-port",
                "0",
                "--replicate-to",
                "s3://bucket/p",
                "--s3-region",
                "eu-west-1",
                "--max-replica-lag",
                "30s"
            },
            {
                "--check-args",
                "serve",
                "--data",
                data.toString(),
                "--follow",
                "http://u:p@10.0.0.1:8479",
                "--prefix",
                "a/"
            },
            {"serve", "--check-args", "--data", data.toString(), "--cluster", "redis://127.0.0.1:1/c", "--node-id", "n1"
            },
            {
                "serve",
                "--check-args",
                "--data",
                data.toString(),
                "--cluster",
                "redis://127.0.0.1:1/c",
                "--cluster-shards",
                "16"
            },
            {
                "serve",
                "--check-args",
                "--data",
                data.toString(),
                "--cluster",
                "redis://127.0.0.1:1/c",
                "--bootstrap-from",
                "s3://bucket/c",
                "--s3-region",
                "eu-west-1"
            }
        }) {
            Invocation r = Invocation.run(args);
            assertThat(r.code()).as("%s", r).isZero();
            assertThat(r.out()).as("%s", r).isEmpty();
            assertThat(r.err()).as("%s", r).isEmpty();
        }
        assertThat(data).as("nothing created").doesNotExist();
        assertThat(dir.resolve("serve.json")).doesNotExist();
    }

    @Test
    void everyCheckServeMakesBeforeOpeningIsMadeWithUsageExit() {
        assertUsage("--http-port", "serve", "--check-args", "--http-port", "eighty");
        assertUsage("--durability", "serve", "--check-args", "--durability", "sometimes");
        assertUsage("unsupported destination scheme", "serve", "--check-args", "--replicate-to", "ftp://x/y");
        assertUsage("--follow needs http", "serve", "--check-args", "--follow", "ftp://primary:8479");
        assertUsage("need --follow", "serve", "--check-args", "--prefix", "a/");
        assertUsage(
                "exclude each other", "serve", "--check-args", "--follow", "http://a:1", "--cluster", "redis://b:2/c");
        assertUsage("--bootstrap-from needs --cluster", "serve", "--check-args", "--bootstrap-from", "s3://bucket/x");
        assertUsage(
                "bootstrap-from: unsupported destination scheme",
                "serve",
                "--check-args",
                "--cluster",
                "redis://b:2/c",
                "--bootstrap-from",
                "ftp://x/y");
        assertUsage(
                "--restore-if-empty does not apply with --follow",
                "serve",
                "--check-args",
                "--follow",
                "http://a:1",
                "--restore-if-empty",
                "s3://bucket/x",
                "--s3-region",
                "eu-west-1");
        assertUsage("Unknown option", "serve", "--check-args", "--no-such-option");
        assertUsage("need --cluster", "serve", "--check-args", "--cluster-shards", "4");
        assertUsage(
                "needs an unsharded cluster",
                "serve",
                "--check-args",
                "--cluster",
                "redis://b:2/c",
                "--cluster-shards",
                "4",
                "--bootstrap-from",
                "/tmp/backups/c");
        assertUsage(
                "shards must be 1..16384: 0",
                "serve",
                "--check-args",
                "--cluster",
                "redis://b:2/c",
                "--cluster-shards",
                "0");
    }

    @Test
    void replicateAndRestoreCheckTheirDestinations() {
        Path data = dir.resolve("absent");
        Invocation ok = Invocation.run(
                "replicate",
                "--check-args",
                "--data",
                data.toString(),
                "--to",
                dir.resolve("backup").toString());
        assertThat(ok.code()).as("%s", ok).isZero();
        assertThat(dir.resolve("backup")).doesNotExist();
        assertUsage("--to", "replicate", "--check-args", "--data", data.toString(), "--to", "s3://UPPER/x");
        assertUsage("--sync-interval", "replicate", "--check-args", "--to", "x", "--sync-interval", "0s");

        Invocation restore = Invocation.run(
                "restore",
                "--check-args",
                "--if-replica-exists",
                "--if-db-not-exists",
                "--from",
                "s3://bucket/db",
                "--s3-region",
                "us-east-1",
                "--to",
                data.toString());
        assertThat(restore.code()).as("%s", restore).isZero();
        assertThat(data).doesNotExist();
        assertUsage(
                "not both",
                "restore",
                "--check-args",
                "--from",
                dir.toString(),
                "--to",
                data.toString(),
                "--revision",
                "3",
                "--timestamp",
                "2025-06-01T12:00:00Z");
        assertUsage("Missing required option", "restore", "--check-args", "--to", data.toString());
    }

    @Test
    void otherCommandsOnlyParse() throws Exception {
        Path data = dir.resolve("store");
        Invocation put = Invocation.run("put", "--check-args", "--data", data.toString(), "k", "v");
        assertThat(put.code()).as("%s", put).isZero();
        assertThat(Files.exists(data)).isFalse();
        assertUsage("Missing required parameter", "put", "--check-args", "--data", data.toString());
    }

    @Test
    void generateCompletionPrintsABashScriptForEveryCommand() {
        Invocation r = Invocation.run("generate-completion");
        assertThat(r.code()).as("%s", r).isZero();
        assertThat(r.out()).contains("complete -F _complete_caskade", "serve", "replicate", "restore", "--check-args");
        Invocation help = Invocation.run("--help");
        assertThat(help.out()).contains("generate-completion", "--check-args");
    }

    @Test
    void versionNamesTheBuild() {
        Invocation r = Invocation.run("--version");
        assertThat(r.code()).as("%s", r).isZero();
        assertThat(r.out()).startsWith("caskade ").doesNotContain("unknown").doesNotContain("${");
    }

    private static void assertUsage(String message, String... args) {
        Invocation r = Invocation.run(args);
        assertThat(r.code()).as("%s", r).isEqualTo(Main.USAGE);
        assertThat(r.err()).as("%s", r).contains(message);
        assertThat(r.out()).as("%s", r).isEmpty();
    }

    @Test
    void peerCredentialsComeFromTheEnvironmentAndMustBeWhole() {
        java.util.function.Function<java.util.Map<String, String>, Integer> serve = env -> {
            var cl = Main.commandLine(
                    new java.io.ByteArrayInputStream(new byte[0]),
                    new java.io.PrintWriter(new java.io.StringWriter(), true),
                    new java.io.PrintWriter(new java.io.StringWriter(), true));
            ((ServeCommand) cl.getSubcommands().get("serve").getCommand()).environment = env;
            return cl.execute(
                    "serve", "--check-args", "--data", dir.resolve("d").toString(), "--cluster", "redis://a:1/c");
        };
        assertThat(serve.apply(java.util.Map.of("CASKADE_CLUSTER_PEER_TOKEN", "t0k3n")))
                .isZero();
        assertThat(serve.apply(
                        java.util.Map.of("CASKADE_CLUSTER_PEER_USER", "u", "CASKADE_CLUSTER_PEER_PASSWORD", "p")))
                .isZero();
        assertThat(serve.apply(java.util.Map.of("CASKADE_CLUSTER_PEER_USER", "u")))
                .isEqualTo(Main.USAGE);
        assertThat(serve.apply(
                        java.util.Map.of("CASKADE_CLUSTER_PEER_TOKEN", "t", "CASKADE_CLUSTER_PEER_PASSWORD", "p")))
                .isEqualTo(Main.USAGE);
    }
}
