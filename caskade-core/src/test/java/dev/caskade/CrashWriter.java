package dev.caskade;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The child process of {@link CrashTest}: writes to a store from several threads until it is killed with SIGKILL.
 *
 * <p>Every call is announced on stdout before it is made ({@code TRY <thread> <seq> <op>}) and acknowledged after
 * it returns ({@code ACK <revision> <thread> <seq> <op>}). Each line goes out in one write(2) before the next step,
 * so what the parent finds in the stdout file after the kill is everything the child had announced and acknowledged.
 * (A line cut short by the kill is ignored by the parent, which only makes a call look un-acknowledged.)
 *
 * <p>Arguments: {@code <dir> <seed> <round> <threads> <maxMillis> <maxCommits> <backgroundMerge>}.
 */
final class CrashWriter {
    /** Single puts and deletes go to k/0 .. k/(SINGLE_KEYS-1). */
    static final int SINGLE_KEYS = 150;

    /**
     * Batches write whole slots: slot s is the keys b/s/0 .. b/s/(slotSize(s)-1), always all put with one value or
     * all deleted, so at any revision a slot's keys agree: all absent or all equal.
     */
    static final int SLOTS = 20;

    private final FileOutputStream out = new FileOutputStream(FileDescriptor.out);

    private CrashWriter() {}

    static int slotSize(int slot) {
        return 2 + slot % 5;
    }

    static String slotKey(int slot, int i) {
        return "b/" + slot + "/" + i;
    }

    /** Small segments so they roll (and hints are written) within one short run. */
    static CaskadeOptions options(boolean backgroundMerge) {
        CaskadeOptions o = CaskadeOptions.defaults()
                .withDurability(Durability.SYNC)
                .withSegmentBytes(64 << 10)
                .withHistory(Duration.ZERO, 0);
        return backgroundMerge
                ? o.withMerge(0.3, 32 << 10, 0, Duration.ofMillis(100))
                : o.withMerge(0.6, 512L << 20, 0, Duration.ZERO);
    }

    /** One call the writer makes, in the form it is printed and parsed back. */
    sealed interface Op {
        record Put(String key, String value) implements Op {}

        record Delete(String key) implements Op {}

        /** Puts (or deletes) every key of {@code slot}, and puts {@code key}={@code value}, in one commit. */
        record SlotBatch(int slot, boolean deleteSlot, String key, String value) implements Op {}

        default String describe() {
            return switch (this) {
                case Put p -> "P " + p.key() + " " + p.value();
                case Delete d -> "D " + d.key();
                case SlotBatch b ->
                    "B " + b.slot() + " " + (b.deleteSlot() ? "del" : "put") + " " + b.key() + " " + b.value();
            };
        }

        /** The value this op writes (unique to it), or null for a plain delete. */
        default String value() {
            return switch (this) {
                case Put p -> p.value();
                case Delete d -> null;
                case SlotBatch b -> b.value();
            };
        }

        /** Key to the value it holds after the op; null means deleted. */
        default Map<String, String> effects() {
            Map<String, String> m = new LinkedHashMap<>();
            switch (this) {
                case Put p -> m.put(p.key(), p.value());
                case Delete d -> m.put(d.key(), null);
                case SlotBatch b -> {
                    for (int i = 0; i < slotSize(b.slot()); i++) {
                        m.put(slotKey(b.slot(), i), b.deleteSlot() ? null : b.value());
                    }
                    m.put(b.key(), b.value());
                }
            }
            return m;
        }

        static Op parse(List<String> t) {
            return switch (t.get(0)) {
                case "P" -> {
                    require(t.size() == 3, t);
                    yield new Put(t.get(1), t.get(2));
                }
                case "D" -> {
                    require(t.size() == 2, t);
                    yield new Delete(t.get(1));
                }
                case "B" -> {
                    require(t.size() == 5 && (t.get(2).equals("put") || t.get(2).equals("del")), t);
                    yield new SlotBatch(Integer.parseInt(t.get(1)), t.get(2).equals("del"), t.get(3), t.get(4));
                }
                default -> throw new IllegalArgumentException("unknown op: " + t);
            };
        }

