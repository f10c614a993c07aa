package dev.caskade;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import dev.caskade.CrashWriter.Op;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kills a writing process with SIGKILL, again and again on the same store, and checks after every kill that
 * nothing it acknowledged is lost, no batch is torn, and no revision is reused.
 *
 * <p>{@code -Dcaskade.crash.kills=N} sets the number of kills (30 by default, 1000 with {@code -Pcrash});
 * {@code -Dcaskade.crash.seed=S} replays a run.
 */
class CrashTest {
    private static final int THREADS = 4;

    /** What a key holds: its value and the revision that wrote it. */
    record Versioned(String value, long revision) {}

    /** One call of the child: thread, its sequence number on that thread, and the op. */
    record Attempt(int thread, long seq, Op op) {}

    /** A call that returned, with the revision it returned. */
    record Ack(long revision, Attempt attempt) {}

    /** What the child printed before it died. */
    record Transcript(List<Ack> acks, List<Attempt> inFlight, int attempts) {}

    /** The state every check so far has confirmed: it carries over from kill to kill. */
    private final Map<String, Versioned> confirmed = new TreeMap<>();

    /** The highest revision seen anywhere so far; every later commit must be above it. */
    private long highestSeen;

    /** What the run went through, printed at the end so a green run shows it was not vacuous. */
    private int tornTails;

    private int hintFallbacks;
    private int landedInFlight;
    private int lostInFlight;
    private int merges;
    private int writerMerges;
    private long compactedRevision;

    @Test
    void acknowledgedCommitsSurviveSigkill(@TempDir Path tmp) throws Exception {
        int kills = Integer.getInteger("caskade.crash.kills", 30);
        long seed =
                Long.getLong("caskade.crash.seed", ThreadLocalRandom.current().nextLong());
        Duration budget = Duration.ofSeconds(Long.getLong("caskade.crash.seconds", 120L + 6L * kills));
        System.out.println(
                "CrashTest: seed=" + seed + " kills=" + kills + " (replay with -Dcaskade.crash.seed=" + seed + ")");
        Path dir = tmp.resolve("store");
        long start = System.nanoTime();
        int round = 1;
        long acks = 0;
        for (; round <= kills; round++) {
            if (System.nanoTime() - start > budget.toNanos()) {
                System.out.println("CrashTest: WARNING time budget " + budget + " spent after " + (round - 1) + " of "
                        + kills + " kills");
                break;
            }
            try {
                acks += killAndCheck(dir, seed, round);
            } catch (AssertionError | Exception e) {
                throw new AssertionError(
                        "CrashTest failed: seed=" + seed + " round=" + round + ": " + e.getMessage(), e);
            }
        }
        int done = round - 1;
        System.out.println("CrashTest: " + done + " kills, " + acks + " acknowledged calls checked, final revision "
                + highestSeen + "; in-flight calls found committed " + landedInFlight + ", not found " + lostInFlight
                + "; recoveries with a torn tail " + tornTails + ", with hint fallbacks " + hintFallbacks
                + "; rounds in which the writer merged " + writerMerges + ", merges by the checker " + merges + "; "
                + (System.nanoTime() - start) / 1_000_000 + " ms");
        assertThat(done).as("kills done within the time budget").isGreaterThanOrEqualTo(Math.min(kills, 3));
        assertThat(acks)
                .as("the child acknowledged commits before it was killed")
                .isPositive();
    }

