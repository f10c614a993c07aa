package dev.caskade.cli;

import dev.caskade.Caskade;
import dev.caskade.Digest;
import dev.caskade.VerifyReport;
import dev.caskade.client.AuthException;
import dev.caskade.client.CaskadeClient;
import dev.caskade.client.ClientException;
import dev.caskade.client.ClientOptions;
import dev.caskade.s3.GuardedStore;
import dev.caskade.s3.Verifier;
import java.io.PrintWriter;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

@Command(
        name = "verify",
        description = {
            "Check the store for damage; exits with 2 when anything is damaged.",
            "Checks every entry's CRC, every hint file and the key directory against the log.",
            "With --from URL it checks a destination instead: every block checksum of every snapshot and log object,"
                    + " names against headers, commit order, and that each generation's log has no hole.",
            "With --server URL --replica DIR it compares a local replica's keys and values under --prefix with the"
                    + " server's (digests), after waiting (up to --wait) for the replica to catch up."
        })
final class VerifyCommand extends StoreCommand {

    @Option(
            names = "--from",
            paramLabel = "URL",
            description = "Check this destination (file:///abs/path, a plain path, or s3://bucket/prefix) instead of"
                    + " --data.")
    String from;

    @Mixin
    S3Connection s3;

    @Option(
            names = "--replica",
            paramLabel = "DIR",
            description = "With --server: check this local replica's directory (its store is DIR/store) against the"
                    + " server.")
    Path replica;

    @Option(
            names = "--prefix",
            paramLabel = "P",
            defaultValue = "",
            description = "With --replica: the prefix the replica follows (default: every key).")
    String prefix;

    @Option(
            names = "--wait",
            paramLabel = "D",
            defaultValue = "10s",
            converter = DurationConverter.class,
            description = "With --replica: how long a replica that is behind may take to catch up (default:"
                    + " ${DEFAULT-VALUE}).")
    Duration wait;

    @Mixin
    ServerTarget target;

    /** A replica behind a server whose revision did not move for this long had its chance to catch up. */
    static final Duration QUIET = Duration.ofSeconds(2);

    @Override
    int run() throws InterruptedException {
        if (replica != null) return verifyReplica();
        if (spec.commandLine().getParseResult().hasMatchedOption("--server")) {
            throw new ParameterException(spec.commandLine(), "--server needs --replica DIR (verify checks a replica)");
        }
        if (from != null) return verifyDestination();
        if (!Files.isDirectory(data)) return fail(Main.FAILED, "no store at " + data + " (use --data DIR)");
        VerifyReport report = Caskade.verify(data);
        PrintWriter out = out();
        if (json) {
            out.println(Json.object()
                    .add("ok", report.ok())
                    .add("segments", report.segments())
                    .add("entries", report.entries())
                    .add("hints", report.hints())
                    .add("keys", report.keys())
                    .addRaw(
                            "problems",
                            Json.array(
                                    report.problems().stream().map(Json::quote).toList())));
        } else {
            out.println("segments  " + report.segments());
            out.println("entries   " + report.entries());
            out.println("hints     " + report.hints());
            out.println("keys      " + report.keys());
            for (String problem : report.problems()) out.println("problem   " + problem);
            out.println(report.ok() ? "ok" : "damaged");
        }
        out.flush();
        if (report.ok()) return Main.OK;
        return fail(Main.DAMAGED, "store is damaged: " + report.problems().size() + " problem(s) in " + data);
    }

    private int verifyDestination() {
        if (spec.commandLine().getParseResult().hasMatchedOption("--data")) {
            throw new ParameterException(spec.commandLine(), "give --data or --from, not both");
        }
        Verifier.Report report;
        try (GuardedStore store = DestinationCommand.open(spec, from, s3, System.getenv())) {
            ProgressLine progress = new ProgressLine(err(), "verify", ShellCommand.isTerminal());
            try {
                report = Verifier.run(store, progress);
            } catch (RuntimeException e) {
                progress.abandon();
                throw e;
            }
            progress.finish(report.objects(), report.objects(), report.bytes(), report.bytes());
        }
        if (report.generations() == 0) return fail(Main.FAILED, "no backup at " + from + " (no generations)");
        PrintWriter out = out();
        if (json) {
            out.println(Json.object()
                    .add("ok", report.ok())
                    .add("generations", report.generations())
                    .add("objects", report.objects())
                    .add("bytes", report.bytes())
                    .addRaw(
                            "problems",
                            Json.array(
                                    report.problems().stream().map(Json::quote).toList())));
        } else {
            out.println("generations " + report.generations());
            out.println("objects     " + report.objects());
            out.println("bytes       " + report.bytes());
            for (String problem : report.problems()) out.println("problem     " + problem);
            out.println(report.ok() ? "ok" : "damaged");
        }
        out.flush();
        if (report.ok()) return Main.OK;
        return fail(Main.DAMAGED, "backup is damaged: " + report.problems().size() + " problem(s) at " + from);
    }