        private static void require(boolean ok, List<String> t) {
            if (!ok) throw new IllegalArgumentException("malformed op: " + t);
        }
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        long seed = Long.parseLong(args[1]);
        int round = Integer.parseInt(args[2]);
        int threads = Integer.parseInt(args[3]);
        long deadline =
                System.nanoTime() + Duration.ofMillis(Long.parseLong(args[4])).toNanos();
        long maxCommits = Long.parseLong(args[5]);
        boolean backgroundMerge = Boolean.parseBoolean(args[6]);
        haltWhenParentDies();

        CrashWriter w = new CrashWriter();
        AtomicLong commits = new AtomicLong();
        SplittableRandom root = new SplittableRandom(seed);
        try (Caskade db = Caskade.open(dir, options(backgroundMerge))) {
            List<Thread> writers = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int thread = t;
                SplittableRandom rnd = root.split(); // seeds differing by the golden gamma would give shifted copies
                writers.add(Thread.ofPlatform().name("writer-" + t).start(() -> {
                    try {
                        for (long seq = 0;
                                System.nanoTime() < deadline && commits.incrementAndGet() <= maxCommits;
                                seq++) {
                            Op op = nextOp(rnd, round, thread, seq);
                            w.line("TRY " + thread + " " + seq + " " + op.describe());
                            long revision = apply(db, op);
                            w.line("ACK " + revision + " " + thread + " " + seq + " " + op.describe());
                        }
                    } catch (Throwable e) {
                        w.fail(e);
                    }
                }));
            }
            for (Thread t : writers) t.join();
        } catch (Throwable e) {
            w.fail(e);
        }
        w.line("DONE");
        System.exit(0);
    }

    static Op nextOp(SplittableRandom rnd, int round, int thread, long seq) {
        // unique per op across rounds, so the parent can tell which op a stored value came from
        String value = "r" + round + ".t" + thread + ".s" + seq + "." + "x".repeat(rnd.nextInt(200));
        String key = "k/" + rnd.nextInt(SINGLE_KEYS);
        int dice = rnd.nextInt(100);
        if (dice < 50) return new Op.Put(key, value);
        if (dice < 65) return new Op.Delete(key);
        return new Op.SlotBatch(rnd.nextInt(SLOTS), rnd.nextInt(4) == 0, key, value);
    }

    static long apply(Caskade db, Op op) {
        return switch (op) {
            case Op.Put p -> db.put(p.key(), p.value());
            case Op.Delete d -> db.delete(d.key());
            case Op.SlotBatch b -> {
                Batch batch = Batch.create();
                for (int i = 0; i < slotSize(b.slot()); i++) {
                    if (b.deleteSlot()) batch.delete(slotKey(b.slot(), i));
                    else batch.put(slotKey(b.slot(), i), b.value());
                }
                batch.put(b.key(), b.value());
                yield db.commit(batch);
            }
        };
    }

    /** One line in one write(2), in the order the calls happen. */
    private void line(String s) {
        byte[] bytes = (s + "\n").getBytes(StandardCharsets.UTF_8);
        synchronized (out) {
            try {
                out.write(bytes);
            } catch (IOException e) {
                Runtime.getRuntime().halt(5); // the parent is gone
            }
        }
    }

    private void fail(Throwable e) {
        StringWriter trace = new StringWriter();
        e.printStackTrace(new PrintWriter(trace));
        line("ERR " + e.toString().replace('\n', ' '));
        System.err.println(trace);
        System.err.flush();
        Runtime.getRuntime().halt(3);
    }

    /** The parent holds our stdin open; EOF means it died, and an orphan writer must not linger. */
    static void haltWhenParentDies() {
        Thread.ofPlatform().daemon().name("parent-watch").start(() -> {
            try {
                while (System.in.read() != -1) {
                    // the parent never writes; keep reading until EOF
                }
            } catch (IOException e) {
                // treat like EOF
            }
            Runtime.getRuntime().halt(6);
        });
    }
}
