package dev.caskade.cli;

import dev.caskade.Entry;
import dev.caskade.WatchEvent;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.function.Predicate;

/**
 * What the key verbs and the shell work on: a store directory opened in this process, or a server reached over
 * HTTP. Both report failures as exceptions that {@link StoreCommand} turns into one line and an exit code.
 */
sealed interface Store extends AutoCloseable permits EmbeddedStore, RemoteStore {

    /** The expiry of an entry or change whose source does not report it (the HTTP API); JSON output omits it. */
    long UNKNOWN_EXPIRY = -1;

    Optional<Entry> get(byte[] key);

    /** Commits {@code value} under {@code key}, expiring after {@code ttl} unless it is null; the revision. */
    long put(byte[] key, byte[] value, Duration ttl);

    /** The revision of the delete; 0 when the key was absent (nothing was written). */
    long delete(byte[] key);

    /** Hands the live keys under {@code prefix} to {@code each} in key order, at most {@code limit} of them. */
    void scan(byte[] prefix, long limit, Predicate<Entry> each);

    /** The last committed revision. */
    long revision();

    /**
     * Hands each commit under {@code prefix} after revision {@code from} (null: after the current revision) to
     * {@code each}, in order and exactly once, until {@code each} returns false or {@code stop} completes. Blocks;
     * {@code started} runs once the watch is in place. History that is compacted throws CompactedException.
     */
    void watch(
            byte[] prefix, Long from, CompletableFuture<?> stop, Runnable started, Predicate<WatchEvent.Commit> each);

    /** Where the data is: the directory, or the server's URL. */
    String location();

    @Override
    void close();
}
