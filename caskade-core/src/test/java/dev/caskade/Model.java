package dev.caskade;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Optional;
import java.util.TreeMap;

/**
 * What a store must hold: every key with its value, revision and expiry in unsigned byte order, the last
 * revision, and the changes of every commit the test made. Expired keys stay here until a reap is
 * accounted for, but are never visible.
 */
final class Model {
    /** A commit the test made and knows the content of. */
    record Recorded(long revision, long timestamp, List<Change> changes) {}

    private final TreeMap<byte[], Entry> entries;
    private final TreeMap<Long, Recorded> history = new TreeMap<>();
    private long revision;

    Model() {
        this(new TreeMap<>(Arrays::compareUnsigned), 0);
    }

    private Model(TreeMap<byte[], Entry> entries, long revision) {
        this.entries = entries;
        this.revision = revision;
    }

    /** A frozen copy of the keys at this revision (what a snapshot must keep showing); no history. */
    Model copy() {
        return new Model(new TreeMap<>(entries), revision);
    }

    long revision() {
        return revision;
    }

    /** Revisions up to {@code r} were taken by commits the test did not make itself (reaps). */
    void skipTo(long r) {
        if (r < revision) throw new IllegalStateException("revision went back: " + r + " < " + revision);
        revision = r;
    }

    static boolean visible(Entry e, long now) {
        return e.expiresAt() == 0 || now < e.expiresAt();
    }

    Optional<Entry> get(byte[] key, long now) {
        Entry e = entries.get(key);
        return e != null && visible(e, now) ? Optional.of(e) : Optional.empty();
    }

    /** The revision a precondition compares with: 0 when absent or expired. */
    long revisionOf(byte[] key, long now) {
        return get(key, now).map(Entry::revision).orElse(0L);
    }

    List<Entry> scan(byte[] prefix, long now) {
        List<Entry> out = new ArrayList<>();
        for (Entry e : entries.tailMap(prefix, true).values()) {
            if (!Keys.startsWith(e.key(), prefix)) break;
            if (visible(e, now)) out.add(e);
        }
        return out;
    }

    /** {@code from} inclusive, {@code to} exclusive, null = open. */
    List<Entry> range(byte[] from, byte[] to, long now) {
        NavigableMap<byte[], Entry> m = entries;
        if (from != null) m = m.tailMap(from, true);
        if (to != null) m = m.headMap(to, false);
        return m.values().stream().filter(e -> visible(e, now)).toList();
    }

    List<Entry> all(long now) {
        return range(null, null, now);
    }

    /** Keys still held, expired ones included (what the store's key directory holds before a reap). */
    int held() {
        return entries.size();
    }

    int live(long now) {
        return (int) entries.values().stream().filter(e -> visible(e, now)).count();
    }

    List<byte[]> expired(long now) {
        return entries.values().stream()
                .filter(e -> !visible(e, now))
                .map(Entry::key)
                .toList();
    }

    /** Drops every expired key: a reap has been accounted for. */
    int removeExpired(long now) {
        List<byte[]> gone = expired(now);
        gone.forEach(entries::remove);
        return gone.size();
    }

    /** Applies one commit made by the test under the next revision. */
    void commit(long r, long timestamp, List<Change> changes) {
        if (r != revision + 1) throw new IllegalStateException("commit " + r + " after " + revision);
        if (changes.isEmpty()) throw new IllegalStateException("a commit without changes takes no revision");
        for (Change c : changes) {
            switch (c.type()) {
                case PUT -> entries.put(c.key(), new Entry(c.key(), c.value(), r, c.expiresAt()));
                case DELETE, EXPIRE -> entries.remove(c.key());
            }
        }
        history.put(r, new Recorded(r, timestamp, List.copyOf(changes)));
        revision = r;
    }

    /** Commits the test made, by revision; revisions missing here were taken by reaps. */
    NavigableMap<Long, Recorded> history() {
        return history;
    }

    Map<byte[], Entry> entries() {
        return entries;
    }
}
