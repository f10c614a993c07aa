package dev.caskade.cli;

import dev.caskade.Caskade;
import dev.caskade.CompactedException;
import dev.caskade.Watch;
import dev.caskade.WatchEvent;
import dev.caskade.client.CaskadeClient;
import dev.caskade.client.RemoteEvent;
import dev.caskade.client.RemoteWatch;
import java.nio.file.Path;
import java.util.function.Consumer;

/**
 * Where a {@link Webhook}'s commits come from: a server's change feed over SSE ({@code caskade webhook --server}), or
 * the store a server serves in the same process ({@code serve --webhook-to}). Both deliver the commits under a
 * prefix after a revision, in order, each once, then end.
 */
sealed interface WebhookFeed {

    /** What a stream hands the adapter; {@link Ended} comes last. */
    sealed interface Event {}

    record Commit(WatchEvent.Commit commit) implements Event {}

    /** The history after the requested revision is gone: the oldest revision a stream may start from. */
    record Compacted(long oldest) implements Event {}

    /** The stream is over: null after close(), else why (a broken connection, an overflow, the store closed...). */
    record Ended(Throwable cause) implements Event {}

    /** One open stream. */
    interface Stream extends AutoCloseable {
        /** When the stream last brought anything (a keep-alive too), on {@link System#nanoTime()}'s clock. */
        long lastReceivedNanos();

        @Override
        void close();
    }

    /** Names the source in the idempotency key and the position file: stable across restarts. */
    String identity();

    /** The source's newest revision now (may ask the server). */
    long revision();

    /** Opens a stream of the commits under {@code prefix} after {@code from}; events go to {@code sink}, in order. */
    Stream open(byte[] prefix, long from, Consumer<Event> sink);

    /** A server's {@code GET /v1/watch}. */
    record Remote(CaskadeClient client) implements WebhookFeed {
        @Override
        public String identity() {
            return client.base();
        }

        @Override
        public long revision() {
            return client.revision();
        }

        @Override
        public Stream open(byte[] prefix, long from, Consumer<Event> sink) {
            RemoteWatch w = client.watch(prefix, from, false, e -> {
                switch (e) {
                    case RemoteEvent.Commit c -> sink.accept(new Commit(c.commit()));
                    case RemoteEvent.Compacted c -> sink.accept(new Compacted(c.oldest()));
                    case RemoteEvent.Ended end -> sink.accept(new Ended(end.cause()));
                    case RemoteEvent.Overflow o -> {} // Ended follows; the adapter resumes from its position
                    case RemoteEvent.Snapshot s -> {} // never asked for
                }
            });
            return new Stream() {
                @Override
                public long lastReceivedNanos() {
                    // RemoteWatch gives an Instant; the adapter compares nanoTime
                    long ago = java.time.Duration.between(w.lastReceivedAt(), java.time.Instant.now())
                            .toNanos();
                    return System.nanoTime() - Math.max(0, ago);
                }

                @Override
                public void close() {
                    w.close();
                }
            };
        }
    }

    /** The store of this process ({@code serve --webhook-to}): {@link Caskade#watch}. */
    record Local(Caskade db, Path dir) implements WebhookFeed {
        @Override
        public String identity() {
            return "store:" + dir.toAbsolutePath().normalize();
        }

        @Override
        public long revision() {
            return db.revision();
        }

        @Override
        public Stream open(byte[] prefix, long from, Consumer<Event> sink) {
            Watch w;
            try {
                w = db.watch(prefix, from, e -> {
                    switch (e) {
                        case WatchEvent.Commit c -> sink.accept(new Commit(c));
                        case WatchEvent.End end ->
                            sink.accept(new Ended(
                                    end.reason() == WatchEvent.Reason.CLOSED
                                            ? null
                                            : new IllegalStateException("the store's watch ended: " + end.reason()
                                                    + "; resume from " + end.resumeFrom())));
                    }
                });
            } catch (CompactedException c) {
                sink.accept(new Compacted(c.oldest()));
                sink.accept(new Ended(null));
                return new Stream() {
                    @Override
                    public long lastReceivedNanos() {
                        return System.nanoTime();
                    }

                    @Override
                    public void close() {}
                };
            }
            return new Stream() {
                @Override
                public long lastReceivedNanos() {
                    return System.nanoTime(); // in-process: never silently dead
                }

                @Override
                public void close() {
                    w.close();
                }
            };
        }
    }
}
