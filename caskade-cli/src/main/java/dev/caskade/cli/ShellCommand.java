package dev.caskade.cli;

import dev.caskade.Entry;
import java.io.BufferedReader;
import java.io.Console;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import org.jline.reader.EndOfFileException;
import org.jline.reader.History;
import org.jline.reader.LineReader;
import org.jline.reader.LineReaderBuilder;
import org.jline.reader.UserInterruptException;
import org.jline.terminal.Terminal;
import org.jline.terminal.TerminalBuilder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.TypeConversionException;

@Command(
        name = "shell",
        description = {
            "An interactive prompt on a store directory (--data) or a server (--server): GET, PUT, DEL, SCAN,"
                    + " WATCH, REVISION, HISTORY, HELP, EXIT (type HELP).",
            "At a terminal it keeps a history (arrow keys, Ctrl-R) in --history; Ctrl-C stops a WATCH, Ctrl-D leaves.",
            "With piped input it prints only the results and no prompt, reports a failed line as 'line N: why' on"
                    + " stderr, goes on, and exits with 1 if any line failed."
        })
final class ShellCommand extends StoreCommand {

    private static final String HELP = """
            GET key                  the value, or (nil)
            PUT key value [ttl]      set; ttl in seconds or 500ms/30s/1m/2h/1d; prints the revision
            DEL key                  delete; prints the revision, or (nil) when the key is absent
            SCAN [prefix] [limit]    key<TAB>value lines in key order
            WATCH [prefix] [count]   the changes as they are committed, until Ctrl-C or count commits
            REVISION                 the last committed revision
            HISTORY                  the lines entered so far
            HELP                     this list
            EXIT, QUIT               leave (so does Ctrl-D)
            Words are split like redis-cli: "a b" and 'a b' are one word; in "..." \\n \\t \\" \\\\ and \\xHH \
            are escapes. Commands are case-insensitive; a line starting with # is a comment.""";

    @Mixin
    ServerTarget target = new ServerTarget();

    @Mixin
    DurabilityOption durabilityOption = new DurabilityOption();

    @Option(
            names = "--history",
            paramLabel = "FILE",
            defaultValue = "${env:CASKADE_HISTORY:-${sys:user.home}/.caskade_history}",
            description =
                    "Where an interactive shell keeps its history (default: ${DEFAULT-VALUE}; env CASKADE_HISTORY).")
    Path history;

    /** The terminal of an interactive shell; null: the system's when stdin and stdout are one. Tests set it. */
    Terminal terminal;

    /** The stop of the WATCH running now, if any: Ctrl-C completes it. */
    private volatile CompletableFuture<Void> watching;
    /** Held while a line runs, so that a shutdown closes the store between lines. */
    private final ReentrantLock running = new ReentrantLock();

    private volatile boolean closing;

    private enum Outcome {
        DONE,
        FAILED,
        EXIT
    }

    @Override
    int run() throws Exception {
        boolean interactive = terminal != null || isTerminal();
        try (Store store = store(target, true, durabilityOption.durability)) {
            long revision = store.revision(); // an unreachable server fails here, before any prompt
            // SIGTERM, and Ctrl-C when there is no terminal: stop a watch, close the store between lines
            Thread hook = new Thread(() -> shutDown(store), "caskade-shell-stop");
            Runtime.getRuntime().addShutdownHook(hook);
            try {
                if (!interactive) return script(store);
                out().println("caskade shell on " + store.location() + " at revision " + revision
                        + " (HELP lists the commands; EXIT or Ctrl-D leaves)");
                out().flush();
                return interactive(store);
            } finally {
                try {
                    Runtime.getRuntime().removeShutdownHook(hook);
                } catch (IllegalStateException shuttingDown) {
                    // the hook is running
                }
            }
        }
    }

