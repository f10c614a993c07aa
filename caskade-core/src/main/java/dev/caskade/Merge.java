package dev.caskade;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Background compaction. Picks the oldest sealed data segments that history retention and every watch
 * no longer need (plus earlier merge outputs), copies the entries the key directory still points to into
 * new merged segments, and retires the inputs. Never holds the commit lock while copying; it takes it
 * only briefly to swap key-directory entries, and a key written meanwhile simply keeps its newer version.
 *
 * <p>Crash safety: outputs are written as {@code .tmp}, fsynced with their hints and renamed; then a
 * {@link MergeRecord} commits the merge; only then are inputs deleted (when no reader holds them).
 */
final class Merge {
    private static final int SWAP_CHUNK = 4096;
    private static final System.Logger LOG = System.getLogger(Merge.class.getName());

    /** One live entry copied: where it was and where it went. */
    private record Move(byte[] key, Loc from, int output, int offset) {}

    private Merge() {}

    static boolean run(Caskade db, boolean explicit) {
        if (explicit) {
            db.mergeLock.lock();
        } else if (!db.mergeLock.tryLock()) {
            return false;
        }
        try {
            if (db.isClosed()) return false;
            List<Segment> inputs = choose(db, explicit);
            if (inputs == null) return false;
            merge(db, inputs);
            db.merges.incrementAndGet();
            return true;
        } catch (IOException e) {
            throw new CaskadeException("merge failed: dir=" + db.dir + ": " + e.getMessage(), e);
        } finally {
            db.mergeLock.unlock();
        }
    }

    /**
     * The segments to merge, or null when nothing is due. Decided while no watch can register, and the
     * compaction point is raised right away, so no new watch can start below what is about to go.
     */
    private static List<Segment> choose(Caskade db, boolean explicit) {
        CaskadeOptions o = db.options;
        // read afresh each time: another process moves them (one moved forward after this read was merely
        // honoured more than it needed)
        Map<String, Long> filePins = Pin.list(db.dir);
        return db.hub.locked(() -> {
            long now = o.clock().millis();
            long pin = db.oldestPin();
            List<Segment> all = db.log.segments();
            Segment active = db.log.active();
            List<Segment> data = new ArrayList<>();
            List<Segment> merged = new ArrayList<>();
            for (Segment s : all) {
                if (s.kind == Segment.Kind.MERGED) merged.add(s);
                else if (s != active) data.add(s);
            }
            long newer = active.size();
            long[] newerBytes = new long[data.size()];
            for (int i = data.size() - 1; i >= 0; i--) {
                newerBytes[i] = newer;
                newer += data.get(i).size();
            }
            // the oldest data segments that retention, watches and snapshots let go
            int eligible = 0;
            for (; eligible < data.size(); eligible++) {
                Segment s = data.get(eligible);
                boolean old = s.maxTimestamp <= now - o.historyAge().toMillis();
                boolean beyond = newerBytes[eligible] >= o.historyBytes();
                if (!(old && beyond && s.maxRevision <= pin)) break;
            }
            FilePins held = FilePins.hold(filePins, db.compactedRevision, data, eligible, o.pinBytes());
            List<Segment> chosen = new ArrayList<>(merged);
            long boundary = db.compactedRevision;
            for (int i = 0; i < held.cut(); i++) {
                chosen.add(data.get(i));
                boundary = Math.max(boundary, data.get(i).maxRevision);
            }
            long total = 0;
            long dead = 0;
            for (Segment s : chosen) {
                total += s.size() - Segment.HEADER;
                dead += Math.min(s.size() - Segment.HEADER, s.deadBytes.get());
            }
            boolean due = explicit
                    ? dead > 0
                    : dead > 0 && (dead >= o.mergeFragmentation() * total || dead >= o.mergeDeadBytes());
            if (!due) return null;
            for (Dropped d : held.dropped()) {
                if (d.revision() >= boundary) continue; // ignored, but its history survives this merge
                db.pinsDropped.incrementAndGet();
                LOG.log(
                        System.Logger.Level.WARNING,
                        "merge compacts past file pin '" + d.name() + "' at revision " + d.revision() + " of " + db.dir
                                + ": file pins held back " + d.heldBytes() + " bytes of log, more than the budget of "
                                + o.pinBytes() + " bytes (pinBytes); its owner must start over from a snapshot");
            }
            db.compactedRevision = boundary;
            chosen.sort((a, b) -> Long.compare(a.id, b.id));
            return chosen;
        });
    }

    /** A file pin that merge ignores, and the bytes file pins held back when it was the oldest. */
    private record Dropped(String name, long revision, long heldBytes) {}

    /**
     * How far file pins let merge go: the first {@code cut} data segments may be merged, and the {@code dropped}
     * pins were ignored to stay within the budget.
     */
    private record FilePins(int cut, List<Dropped> dropped) {
        /**
         * Of the {@code eligible} oldest data segments, holds back those with history after the oldest live file
         * pin; while those bytes exceed {@code budget}, ignores the oldest pin. A pin below the compaction point
         * holds nothing: its history is already gone.
         */
        static FilePins hold(Map<String, Long> pins, long compacted, List<Segment> data, int eligible, long budget) {
            List<Map.Entry<String, Long>> live = new ArrayList<>();
            for (Map.Entry<String, Long> e : pins.entrySet()) if (e.getValue() >= compacted) live.add(e);
            live.sort(Map.Entry.comparingByValue());
            List<Dropped> dropped = new ArrayList<>();
            for (Map.Entry<String, Long> p : live) {
                int cut = 0; // data segments are in revision order: the first one the pin needs, and all after it
                while (cut < eligible && data.get(cut).maxRevision <= p.getValue()) cut++;
                long held = 0;
                for (int i = cut; i < eligible; i++) held += data.get(i).size();
                if (held <= budget) return new FilePins(cut, dropped);
                dropped.add(new Dropped(p.getKey(), p.getValue(), held));
            }
            return new FilePins(eligible, dropped);
        }
    }