    /**
     * Compares the replica's digest of the prefix with the server's. The server may be ahead (commits the replica
     * has not applied yet), so a difference counts only once the replica is not behind the server's revision, or
     * the server's revision stood still for {@link #QUIET}, or {@code --wait} ran out.
     */
    private int verifyReplica() throws InterruptedException {
        for (String other : new String[] {"--from", "--data"}) {
            if (spec.commandLine().getParseResult().hasMatchedOption(other)) {
                throw new ParameterException(spec.commandLine(), "give --replica or " + other + ", not both");
            }
        }
        URI url = target.url(spec);
        if (url == null) throw new ParameterException(spec.commandLine(), "--replica needs --server URL");
        Path store = replica.resolve("store");
        if (!Files.isDirectory(store)) return fail(Main.FAILED, "no replica at " + replica + " (no " + store + ")");
        byte[] p = prefix.getBytes(StandardCharsets.UTF_8);
        Digest server;
        Digest local;
        try (CaskadeClient client = CaskadeClient.connect(url, clientOptions())) {
            long deadline = System.nanoTime() + wait.toNanos();
            long lastServer = -1;
            long quietSince = System.nanoTime();
            while (true) {
                server = client.digest(p);
                try (Caskade db = Caskade.openReadOnly(store)) {
                    local = db.digest(p);
                }
                if (same(server, local) || local.revision() >= server.revision()) break;
                long now = System.nanoTime();
                if (server.revision() != lastServer) {
                    lastServer = server.revision();
                    quietSince = now;
                } else if (now - quietSince >= QUIET.toNanos()) {
                    break;
                }
                if (now >= deadline) break;
                Thread.sleep(Math.min(200, Math.max(1, (deadline - now) / 1_000_000)));
            }
        } catch (AuthException e) {
            return fail(Main.NO_PERMISSION, url + " refused: " + e.getMessage());
        } catch (ClientException e) {
            return fail(Main.FAILED, (e.status() == 0 ? "cannot reach " : "") + e.getMessage());
        }
        boolean ok = same(server, local);
        PrintWriter out = out();
        if (json) {
            out.println(Json.object()
                    .add("ok", ok)
                    .add("prefix", prefix)
                    .addRaw("server", json(server))
                    .addRaw("replica", json(local)));
        } else {
            out.println("server   " + text(server));
            out.println("replica  " + text(local));
            out.println(ok ? "ok" : "mismatch");
        }
        out.flush();
        if (ok) return Main.OK;
        String behind = local.revision() < server.revision()
                ? " (the replica is at revision " + local.revision() + ", the server at " + server.revision() + ")"
                : "";
        return fail(Main.DAMAGED, "replica " + replica + " differs from " + url + " under '" + prefix + "'" + behind);
    }

    private ClientOptions clientOptions() {
        ClientOptions o = ClientOptions.defaults()
                .withConnectTimeout(Duration.ofSeconds(5))
                .withRequestTimeout(Duration.ofSeconds(30));
        if (target.token != null) return o.withToken(target.token);
        if (target.user != null) {
            int colon = target.user.indexOf(':');
            return o.withUser(target.user.substring(0, colon), target.user.substring(colon + 1));
        }
        return o;
    }

    /** Same keys and values; the revisions differ whenever the server committed outside the prefix. */
    private static boolean same(Digest a, Digest b) {
        return a.keys() == b.keys() && a.sha256().equals(b.sha256());
    }

    private static String json(Digest d) {
        return Json.object()
                .add("revision", d.revision())
                .add("keys", d.keys())
                .add("sha256", d.sha256())
                .toString();
    }

    private static String text(Digest d) {
        return "revision " + d.revision() + "  keys " + d.keys() + "  sha256 " + d.sha256();
    }
}
