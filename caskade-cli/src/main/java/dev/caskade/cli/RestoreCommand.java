package dev.caskade.cli;

import dev.caskade.s3.ObjectStore;
import dev.caskade.s3.Restore;
import dev.caskade.s3.RestoreOptions;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;
import java.util.Locale;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.TypeConversionException;

@Command(
        name = "restore",
        description = {
            "Restore a store from a destination into a new directory.",
            "The latest state by default; --revision N for exactly that revision, --timestamp T for the last commit"
                    + " at or before T. Every object's checksums are verified; the restored store's digest is"
                    + " printed (compare it with GET /v1/digest of the source)."
        })
final class RestoreCommand extends DestinationCommand {

    @Option(
            names = "--to",
            required = true,
            paramLabel = "DIR",
            description = "The new store directory: absent or empty.")
    Path to;

    @Option(names = "--revision", paramLabel = "N", description = "Restore exactly this revision.")
    Long revision;

    @Option(
            names = "--timestamp",
            paramLabel = "TIME",
            converter = InstantConverter.class,
            description = "Restore the last commit at or before this ISO-8601 time, e.g. 2025-06-01T12:00:00Z.")
    Instant timestamp;

    @Option(
            names = "--generation",
            paramLabel = "ID",
            description = "Restore from this generation (see: caskade generations).")
    String generation;

    @Option(
            names = "--if-replica-exists",
            description = "When the destination holds no backup, do nothing and succeed.")
    boolean ifReplicaExists;

    @Option(names = "--if-db-not-exists", description = "When --to already holds a store, do nothing and succeed.")
    boolean ifDbNotExists;

    @Option(
            names = "--parallelism",
            paramLabel = "N",
            description = "Objects fetched and decoded at once (default: the number of cores, at least 2).")
    Integer parallelism;

    @Option(names = "--dry-run", description = "Say what would be restored; write nothing.")
    boolean dryRun;

    @Override
    int run(ObjectStore store) {
        RestoreOptions o = options();
        ProgressLine progress = new ProgressLine(err(), "restore", ShellCommand.isTerminal());
        Restore.Result r;
        try {
            r = Restore.run(store, to, o, progress);
        } catch (RuntimeException e) {
            progress.abandon();
            throw e;
        }
        if (r.restored()) {
            progress.finish(
                    r.plan().objects(),
                    r.plan().objects(),
                    r.plan().bytes(),
                    r.plan().bytes());
        }
        print(r);
        return Main.OK;
    }

    @Override
    int checkArgs() {
        options();
        return Main.OK;
    }

    private RestoreOptions options() {
        if (revision != null && timestamp != null) {
            throw new ParameterException(spec.commandLine(), "give --revision or --timestamp, not both");
        }
        try {
            RestoreOptions o = RestoreOptions.latest();
            if (revision != null) o = o.atRevision(revision);
            if (timestamp != null) o = o.atTime(timestamp);
            if (generation != null) o = o.fromGeneration(generation);
            if (parallelism != null) o = o.withParallelism(parallelism);
            return o.withGuards(ifReplicaExists, ifDbNotExists).withDryRun(dryRun);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
    }

    private void print(Restore.Result r) {
        PrintWriter out = out();
        Restore.Plan p = r.plan();
        String seconds = String.format(Locale.ROOT, "%.3f", r.took().toNanos() / 1e9);
        if (p == null) { // a guard made it do nothing
            if (json) {
                out.println(Json.object()
                        .add("restored", false)
                        .add("skipped", true)
                        .add("message", r.message()));
            } else {
                out.println("skipped     " + r.message());
            }
        } else if (r.digest() == null) { // dry run
            if (json) {
                Json j = Json.object()
                        .add("restored", false)
                        .add("dryRun", true)
                        .add("generation", p.generation().id())
                        .add("snapshotRevision", p.snapshot().revision())
                        .add("logObjects", p.logs().size());
                if (p.targetRevision() >= 0) j.add("targetRevision", p.targetRevision());
                if (p.targetTime() != null) j.add("targetTime", p.targetTime().toString());
                out.println(
                        j.add("objects", p.objects()).add("bytes", p.bytes()).add("message", r.message()));
            } else {
                out.println(r.message());
                out.println("generation  " + p.generation().id());
                out.println("snapshot    " + p.snapshot().revision());
                out.println("log objects " + p.logs().size());
                out.println("objects     " + p.objects());
                out.println("bytes       " + p.bytes());
            }
        } else if (json) {
            out.println(Json.object()
                    .add("restored", true)
                    .add("generation", p.generation().id())
                    .add("revision", r.digest().revision())
                    .add("keys", r.digest().keys())
                    .add("digest", r.digest().sha256())
                    .add("objects", p.objects())
                    .add("bytes", p.bytes())
                    .addRaw("seconds", seconds)
                    .add("to", to.toString())
                    .add("message", r.message()));
        } else {
            out.println(r.message());
            out.println("generation  " + p.generation().id());
            out.println("revision    " + r.digest().revision());
            out.println("keys        " + r.digest().keys());
            out.println("digest      " + r.digest().sha256());
            out.println("objects     " + p.objects());
            out.println("bytes       " + p.bytes());
            out.println("seconds     " + seconds);
        }
        out.flush();
    }

    /** An ISO-8601 instant ({@code 2025-06-01T12:00:00Z}) or date-time with an offset ({@code ...+02:00}). */
    static final class InstantConverter implements ITypeConverter<Instant> {
        @Override
        public Instant convert(String text) {
            try {
                return Instant.parse(text.trim());
            } catch (DateTimeParseException e) {
                try {
                    return OffsetDateTime.parse(text.trim()).toInstant();
                } catch (DateTimeParseException again) {
                    throw new TypeConversionException("'" + text
                            + "' is not an ISO-8601 time with a zone, e.g. 2025-06-01T12:00:00Z or"
                            + " 2025-06-01T14:00:00+02:00");
                }
            }
        }
    }
}
