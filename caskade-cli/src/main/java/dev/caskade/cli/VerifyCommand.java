package dev.caskade.cli;

import dev.caskade.Caskade;
import dev.caskade.VerifyReport;
import dev.caskade.s3.GuardedStore;
import dev.caskade.s3.Verifier;
import java.io.PrintWriter;
import java.nio.file.Files;
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
                    + " names against headers, commit order, and that each generation's log has no hole."
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

    @Override
    int run() {
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
}