    /** Lines from a pipe or file: results only, no prompt, failed lines numbered on stderr. */
    private int script(Store store) throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(in(), StandardCharsets.UTF_8));
        List<String> lines = new ArrayList<>();
        int failed = 0;
        for (String line; !closing && (line = in.readLine()) != null; ) {
            lines.add(line);
            Outcome outcome = execute(store, line, false, lines, "line " + lines.size() + ": ");
            if (outcome == Outcome.EXIT) break;
            if (outcome == Outcome.FAILED) failed++;
        }
        return failed == 0 ? Main.OK : Main.FAILED;
    }

    /** A terminal: JLine's line editing and a history file; Ctrl-C clears the line or stops a WATCH. */
    private int interactive(Store store) throws IOException {
        boolean own = terminal == null;
        Terminal t = own ? TerminalBuilder.builder().system(true).build() : terminal;
        try {
            LineReader reader = LineReaderBuilder.builder()
                    .terminal(t)
                    .appName("caskade")
                    .variable(LineReader.HISTORY_FILE, history)
                    .option(LineReader.Option.DISABLE_EVENT_EXPANSION, true) // "!" is just a character
                    .build();
            Thread shell = Thread.currentThread();
            boolean remote = store instanceof RemoteStore;
            Terminal.SignalHandler previous = t.handle(Terminal.Signal.INT, signal -> {
                CompletableFuture<Void> w = watching;
                if (w != null) w.complete(null);
                else if (remote) shell.interrupt(); // a request that hangs; never a store's file I/O
            });
            try {
                while (!closing) {
                    String line;
                    try {
                        line = reader.readLine("caskade> ");
                    } catch (UserInterruptException e) {
                        continue; // Ctrl-C at the prompt drops the line
                    } catch (EndOfFileException e) {
                        break;
                    }
                    List<String> lines = new ArrayList<>();
                    reader.getHistory().forEach(h -> lines.add(h.line()));
                    Outcome outcome = execute(store, line, true, lines, "");
                    Thread.interrupted(); // a Ctrl-C that came as the line finished is spent
                    if (outcome == Outcome.EXIT) break;
                }
            } finally {
                t.handle(Terminal.Signal.INT, previous);
                saveHistory(reader.getHistory());
            }
            return Main.OK;
        } finally {
            if (own) t.close();
        }
    }

    private void saveHistory(History h) {
        try {
            h.save();
        } catch (IOException e) {
            err().println("caskade: cannot save the history in " + history + ": " + e.getMessage());
            err().flush();
        }
    }

    /** Runs one line; a failure is printed and the shell goes on. */
    private Outcome execute(Store store, String line, boolean interactive, List<String> lines, String where) {
        running.lock();
        try {
            if (closing) return Outcome.EXIT;
            return command(store, ShellLine.parse(line), interactive, lines);
        } catch (Exception e) {
            Failure failure =
                    e instanceof TypeConversionException t ? new Failure(Main.USAGE, t.getMessage()) : failure(e);
            String message = failure != null ? failure.getMessage() : "internal error: " + e;
            PrintWriter err = err();
            err.println(interactive ? "(error) " + message : "caskade: " + where + message);
            err.flush();
            return Outcome.FAILED;
        } finally {
            running.unlock();
        }
    }

    private Outcome command(Store store, ShellLine words, boolean interactive, List<String> lines) {
        if (words.size() == 0 || words.text(0).startsWith("#")) return Outcome.DONE;
        PrintWriter out = out();
        String verb = words.text(0).toUpperCase(Locale.ROOT);
        switch (verb) {
            case "GET" -> {
                arguments(words, 1, 1, "GET key");
                Optional<Entry> e = store.get(words.words().get(1));
                out.println(e.map(entry -> ShellLine.display(entry.value())).orElse("(nil)"));
            }
            case "PUT", "SET" -> {
                arguments(words, 2, 3, "PUT key value [ttl]");
                Duration ttl = words.size() == 4 ? ttl(words.text(3)) : null;
                out.println(store.put(words.words().get(1), words.words().get(2), ttl));
            }
            case "DEL", "DELETE" -> {
                arguments(words, 1, 1, "DEL key");
                long revision = store.delete(words.words().get(1));
                out.println(revision == 0 ? "(nil)" : Long.toString(revision));
            }
            case "SCAN" -> {
                arguments(words, 0, 2, "SCAN [prefix] [limit]");
                byte[] prefix = words.size() > 1 ? words.words().get(1) : new byte[0];
                long limit = words.size() > 2 ? number(words.text(2), "limit") : Long.MAX_VALUE;
                long[] n = {0};
                store.scan(prefix, limit, e -> {
                    out.println(ShellLine.display(e.key()) + "\t" + ShellLine.display(e.value()));
                    n[0]++;
                    return true;
                });
                if (interactive) out.println("(" + n[0] + (n[0] == 1 ? " key)" : " keys)"));
            }
            case "WATCH" -> {
                arguments(words, 0, 2, "WATCH [prefix] [count]");
                byte[] prefix = words.size() > 1 ? words.words().get(1) : new byte[0];
                long count = words.size() > 2 ? number(words.text(2), "count") : Long.MAX_VALUE;
                if (count < 1) throw new IllegalArgumentException("count must be >= 1");
                watch(store, prefix, count, interactive, out);
            }
            case "REVISION" -> {
                arguments(words, 0, 0, "REVISION");
                out.println(store.revision());
            }
            case "HISTORY" -> {
                arguments(words, 0, 0, "HISTORY");
                for (int i = 0; i < lines.size(); i++) out.printf("%5d  %s%n", i + 1, lines.get(i));
            }
            case "HELP", "?" -> out.println(HELP);
            case "EXIT", "QUIT" -> {
                return Outcome.EXIT;
            }
            default -> throw new IllegalArgumentException("unknown command '" + words.text(0) + "' (HELP lists them)");
        }
        out.flush();
        return Outcome.DONE;
    }

    private void watch(Store store, byte[] prefix, long count, boolean interactive, PrintWriter out) {
        CompletableFuture<Void> stop = new CompletableFuture<>();
        watching = stop;
        try {
            if (closing) return;
            if (interactive) {
                out.println("(watching " + ShellLine.quote(prefix) + "; Ctrl-C stops)");
                out.flush();
            }
            long[] seen = {0};
            store.watch(prefix, null, stop, () -> {}, commit -> {
                WatchCommand.print(out, commit, false);
                return ++seen[0] < count;
            });
        } finally {
            watching = null;
        }
    }

    /** Runs on SIGTERM (and Ctrl-C without a terminal): the running line ends, the store closes cleanly. */
    private void shutDown(Store store) {
        closing = true;
        CompletableFuture<Void> w = watching;
        if (w != null) w.complete(null);
        try {
            if (running.tryLock(10, TimeUnit.SECONDS)) {
                try {
                    store.close(); // idempotent; the shell's own close comes later or never
                } finally {
                    running.unlock();
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void arguments(ShellLine words, int min, int max, String usage) {
        int n = words.size() - 1;
        if (n < min || n > max) throw new IllegalArgumentException("usage: " + usage);
    }

    private static long number(String text, String name) {
        try {
            long n = Long.parseLong(text);
            if (n >= 0) return n;
        } catch (NumberFormatException e) {
            // below
        }
        throw new IllegalArgumentException(name + " must be a number >= 0: " + text);
    }

    /** Seconds as a bare number (like Redis's EX), or a duration such as 500ms or 1m30s. */
    private static Duration ttl(String text) {
        Duration ttl = text.chars().allMatch(Character::isDigit)
                ? Duration.ofSeconds(number(text, "ttl"))
                : new DurationConverter().convert(text);
        if (ttl.isZero() || ttl.isNegative()) throw new IllegalArgumentException("ttl must be positive: " + text);
        return ttl;
    }

    /** Whether stdin and stdout are a terminal: then the shell prompts and keeps a history. */
    static boolean isTerminal() {
        Console console = System.console();
        if (console == null) return false;
        try {
            // Java 22+ may give a console for redirected streams too; isTerminal tells
            return (Boolean) Console.class.getMethod("isTerminal").invoke(console);
        } catch (ReflectiveOperationException e) {
            return true; // Java 21: a console exists only for a terminal
        }
    }
}
