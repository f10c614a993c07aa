package dev.caskade.cli;

import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.Change;
import dev.caskade.ChangeType;
import dev.caskade.Watch;
import dev.caskade.WatchEvent;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;

@Command(
        name = "watch",
        description = {
            "Print the changes under PREFIX as they are committed, until Ctrl-C.",
            "One 'REV TYPE KEY [VALUE]' line per change (--json: one object per commit).",
            "With --from REV, the history after REV is printed first, with no gap before the live changes.",
            "While it runs it holds the store (one process at a time): other caskade commands on the",
            "same --data fail with 'store is locked'. In embedded mode it shows history and key expiries."
        })
final class WatchCommand extends StoreCommand {

    @Parameters(
            paramLabel = "PREFIX",
            arity = "0..1",
            defaultValue = "",
            description = "Key prefix (default: all keys).")
    String prefix;

    @Option(
            names = "--from",
            paramLabel = "REV",
            description = "Print the history after revision REV first (default: only new changes).")
    Long from;

    /** Called with the open store once the watch is running; tests write through it (a store has one writer). */
    volatile Consumer<Caskade> started = db -> {};

    private final BlockingQueue<Signal> signals = new LinkedBlockingQueue<>();
    private final CountDownLatch finished = new CountDownLatch(1);

    /** Ends the watch: the store is closed and the command returns 0. Safe from any thread, e.g. a signal hook. */
    void stop() {
        signals.add(new Signal.Stop());
    }

    private sealed interface Signal {
        record Stop() implements Signal {}

        /** A watch ended by itself; {@code generation} tells which of the successive watches it was. */
        record Ended(int generation, WatchEvent.End end) implements Signal {}
    }

    @Override
    int run() throws Exception {
        if (from != null && from < 0) throw new ParameterException(spec.commandLine(), "--from must be >= 0: " + from);
        // Ctrl-C (and SIGTERM) run shutdown hooks: stop the watch and wait until the store is closed
        Thread hook = new Thread(
                () -> {
                    stop();
                    try {
                        finished.await(10, TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                },
                "caskade-watch-stop");
        Runtime.getRuntime().addShutdownHook(hook);
        try (Caskade db = open(false, CaskadeOptions.defaults())) {
            return watch(db, from != null ? from : db.revision());
        } finally {
            finished.countDown();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // the hook is running: it is what stopped us
            }
        }
    }

    private int watch(Caskade db, long fromRevision) {
        long resume = fromRevision;
        for (int generation = 0; ; generation++) {
            int current = generation;
            Watch watch = db.watch(prefix, resume, event -> deliver(current, event));
            Optional<WatchEvent.End> end;
            try {
                if (current == 0) started.accept(db);
                end = next(current);
            } finally {
                watch.close();
            }
            if (end.isEmpty()) return Main.OK;
            switch (end.get().reason()) {
                case OVERFLOW -> resume = end.get().resumeFrom(); // the store promises no gap, no duplicate from here
                case CLOSED -> {
                    return Main.OK;
                }
                case STORE_CLOSED -> {
                    return fail(Main.FAILED, "the store was closed");
                }
                case FAILED -> {
                    return fail(
                            Main.FAILED,
                            "the watch failed after revision " + end.get().resumeFrom());
                }
            }
        }
    }

    /** Waits for the end of watch {@code generation}; empty when asked to stop. */
    private Optional<WatchEvent.End> next(int generation) {
        while (true) {
            Signal signal;
            try {
                signal = signals.take();
            } catch (InterruptedException e) {
                // an interrupt means stop; the flag stays clear so that closing the store's files is safe
                return Optional.empty();
            }
            switch (signal) {
                case Signal.Stop() -> {
                    return Optional.empty();
                }
                case Signal.Ended(int g, WatchEvent.End end)
                when g == generation -> {
                    return Optional.of(end);
                }
                case Signal.Ended ignored -> {
                    // the end of an earlier watch, already handled
                }
            }
        }
    }

    private void deliver(int generation, WatchEvent event) {
        switch (event) {
            case WatchEvent.Commit commit -> {
                PrintWriter out = out();
                if (json) {
                    List<String> changes = new ArrayList<>(commit.changes().size());
                    for (Change c : commit.changes()) {
                        Json change = Json.object().add("type", c.type().name()).addBytes("key", c.key());
                        if (c.type() == ChangeType.PUT) change.addBytes("value", c.value());
                        changes.add(change.add("expiresAt", c.expiresAt()).toString());
                    }
                    out.println(Json.object()
                            .add("revision", commit.revision())
                            .add("timestamp", commit.timestamp())
                            .addRaw("changes", Json.array(changes)));
                } else {
                    for (Change c : commit.changes()) {
                        out.println(commit.revision() + " " + c.type() + " " + c.keyString()
                                + (c.type() == ChangeType.PUT ? " " + c.valueString() : ""));
                    }
                }
                out.flush();
                if (out.checkError()) stop(); // stdout is gone (e.g. the pipe's reader quit)
            }
            case WatchEvent.End end -> signals.add(new Signal.Ended(generation, end));
        }
    }
}
