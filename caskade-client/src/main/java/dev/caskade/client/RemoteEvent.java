package dev.caskade.client;

import dev.caskade.Entry;
import dev.caskade.WatchEvent;
import java.util.List;

/** What a {@link RemoteWatch} delivers, in the order the server sent it; {@link Ended} always comes last, once. */
public sealed interface RemoteEvent {

    /**
     * Part of the state at {@code revision} (a watch opened with {@code snapshot=true}); commits after
     * {@code revision} follow the chunk with {@code last}.
     */
    record Snapshot(long revision, List<Entry> items, boolean last) implements RemoteEvent {
        public Snapshot {
            items = List.copyOf(items);
        }
    }

    /** One commit: only its changes under the watched prefix. */
    record Commit(WatchEvent.Commit commit) implements RemoteEvent {
        public long revision() {
            return commit.revision();
        }
    }

    /** The requested revision is below the server's retained history; watch from {@code oldest} or with a snapshot. */
    record Compacted(long oldest) implements RemoteEvent {}

    /** The server dropped the watch because it fell behind; a new watch from {@code resume} continues without gap. */
    record Overflow(long resume) implements RemoteEvent {}

    /**
     * The stream is over. {@code cause} is null after {@link RemoteWatch#close()}; otherwise it says why (the
     * server ended the stream, the connection broke, an event could not be read, or the listener threw).
     */
    record Ended(Throwable cause) implements RemoteEvent {}
}
