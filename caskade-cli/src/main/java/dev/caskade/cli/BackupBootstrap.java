package dev.caskade.cli;

import dev.caskade.cluster.Bootstrap;
import dev.caskade.s3.BreakerOptions;
import dev.caskade.s3.Destination;
import dev.caskade.s3.GuardedStore;
import dev.caskade.s3.ObjectStore;
import dev.caskade.s3.Restore;
import dev.caskade.s3.RestoreOptions;
import dev.caskade.s3.S3Options;
import java.nio.file.Path;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code serve --cluster ... --bootstrap-from URL}: when the cluster's stream has left this node behind and no peer
 * can give it a snapshot, it restores the latest backup at URL, which any node of the cluster ships with {@code
 * --replicate-to} (revisions are the cluster's, the same on every node). A backup that does not reach the stream's
 * start is refused from the listing, before its snapshot is downloaded.
 */
final class BackupBootstrap implements Bootstrap {
    private static final Logger LOG = LoggerFactory.getLogger(BackupBootstrap.class);

    private final String url;
    private final S3Options s3;
    private final BreakerOptions breaker;

    /**
     * Checks {@code url} as {@link Destination} would open it (no request is sent).
     *
     * @throws IllegalArgumentException naming {@code bootstrap-from} and what is wrong with the URL
     */
    BackupBootstrap(String url, S3Options s3, BreakerOptions breaker) {
        this.url = Objects.requireNonNull(url, "url");
        this.s3 = Objects.requireNonNull(s3, "s3");
        this.breaker = Objects.requireNonNull(breaker, "breaker");
        try (ObjectStore store = Destination.openDirect(url, s3)) {
            Objects.requireNonNull(store);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("bootstrap-from: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("bootstrap-from: cannot use '" + url + "': " + e.getMessage(), e);
        }
    }

    @Override
    public long load(Path dir, long atLeast) {
        try (GuardedStore store = Destination.open(url, s3, breaker)) {
            Restore.Plan plan = Restore.plan(store, RestoreOptions.latest());
            long reach = plan.logs().isEmpty()
                    ? plan.snapshot().revision()
                    : plan.logs().getLast().to();
            if (reach < atLeast) return reach; // too old: the node says so, and nothing is downloaded
            Restore.Result r = Restore.run(
                    store,
                    dir,
                    RestoreOptions.latest(),
                    Restore.Progress.logged("bootstrapping from " + url, java.time.Duration.ofSeconds(5)));
            LOG.info(
                    "restored {}: revision {}, {} keys, digest {} ({} objects, {} bytes in {} ms)",
                    url,
                    r.digest().revision(),
                    r.digest().keys(),
                    r.digest().sha256(),
                    r.plan().objects(),
                    r.plan().bytes(),
                    r.took().toMillis());
            return r.digest().revision();
        }
    }

    @Override
    public String description() {
        return url;
    }

    @Override
    public String toString() {
        return "backup " + url;
    }
}