    /** One round: start the writer, kill it mid-flight, reopen, check. Returns the number of acknowledged calls. */
    private long killAndCheck(Path dir, long seed, int round) throws Exception {
        SplittableRandom rnd = new SplittableRandom(seed ^ (0x9E3779B97F4A7C15L * round));
        boolean backgroundMerge = rnd.nextInt(3) == 0; // merges get killed too
        int delayMillis = 50 + rnd.nextInt(551);
        long childSeed = rnd.nextLong();
        String where = "round " + round + " (backgroundMerge=" + backgroundMerge + ", kill " + delayMillis
                + " ms after the first ACK)";

        List<String> lines;
        try (ChildJvm child = ChildJvm.start(
                CrashWriter.class,
                List.of(
                        dir.toString(),
                        Long.toString(childSeed),
                        Integer.toString(round),
                        Integer.toString(THREADS),
                        "30000",
                        "2000000",
                        Boolean.toString(backgroundMerge)))) {
            Optional<String> first = child.awaitLine(
                    l -> l.startsWith("ACK ") || l.startsWith("ERR") || l.equals("DONE"), Duration.ofSeconds(60));
            if (first.isEmpty() || !first.get().startsWith("ACK ")) {
                child.kill();
                fail(where + ": the writer did not acknowledge a commit: " + first.orElse("(nothing)") + "\nstderr:\n"
                        + child.stderr());
            }
            Thread.sleep(delayMillis);
            int exit = child.kill();
            lines = child.lines();
            boolean finished = lines.contains("DONE");
            if (!(exit == ChildJvm.SIGKILL_EXIT || (exit == 0 && finished))) {
                fail(where + ": writer exited with " + exit + " (expected SIGKILL=137)\nlast lines: "
                        + lines.subList(Math.max(0, lines.size() - 5), lines.size()) + "\nstderr:\n" + child.stderr());
            }
        }
        Transcript transcript = parse(lines, where);
        check(dir, transcript, round, where);
        return transcript.acks().size();
    }

    private static Transcript parse(List<String> lines, String where) {
        Map<Integer, Attempt> pending = new HashMap<>();
        Map<Integer, Long> nextSeq = new HashMap<>();
        List<Ack> acks = new ArrayList<>();
        int attempts = 0;
        for (String line : lines) {
            List<String> t = Arrays.asList(line.split(" "));
            switch (t.get(0)) {
                case "TRY" -> {
                    int thread = Integer.parseInt(t.get(1));
                    long seq = Long.parseLong(t.get(2));
                    assertThat(pending.get(thread))
                            .as("%s: thread %d starts a call before the last one returned: %s", where, thread, line)
                            .isNull();
                    assertThat(seq).as("%s: %s", where, line).isEqualTo(nextSeq.getOrDefault(thread, 0L));
                    nextSeq.put(thread, seq + 1);
                    pending.put(thread, new Attempt(thread, seq, Op.parse(t.subList(3, t.size()))));
                    attempts++;
                }
                case "ACK" -> {
                    long revision = Long.parseLong(t.get(1));
                    int thread = Integer.parseInt(t.get(2));
                    long seq = Long.parseLong(t.get(3));
                    Attempt a = pending.remove(thread);
                    assertThat(a).as("%s: ACK without TRY: %s", where, line).isNotNull();
                    assertThat(a.seq()).as("%s: %s", where, line).isEqualTo(seq);
                    assertThat(a.op()).as("%s: %s", where, line).isEqualTo(Op.parse(t.subList(4, t.size())));
                    acks.add(new Ack(revision, a));
                }
                case "DONE" -> {}
                case "ERR" -> fail(where + ": the writer failed: " + line);
                default -> fail(where + ": unexpected line from the writer: " + line);
            }
        }
        return new Transcript(acks, List.copyOf(pending.values()), attempts);
    }

