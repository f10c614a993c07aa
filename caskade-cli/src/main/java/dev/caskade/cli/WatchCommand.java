package dev.caskade.cli;

import dev.caskade.Change;
import dev.caskade.ChangeType;
import dev.caskade.WatchEvent;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;

@Command(
        name = "watch",
        description = {
            "Print the changes under PREFIX as they are committed, until Ctrl-C (or --count commits).",
            "One 'REV TYPE KEY [VALUE]' line per change (--json: one object per commit).",
            "With --from REV, the history after REV is printed first, with no gap before the live changes.",
            "In embedded mode it holds the store while it runs (one process at a time): other caskade commands",
            "on the same --data fail with 'store is locked'. With --server it reconnects after a dropped",
            "connection and goes on after the last revision it printed."
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

    @Option(names = "--count", paramLabel = "N", description = "Exit after N commits.")
    Long count;

    @Mixin
    ServerTarget target = new ServerTarget();

    /** Called with the store once the watch is in place; tests write through it (a store has one writer). */
    volatile Consumer<Store> started = store -> {};

    private final CompletableFuture<Void> stop = new CompletableFuture<>();
    private final CountDownLatch finished = new CountDownLatch(1);

    /** Ends the watch: the store is closed and the command returns 0. Safe from any thread, e.g. a signal hook. */
    void stop() {
        stop.complete(null);
    }

    @Override
    int run() throws Exception {
        if (from != null && from < 0) throw new ParameterException(spec.commandLine(), "--from must be >= 0: " + from);
        if (count != null && count < 1)
            throw new ParameterException(spec.commandLine(), "--count must be >= 1: " + count);
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
        PrintWriter out = out();
        long[] printed = {0};
        try (Store store = store(target, false, null)) {
            store.watch(prefix.getBytes(StandardCharsets.UTF_8), from, stop, () -> started.accept(store), commit -> {
                print(out, commit, json);
                // stop when stdout is gone (e.g. the pipe's reader quit)
                return !out.checkError() && (count == null || ++printed[0] < count);
            });
            return Main.OK;
        } finally {
            finished.countDown();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // the hook is running: it is what stopped us
            }
        }
    }

    /** One commit as {@code watch} prints it: a line per change, or one JSON object. */
    static void print(PrintWriter out, WatchEvent.Commit commit, boolean json) {
        if (json) {
            List<String> changes = new ArrayList<>(commit.changes().size());
            for (Change c : commit.changes()) {
                Json change = Json.object().add("type", c.type().name()).addBytes("key", c.key());
                if (c.type() == ChangeType.PUT) change.addBytes("value", c.value());
                if (c.expiresAt() != Store.UNKNOWN_EXPIRY) change.add("expiresAt", c.expiresAt());
                changes.add(change.toString());
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
    }
}
