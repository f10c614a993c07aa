package dev.caskade.cli;

import dev.caskade.Caskade;
import dev.caskade.Entry;
import dev.caskade.Watch;
import dev.caskade.WatchEvent;
import java.time.Duration;
import java.util.Iterator;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.function.Predicate;
import java.util.stream.Stream;

/** A store directory opened by this process (embedded mode): the store is held, and locked, until close. */
final class EmbeddedStore implements Store {
    private final Caskade db;

    EmbeddedStore(Caskade db) {
        this.db = db;
    }

    /** The open store, for tests that write to it while a command holds it. */
    Caskade db() {
        return db;
    }

    @Override
    public Optional<Entry> get(byte[] key) {
        return db.get(key);
    }

    @Override
    public long put(byte[] key, byte[] value, Duration ttl) {
        return ttl == null ? db.put(key, value) : db.put(key, value, ttl);
    }

    @Override
    public long delete(byte[] key) {
        return db.delete(key);
    }

    @Override
    public void scan(byte[] prefix, long limit, Predicate<Entry> each) {
        try (Stream<Entry> entries = db.scan(prefix)) {
            Iterator<Entry> it = entries.limit(limit).iterator();
            while (it.hasNext()) {
                if (!each.test(it.next())) return;
            }
        }
    }

    @Override
    public long revision() {
        return db.revision();
    }

    private sealed interface Signal {
        record Stop() implements Signal {}

        /** A watch ended by itself; {@code generation} tells which of the successive watches it was. */
        record Ended(int generation, WatchEvent.End end) implements Signal {}
    }

    @Override
    public void watch(
            byte[] prefix, Long from, CompletableFuture<?> stop, Runnable started, Predicate<WatchEvent.Commit> each) {
        BlockingQueue<Signal> signals = new LinkedBlockingQueue<>();
        stop.whenComplete((v, e) -> signals.add(new Signal.Stop()));
        // the listener runs on the watch's thread; once each says stop, later commits are not handed over
        boolean[] done = {false};
        long resume = from != null ? from : db.revision();
        for (int generation = 0; ; generation++) {
            int current = generation;
            Watch watch = db.watch(prefix, resume, event -> {
                switch (event) {
                    case WatchEvent.Commit commit -> {
                        if (done[0]) return;
                        if (!each.test(commit)) {
                            done[0] = true;
                            signals.add(new Signal.Stop());
                        }
                    }
                    case WatchEvent.End end -> signals.add(new Signal.Ended(current, end));
                }
            });
            Optional<WatchEvent.End> end;
            try {
                if (current == 0) started.run();
                end = next(signals, current);
            } finally {
                watch.close();
            }
            if (end.isEmpty()) return;
            switch (end.get().reason()) {
                case OVERFLOW -> resume = end.get().resumeFrom(); // the store promises no gap, no duplicate from here
                case CLOSED -> {
                    return;
                }
                case STORE_CLOSED -> throw new StoreCommand.Failure(Main.FAILED, "the store was closed");
                case FAILED ->
                    throw new StoreCommand.Failure(
                            Main.FAILED,
                            "the watch failed after revision " + end.get().resumeFrom());
            }
        }
    }

    /** Waits for the end of watch {@code generation}; empty when asked to stop. */
    private static Optional<WatchEvent.End> next(BlockingQueue<Signal> signals, int generation) {
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

    @Override
    public String location() {
        return db.directory().toString();
    }

    @Override
    public void close() {
        db.close();
    }
}
