package dev.caskade.cli;

import dev.caskade.Caskade;
import dev.caskade.CaskadeException;
import dev.caskade.CaskadeOptions;
import dev.caskade.CompactedException;
import dev.caskade.CorruptionException;
import dev.caskade.Durability;
import dev.caskade.Entry;
import dev.caskade.LockedException;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.TypeConversionException;

/** What every subcommand shares: the store directory, JSON output, and turning failures into one line. */
abstract class StoreCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(
            names = "--data",
            paramLabel = "DIR",
            defaultValue = "${env:CASKADE_DATA:-caskade-data}",
            description = "Store directory (default: ${DEFAULT-VALUE}; env CASKADE_DATA).")
    Path data;

    @Option(names = "--json", description = "Print JSON (one object per line) instead of text.")
    boolean json;

    /** The command's work; returns the exit code. Failures may be thrown: {@link #call()} reports them. */
    abstract int run() throws Exception;

    @Override
    public final Integer call() {
        try {
            return run();
        } catch (ParameterException e) {
            throw e; // picocli reports bad arguments
        } catch (Failure e) {
            return fail(e.code, e.getMessage());
        } catch (CorruptionException e) {
            return fail(
                    Main.DAMAGED, "store is damaged: " + e.getMessage() + " (see: caskade verify --data " + data + ")");
        } catch (LockedException e) {
            return fail(Main.FAILED, e.getMessage() + " (only one process may have a store open)");
        } catch (CompactedException e) {
            return fail(Main.FAILED, e.getMessage() + " (use --from " + e.oldest() + " or later)");
        } catch (CaskadeException | IllegalArgumentException e) {
            return fail(Main.FAILED, message(e));
        } catch (IOException | UncheckedIOException e) {
            return fail(Main.FAILED, "I/O error: " + message(e));
        } catch (Exception e) {
            return internalError(err(), e);
        }
    }

    static int internalError(PrintWriter err, Exception e) {
        err.println("caskade: internal error: " + e);
        if (System.getenv("CASKADE_DEBUG") != null) e.printStackTrace(err);
        err.flush();
        return Main.SOFTWARE;
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

    /** Opens the store; only commands that write may create it, the others fail on a missing directory. */
    Caskade open(boolean create, CaskadeOptions options) throws IOException {
        if (create) {
            Files.createDirectories(data);
        } else if (!Files.isDirectory(data)) {
            throw new Failure(Main.FAILED, "no store at " + data + " (use --data DIR)");
        }
        return Caskade.open(data, options);
    }

    /** Options for a command that runs briefly: no background merge starting while it works. */
    static CaskadeOptions oneShot(Durability durability) {
        CaskadeOptions d = CaskadeOptions.defaults();
        CaskadeOptions o =
                d.withMerge(d.mergeFragmentation(), d.mergeDeadBytes(), d.mergeBytesPerSecond(), Duration.ZERO);
        return durability == null ? o : o.withDurability(durability);
    }

    /** An entry as {@code get} and {@code scan} print it in JSON. */
    static String json(Entry e) {
        return Json.object()
                .addBytes("key", e.key())
                .addBytes("value", e.value())
                .add("revision", e.revision())
                .add("expiresAt", e.expiresAt())
                .toString();
    }

    private static String message(Exception e) {
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }

    /** An expected failure with its exit code; {@link #call()} prints it. */
    static final class Failure extends RuntimeException {
        private static final long serialVersionUID = 1L;
        private final int code;

        Failure(int code, String message) {
            super(message);
            this.code = code;
        }
    }

    /** {@code --durability sync|none|interval:<ms>}. */
    static final class DurabilityConverter implements ITypeConverter<Durability> {
        @Override
        public Durability convert(String text) {
            try {
                return Durability.parse(text);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }

    /** Durations as people type them: {@code 500ms}, {@code 30s}, {@code 1m30s}, {@code 2h}, {@code 1d}, or ISO-8601. */
    static final class DurationConverter implements ITypeConverter<Duration> {
        private static final Pattern PART = Pattern.compile("(\\d+)(ms|s|m|h|d)");

        @Override
        public Duration convert(String text) {
            String t = text.trim().toLowerCase(Locale.ROOT);
            if (t.equals("0")) return Duration.ZERO;
            try {
                if (t.startsWith("p")) return Duration.parse(text.trim());
                Matcher m = PART.matcher(t);
                Duration total = Duration.ZERO;
                int end = 0;
                while (m.lookingAt()) {
                    long n = Long.parseLong(m.group(1));
                    total = total.plus(
                            switch (m.group(2)) {
                                case "ms" -> Duration.ofMillis(n);
                                case "s" -> Duration.ofSeconds(n);
                                case "m" -> Duration.ofMinutes(n);
                                case "h" -> Duration.ofHours(n);
                                default -> Duration.ofDays(n);
                            });
                    end = m.end();
                    m.region(end, t.length());
                }
                if (end == 0 || end != t.length()) throw new IllegalArgumentException();
                return total;
            } catch (RuntimeException e) {
                throw new TypeConversionException("'" + text + "' is not a duration (e.g. 500ms, 30s, 1m30s, 2h, 1d)");
            }
        }
    }
}
