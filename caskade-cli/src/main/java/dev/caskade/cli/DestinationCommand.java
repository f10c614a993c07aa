package dev.caskade.cli;

import dev.caskade.CaskadeException;
import dev.caskade.CorruptionException;
import dev.caskade.s3.BreakerOptions;
import dev.caskade.s3.CorruptObjectException;
import dev.caskade.s3.Destination;
import dev.caskade.s3.GuardedStore;
import dev.caskade.s3.ObjectStore;
import dev.caskade.s3.S3Options;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * What the commands that read a destination share ({@code restore}, {@code generations}, {@code snapshots},
 * {@code segments}): {@code --from URL}, the {@code --s3-*} options, {@code --json}, and failures as one line
 * with the exit code of {@link Main}. Every request goes through the destination's retry and circuit breaker.
 */
abstract class DestinationCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(
            names = "--from",
            required = true,
            paramLabel = "URL",
            description = "The destination: file:///abs/path, a plain path, or s3://bucket/prefix.")
    String from;

    @Mixin
    S3Connection s3;

    @Option(names = "--json", description = "Print JSON (one object per line) instead of text.")
    boolean json;

    /** Where the CASKADE_S3_* variables come from. */
    Map<String, String> environment = System.getenv();

    /** The {@code --check-args} dry run, once the URL and the S3 options are checked (opening sent nothing). */
    int checkArgs() {
        return Main.OK;
    }

    /** The command's work on the opened destination; returns the exit code. */
    abstract int run(ObjectStore store) throws Exception;

    @Override
    public final Integer call() {
        try (GuardedStore store = open(spec, from, s3, environment)) {
            if (spec.root().userObject() instanceof Main main && main.checkArgs) return checkArgs();
            return run(store);
        } catch (ParameterException e) {
            throw e; // picocli reports bad arguments
        } catch (Exception e) {
            StoreCommand.Failure failure = failure(e);
            return failure == null ? StoreCommand.internalError(err(), e) : fail(failure.code(), failure.getMessage());
        }
    }

    /** Opens {@code url} behind the default retry and breaker; a URL that is no destination is a usage error. */
    static GuardedStore open(CommandSpec spec, String url, S3Connection s3, Map<String, String> environment) {
        S3Options options = s3.options(environment); // a bad CASKADE_S3_* variable: exit 1, as for serve
        try {
            return Destination.open(url, options, BreakerOptions.defaults());
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
    }

    /** An expected failure of a command that reads a destination; null for anything else, which is a bug. */
    static StoreCommand.Failure failure(Exception e) {
        return switch (e) {
            case StoreCommand.Failure f -> f;
            case CorruptObjectException c -> new StoreCommand.Failure(Main.DAMAGED, "backup is damaged: " + message(c));
            case CorruptionException c -> new StoreCommand.Failure(Main.DAMAGED, "store is damaged: " + message(c));
            case CaskadeException c -> new StoreCommand.Failure(Main.FAILED, message(c));
            case IllegalArgumentException i -> new StoreCommand.Failure(Main.FAILED, message(i));
            case IOException io -> new StoreCommand.Failure(Main.FAILED, "I/O error: " + message(io));
            case UncheckedIOException io -> new StoreCommand.Failure(Main.FAILED, "I/O error: " + message(io));
            default -> null;
        };
    }

    private static String message(Exception e) {
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }

    PrintWriter out() {
        return spec.commandLine().getOut();
    }

    PrintWriter err() {
        return spec.commandLine().getErr();
    }

    /** Prints {@code caskade: message} on stderr and returns {@code code}. */
    int fail(int code, String message) {
        err().println("caskade: " + message);
        err().flush();
        return code;
    }
}