    private void check(Path dir, Transcript transcript, int round, String where) {
        // every acknowledged revision is new and belongs to one commit
        Set<Long> ackRevisions = new HashSet<>();
        long highestAck = 0;
        for (Ack ack : transcript.acks()) {
            if (ack.revision() == 0) {
                assertThat(ack.attempt().op())
                        .as("%s: only a delete of an absent key may return revision 0: %s", where, ack)
                        .isInstanceOf(Op.Delete.class);
                continue;
            }
            assertThat(ack.revision())
                    .as(
                            "%s: revision reused or going back: %s, highest revision before this round %d",
                            where, ack, highestSeen)
                    .isGreaterThan(highestSeen);
            assertThat(ackRevisions.add(ack.revision()))
                    .as("%s: two calls acknowledged with one revision: %s", where, ack)
                    .isTrue();
            highestAck = Math.max(highestAck, ack.revision());
        }

        try (Caskade db = Caskade.open(dir, CrashWriter.options(false))) {
            Recovery recovery = db.recovery();
            if (recovery.truncatedBytes() > 0) tornTails++;
            if (recovery.hintFallbacks() > 0) hintFallbacks++;
            String context = where + ", recovery " + recovery;
            assertThat(recovery.skippedEntries())
                    .as("%s: entries skipped without repair", context)
                    .isZero();
            long storeRevision = db.revision();
            if (db.compactedRevision() > compactedRevision) writerMerges++;
            assertThat(storeRevision)
                    .as("%s: revision() below the highest acknowledged revision", context)
                    .isGreaterThanOrEqualTo(highestAck);

            Map<String, Versioned> observed = read(db, transcript, context);
            long highestObserved = 0;
            for (var e : observed.entrySet()) {
                assertThat(e.getValue().revision())
                        .as("%s: %s is newer than revision() %d", context, e, storeRevision)
                        .isLessThanOrEqualTo(storeRevision);
                highestObserved = Math.max(highestObserved, e.getValue().revision());
            }

            // calls in flight at the kill may or may not have committed; their values say which did, and when
            Map<Attempt, Long> landed = new HashMap<>();
            Set<String> maybeDeleted = new HashSet<>();
            for (Attempt a : transcript.inFlight()) {
                Set<Long> revisions = new TreeSet<>();
                if (a.op().value() != null) {
                    observed.values().stream()
                            .filter(v -> v.value().equals(a.op().value()))
                            .forEach(v -> revisions.add(v.revision()));
                }
                assertThat(revisions.size())
                        .as("%s: the keys of one commit carry different revisions: %s %s", context, a, revisions)
                        .isLessThanOrEqualTo(1);
                if (revisions.isEmpty()) {
                    lostInFlight++;
                    a.op().effects().forEach((k, v) -> {
                        if (v == null) maybeDeleted.add(k);
                    });
                    continue;
                }
                long r = revisions.iterator().next();
                assertThat(r)
                        .as("%s: unacknowledged %s landed with a reused revision %d", context, a, r)
                        .isGreaterThan(highestSeen)
                        .matches(x -> !ackRevisions.contains(x), "not an acknowledged call's revision");
                landed.put(a, r);
                landedInFlight++;
            }

            // the newest known write of each key: acknowledged calls and in-flight calls that landed
            Map<String, Versioned> newest = new HashMap<>(); // value null = deleted
            Map<String, Object> newestBy = new HashMap<>();
            for (Ack ack : transcript.acks()) {
                if (ack.revision() > 0) note(newest, newestBy, ack.attempt().op(), ack.revision(), ack);
            }
            landed.forEach((a, r) -> note(newest, newestBy, a.op(), r, a));

            Set<String> keys = new TreeSet<>(confirmed.keySet());
            keys.addAll(observed.keySet());
            keys.addAll(newest.keySet());
            transcript.inFlight().forEach(a -> keys.addAll(a.op().effects().keySet()));
            for (String key : keys) {
                Versioned expected = newest.containsKey(key) ? newest.get(key) : confirmed.get(key);
                Versioned got = observed.get(key);
                String what = context + ": key " + key + " expected " + expected + " (from "
                        + newestBy.getOrDefault(key, "an earlier round") + ") but found " + got
                        + "\nthis round's calls on " + key + ":\n" + callsOn(key, transcript, landed);
                if (expected == null || expected.value() == null) {
                    assertThat(got)
                            .as("%s: deleted or never written, yet present", what)
                            .isNull();
                } else if (got == null) {
                    // only a delete that was in flight (and so un-acknowledged) may explain a missing key
                    assertThat(maybeDeleted)
                            .as("%s: acknowledged write lost", what)
                            .contains(key);
                } else {
                    assertThat(got).as("%s: wrong value or revision", what).isEqualTo(expected);
                }
            }

            // batches are atomic: the keys of a slot are all absent or all hold one commit's value
            for (int slot = 0; slot < CrashWriter.SLOTS; slot++) {
                Set<Optional<Versioned>> states = new HashSet<>();
                for (int i = 0; i < CrashWriter.slotSize(slot); i++) {
                    states.add(Optional.ofNullable(observed.get(CrashWriter.slotKey(slot, i))));
                }
                assertThat(states)
                        .as("%s: torn batch in slot %d", context, slot)
                        .hasSize(1);
            }

            VerifyReport report = db.verify();
            assertThat(report.problems())
                    .as("%s: verify() after recovery", context)
                    .isEmpty();

            long before = Math.max(Math.max(highestSeen, highestAck), Math.max(highestObserved, storeRevision));
            for (long r : landed.values()) before = Math.max(before, r);
            long marker = db.put("m/marker", "round-" + round);
            assertThat(marker)
                    .as("%s: a fresh put after reopen reuses a revision (highest seen before: %d)", context, before)
                    .isGreaterThan(before);

            confirmed.clear();
            confirmed.putAll(observed);
            confirmed.put("m/marker", new Versioned("round-" + round, marker));
            highestSeen = marker;

            if (round % 10 == 0) {
                // compact what the rounds piled up; merge must neither lose nor revive anything
                if (db.merge()) merges++;
                assertThat(db.verify().problems())
                        .as("%s: verify() after merge", context)
                        .isEmpty();
                assertThat(scanAll(db)).as("%s: state after merge", context).isEqualTo(confirmed);
                assertThat(db.revision())
                        .as("%s: revision after merge", context)
                        .isEqualTo(marker);
            }
            compactedRevision = db.compactedRevision();
        }
    }