    private static void merge(Caskade db, List<Segment> inputs) throws IOException {
        CaskadeOptions o = db.options;
        long boundary = db.compactedRevision;
        List<Segment> outputs = new ArrayList<>();
        List<Move> moves = new ArrayList<>();
        Segment out = null;
        long copied = 0;
        long started = System.nanoTime();
        try {
            for (Segment s : inputs) {
                if (!s.acquire()) continue;
                try {
                    long size = s.size();
                    ByteBuffer b = s.bytes(size);
                    int pos = Segment.HEADER;
                    while (pos < size) {
                        if (EntryCodec.check(b, pos, (int) size) != EntryCodec.Problem.NONE) {
                            throw new CorruptionException("checksum mismatch during merge", s.path, pos);
                        }
                        EntryCodec.Header h = EntryCodec.header(b, pos);
                        byte[] key = EntryCodec.key(b, pos, h);
                        Loc head = db.keyDir.head(key);
                        if (head != null && head.isPut() && head.segment == s && head.offset == pos) {
                            if (out == null || out.size() + h.size() > o.segmentBytes()) {
                                long id;
                                db.commitLock.lock();
                                try {
                                    id = db.log.takeId();
                                } finally {
                                    db.commitLock.unlock();
                                }
                                out = Segment.create(db.dir, id, Segment.Kind.MERGED, boundary, ".tmp", 0);
                                outputs.add(out);
                            }
                            moves.add(new Move(key, head, outputs.size() - 1, (int) out.size()));
                            out.append(b.slice(pos, h.size()));
                            copied += h.size();
                            throttle(o.mergeBytesPerSecond(), copied, started);
                        }
                        pos += h.size();
                    }
                } finally {
                    s.release();
                }
            }
            if (outputs.isEmpty()) {
                // nothing live: an empty merged segment still records the compaction point for reopen
                outputs.add(Segment.create(db.dir, takeId(db), Segment.Kind.MERGED, boundary, ".tmp", 0));
            }
            // make the outputs durable and give them their final names and hints
            List<Segment> finals = new ArrayList<>();
            for (Segment t : outputs) {
                t.force();
                t.closeQuietly();
                Path target = db.dir.resolve(Segment.fileName(t.id));
                Files.move(t.path, target, StandardCopyOption.ATOMIC_MOVE);
                Segment f = Segment.open(target);
                f.seal();
                Log.writeHint(f);
                finals.add(f);
            }
            outputs = finals;
            db.log.fsyncDirectory();
        } catch (IOException | RuntimeException e) {
            for (Segment t : outputs) {
                t.closeQuietly();
                Files.deleteIfExists(t.path);
                Files.deleteIfExists(Segment.hintPath(t.path));
            }
            throw e;
        }
        long recordId = outputs.get(0).id;
        MergeRecord.write(db.dir, recordId, inputs);
        swap(db, inputs, outputs, moves);
        for (Segment s : inputs) s.retire();
        List<Segment> retired = List.copyOf(inputs);
        Path dir = db.dir;
        synchronized (db.pendingRecordCleanups) {
            db.pendingRecordCleanups.add(() -> MergeRecord.deleteIfDone(dir, recordId, retired));
        }
        db.finishMergeRecords();
    }

    private static long takeId(Caskade db) {
        db.commitLock.lock();
        try {
            return db.log.takeId();
        } finally {
            db.commitLock.unlock();
        }
    }

    /** Points the key directory at the copies, a chunk at a time, then swaps the segment list. */
    private static void swap(Caskade db, List<Segment> inputs, List<Segment> outputs, List<Move> moves) {
        for (int i = 0; i < moves.size(); i += SWAP_CHUNK) {
            db.commitLock.lock();
            try {
                for (int j = i; j < Math.min(moves.size(), i + SWAP_CHUNK); j++) {
                    Move m = moves.get(j);
                    Segment to = outputs.get(m.output());
                    if (!db.keyDir.replace(m.key(), m.from(), m.from().movedTo(to, m.offset()))) {
                        to.deadBytes.addAndGet(m.from().size); // written again meanwhile: the copy is dead
                    }
                }
            } finally {
                db.commitLock.unlock();
            }
        }
        db.commitLock.lock();
        try {
            db.log.replace(inputs, outputs);
            for (Snapshot s : db.openSnapshots) s.hold(outputs);
        } finally {
            db.commitLock.unlock();
        }
    }

    private static void throttle(long bytesPerSecond, long copied, long startedNanos) {
        if (bytesPerSecond <= 0) return;
        long dueNanos = (long) (copied * 1e9 / bytesPerSecond);
        long ahead = dueNanos - (System.nanoTime() - startedNanos);
        if (ahead > 1_000_000) {
            try {
                Thread.sleep(ahead / 1_000_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new CaskadeException("merge interrupted");
            }
        }
    }
}
