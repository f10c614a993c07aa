package dev.caskade.s3;

import dev.caskade.Caskade;
import dev.caskade.LogTail;
import dev.caskade.Snapshot;
import java.nio.file.Path;

/**
 * Where a {@link Shipper} takes commits and snapshots from. The commits always come from the data directory's
 * files (a {@link LogTail}), so the same code ships inside the server and as a sidecar; only the snapshot and
 * the limit of what may be shipped differ.
 */
sealed interface Source {
    Path dir();

    /** The store's revision now, for lag (cheap, never blocks on a read in progress). */
    long revision(LogTail tail);

    /** The highest revision that may be shipped now. */
    long shippable(LogTail tail);

    /** A consistent view of the whole store; closing it releases everything it holds. */
    View view();

    /** A snapshot and whatever had to be opened for it. */
    record View(Snapshot snapshot, AutoCloseable owner) implements AutoCloseable {
        @Override
        public void close() {
            snapshot.close();
            if (owner != null) {
                try {
                    owner.close();
                } catch (Exception e) {
                    throw new IllegalStateException("closing the snapshot's store failed: " + e.getMessage(), e);
                }
            }
        }
    }

    /** Inside the process that owns the store: only durable commits are shipped, so a destination is never ahead. */
    record Live(Caskade db) implements Source {
        @Override
        public Path dir() {
            return db.directory();
        }

        @Override
        public long revision(LogTail tail) {
            return db.revision();
        }

        @Override
        public long shippable(LogTail tail) {
            return Math.min(db.durableRevision(), tail.revision());
        }

        @Override
        public View view() {
            return new View(db.snapshot(), null);
        }
    }

    /**
     * Beside a process that owns the store (a sidecar): everything complete in the files is shipped, and
     * snapshots come from a read-only, lock-free open of the directory.
     */
    record Directory(Path dir) implements Source {
        @Override
        public long revision(LogTail tail) {
            return tail.revision();
        }

        @Override
        public long shippable(LogTail tail) {
            return tail.revision();
        }

        @Override
        public View view() {
            Caskade ro = Caskade.openReadOnly(dir);
            try {
                return new View(ro.snapshot(), ro);
            } catch (RuntimeException e) {
                ro.close();
                throw e;
            }
        }
    }
}
