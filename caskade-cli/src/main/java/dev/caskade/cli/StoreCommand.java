package dev.caskade.cli;

import dev.caskade.Caskade;
import dev.caskade.CaskadeException;
import dev.caskade.CaskadeOptions;
import dev.caskade.CompactedException;
import dev.caskade.CorruptionException;
import dev.caskade.Durability;
import dev.caskade.Entry;
import dev.caskade.LockedException;
import dev.caskade.s3.CorruptObjectException;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.net.URI;
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
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

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

    /** The {@code --check-args} dry run; commands that check more than picocli before opening anything override it. */
    int checkArgs() throws Exception {
        return Main.OK;
    }

    /** Whether this is a {@code --check-args} dry run: check the arguments, open and start nothing. */
    boolean checkingArgs() {
        return spec.root().userObject() instanceof Main main && main.checkArgs;
    }

    @Override
    public final Integer call() {
        try {
            return checkingArgs() ? checkArgs() : run();
        } catch (ParameterException e) {
            throw e; // picocli reports bad arguments
        } catch (Exception e) {
            Failure failure = failure(e);
            return failure == null ? internalError(err(), e) : fail(failure.code, failure.getMessage());
        }
    }

    /** An expected failure as its exit code and one line; null for anything else, which is a bug. */
    Failure failure(Exception e) {
        return switch (e) {
            case Failure f -> f;
            case CorruptionException c ->
                new Failure(
                        Main.DAMAGED,
                        "store is damaged: " + c.getMessage() + " (see: caskade verify --data " + data + ")");
            case LockedException l -> new Failure(Main.FAILED, l.getMessage() + " (" + lockHint() + ")");
            case CompactedException c ->
                new Failure(Main.FAILED, c.getMessage() + " (use --from " + c.oldest() + " or later)");
            case CorruptObjectException c -> new Failure(Main.DAMAGED, "backup is damaged: " + c.getMessage());
            case CaskadeException c -> new Failure(Main.FAILED, message(c));
            case IllegalArgumentException i -> new Failure(Main.FAILED, message(i));
            case IOException io -> new Failure(Main.FAILED, "I/O error: " + message(io));
            case UncheckedIOException io -> new Failure(Main.FAILED, "I/O error: " + message(io));
            default -> null;
        };
    }

    /** What to do about a locked store: talk to the server that holds it, if its serve.json says where. */
    private String lockHint() {
        try {
            JsonNode serve = JsonMapper.builder().build().readTree(Files.readAllBytes(data.resolve("serve.json")));
            String bind = serve.path("bind").asString("127.0.0.1");
            String host = bind.equals("0.0.0.0") || bind.equals("::") ? "127.0.0.1" : bind;
            if (host.contains(":")) host = "[" + host + "]";
            return "a server holds it: use --server http://" + host + ":"
                    + serve.path("httpPort").asInt();
        } catch (IOException | RuntimeException e) {
            return "only one process may have a store open";
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

    /** The standard input, which tests replace. */
    InputStream in() {
        return spec.root().userObject() instanceof Main main ? main.in : System.in;
    }

    /**
     * What a key verb works on: the server that {@code target} names, else the directory {@code --data}, which only
     * commands that write may create.
     */
    Store store(ServerTarget target, boolean create, Durability durability) throws IOException {
        URI url = target.url(spec);
        if (url == null) return new EmbeddedStore(open(create, oneShot(durability)));
        if (durability != null) {
            throw new ParameterException(
                    spec.commandLine(),
                    "--durability applies to a store directory; a server keeps the durability it was started with");
        }
        return new RemoteStore(url, target.authorization(), err(), RemoteStore.PAGE);
    }

    /** Whether {@code target} makes this a remote command (it also checks the options). */
    boolean remote(ServerTarget target) {
        return target.url(spec) != null;
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

    /** An entry as {@code get} and {@code scan} print it in JSON; without expiresAt when a server did not say. */
    static String json(Entry e) {
        Json json = Json.object()
                .addBytes("key", e.key())
                .addBytes("value", e.value())
                .add("revision", e.revision());
        if (e.expiresAt() != Store.UNKNOWN_EXPIRY) json.add("expiresAt", e.expiresAt());
        return json.toString();
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

        int code() {
            return code;
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

    /** A {@link DurationConverter} duration that must be more than zero. */
    static final class PositiveDurationConverter implements ITypeConverter<Duration> {
        @Override
        public Duration convert(String text) {
            Duration d = new DurationConverter().convert(text);
            if (d.isZero() || d.isNegative())
                throw new TypeConversionException("must be more than 0, got '" + text + "'");
            return d;
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