    /** For failure messages: every call of the round that touched {@code key}, with its revision. */
    private static String callsOn(String key, Transcript transcript, Map<Attempt, Long> landed) {
        StringBuilder sb = new StringBuilder();
        for (Ack ack : transcript.acks()) {
            if (ack.attempt().op().effects().containsKey(key))
                sb.append("  ACK ").append(ack).append('\n');
        }
        for (Attempt a : transcript.inFlight()) {
            if (a.op().effects().containsKey(key)) {
                sb.append("  in flight ")
                        .append(a)
                        .append(" landed at ")
                        .append(landed.get(a))
                        .append('\n');
            }
        }
        return sb.toString().replaceAll("x{20,}", "x..");
    }

    private static void note(
            Map<String, Versioned> newest, Map<String, Object> newestBy, Op op, long revision, Object by) {
        op.effects().forEach((key, value) -> {
            Versioned old = newest.get(key);
            if (old == null || old.revision() < revision) {
                newest.put(key, new Versioned(value, revision));
                newestBy.put(key, by);
            }
        });
    }

    /** The whole store, by scan, cross-checked with get() for every key the run may have touched. */
    private Map<String, Versioned> read(Caskade db, Transcript transcript, String context) {
        Map<String, Versioned> scanned = scanAll(db);
        Set<String> keys = new TreeSet<>(confirmed.keySet());
        keys.addAll(scanned.keySet());
        for (int k = 0; k < CrashWriter.SINGLE_KEYS; k++) keys.add("k/" + k);
        for (int s = 0; s < CrashWriter.SLOTS; s++) {
            for (int i = 0; i < CrashWriter.slotSize(s); i++) keys.add(CrashWriter.slotKey(s, i));
        }
        for (String key : keys) {
            Versioned viaGet = db.get(key)
                    .map(e -> new Versioned(e.valueString(), e.revision()))
                    .orElse(null);
            assertThat(viaGet)
                    .as("%s: get(%s) disagrees with scan", context, key)
                    .isEqualTo(scanned.get(key));
        }
        return scanned;
    }

    private static Map<String, Versioned> scanAll(Caskade db) {
        Map<String, Versioned> m = new TreeMap<>();
        try (Stream<Entry> s = db.scan("")) {
            s.forEach(e -> {
                Versioned previous = m.put(e.keyString(), new Versioned(e.valueString(), e.revision()));
                assertThat(previous).as("scan returned %s twice", e.keyString()).isNull();
            });
        }
        return m;
    }
}
