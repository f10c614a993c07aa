package dev.caskade.cli;

import static dev.caskade.cli.Invocation.run;
import static org.assertj.core.api.Assertions.assertThat;

import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.Digest;
import dev.caskade.Durability;
import dev.caskade.s3.DirectoryStore;
import dev.caskade.s3.ShipOptions;
import dev.caskade.s3.Shipper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * restore, generations, snapshots, segments and verify --from against a directory destination that a real
 * {@link Shipper} filled, in process; and the usage errors of every replication option.
 */
@Timeout(60)
class ReplicationCommandsTest {
    private static final JsonMapper JSON = JsonMapper.builder().build();

    @TempDir
    Path dir;

    private Path dest;
    /** Digests of the source at some revisions, the last one included. */
    private final TreeMap<Long, Digest> recorded = new TreeMap<>();
    /** A moment between two commits, and the revision of the earlier one. */
    private Instant between;

    private long betweenRevision;

    @BeforeEach
    void ship() throws Exception {
        long seed = System.nanoTime();
        Random rnd = new Random(seed);
        dest = dir.resolve("dest");
        CaskadeOptions small = CaskadeOptions.defaults().withDurability(Durability.NONE);
        ShipOptions ship = ShipOptions.defaults().withObjectBytes(8 * 1024, 2048);
        try (Caskade db = Caskade.open(dir.resolve("src"), small);
                Shipper shipper = Shipper.live(db, DirectoryStore.open(dest), ship)) {
            assertThat(shipper.syncNow()).as("seed %d", seed).isTrue();
            for (int round = 0; round < 4; round++) {
                for (int i = 0; i < 60; i++) {
                    String key = "k/" + rnd.nextInt(100);
                    if (rnd.nextInt(8) == 0) db.delete(key);
                    else db.put(key, "v" + round + "-" + i + "-" + "x".repeat(rnd.nextInt(300)));
                }
                if (round == 1) {
                    betweenRevision = db.revision();
                    Thread.sleep(5);
                    between = Instant.now();
                    Thread.sleep(5);
                }
                recorded.put(db.revision(), db.digest(new byte[0]));
                assertThat(shipper.syncNow()).as("seed %d", seed).isTrue();
            }
        }
    }

    private static JsonNode json(String line) {
        return JSON.readTree(line);
    }

    @Test
    void restoresTheLatestStateARevisionAndAMomentWithTheSourceDigest() {
        Digest last = recorded.lastEntry().getValue();
        Invocation latest = run(
                "restore", "--from", dest.toString(), "--to", dir.resolve("r1").toString(), "--json");
        assertThat(latest.code()).as("%s", latest).isZero();
        JsonNode r = json(latest.out());
        assertThat(r.path("restored").asBoolean()).isTrue();
        assertThat(r.path("revision").asLong()).isEqualTo(last.revision());
        assertThat(r.path("keys").asLong()).isEqualTo(last.keys());
        assertThat(r.path("digest").asString()).isEqualTo(last.sha256());
        try (Caskade db = Caskade.open(dir.resolve("r1"))) {
            assertThat(db.digest(new byte[0])).isEqualTo(last);
        }

        var first = recorded.firstEntry();
        Invocation atRevision = run(
                "restore",
                "--from",
                "file://" + dest,
                "--to",
                dir.resolve("r2").toString(),
                "--revision",
                Long.toString(first.getKey()));
        assertThat(atRevision.code()).as("%s", atRevision).isZero();
        assertThat(atRevision.out())
                .contains("revision    " + first.getKey())
                .contains("digest      " + first.getValue().sha256());

        Invocation atTime = run(
                "restore",
                "--from",
                dest.toString(),
                "--to",
                dir.resolve("r3").toString(),
                "--timestamp",
                between.toString(),
                "--parallelism",
                "1",
                "--json");
        assertThat(atTime.code()).as("%s", atTime).isZero();
        assertThat(json(atTime.out()).path("revision").asLong()).isEqualTo(betweenRevision);
    }

    @Test
    void dryRunWritesNothingAndGuardsSkipQuietly() throws Exception {
        Path target = dir.resolve("dry");
        Invocation dry = run("restore", "--from", dest.toString(), "--to", target.toString(), "--dry-run", "--json");
        assertThat(dry.code()).as("%s", dry).isZero();
        JsonNode plan = json(dry.out());
        assertThat(plan.path("dryRun").asBoolean()).isTrue();
        assertThat(plan.path("restored").asBoolean()).isFalse();
        assertThat(plan.path("objects").asLong()).isGreaterThan(1);
        assertThat(target).doesNotExist();

        Path full = Files.createDirectories(dir.resolve("full"));
        Files.writeString(full.resolve("something"), "x");
        Invocation refused = run("restore", "--from", dest.toString(), "--to", full.toString());
        assertThat(refused.code()).as("%s", refused).isEqualTo(Main.FAILED);
        assertThat(refused.err()).contains("not empty").contains("--if-db-not-exists");
        Invocation skipped = run("restore", "--from", dest.toString(), "--to", full.toString(), "--if-db-not-exists");
        assertThat(skipped.code()).as("%s", skipped).isZero();
        assertThat(skipped.out()).startsWith("skipped").contains("already exists");

        Path empty = dir.resolve("no-backup-here");
        Invocation none = run(
                "restore", "--from", empty.toString(), "--to", dir.resolve("n").toString());
        assertThat(none.code()).as("%s", none).isEqualTo(Main.FAILED);
        assertThat(none.err()).contains("no backup");
        Invocation noneOk = run(
                "restore",
                "--from",
                empty.toString(),
                "--to",
                dir.resolve("n").toString(),
                "--if-replica-exists",
                "--json");
        assertThat(noneOk.code()).as("%s", noneOk).isZero();
        assertThat(json(noneOk.out()).path("skipped").asBoolean()).isTrue();
        assertThat(dir.resolve("n")).doesNotExist();
    }

    @Test
    void listsGenerationsSnapshotsAndSegments() {
        Invocation gens = run("generations", "--from", dest.toString(), "--json");
        assertThat(gens.code()).as("%s", gens).isZero();
        List<String> lines = gens.out().lines().toList();
        assertThat(lines).hasSize(1);
        JsonNode g = json(lines.getFirst());
        String id = g.path("id").asString();
        assertThat(g.path("reason").asString()).isEqualTo("new");
        assertThat(g.path("firstRevision").asLong()).isZero();
        assertThat(g.path("lastRevision").asLong()).isEqualTo(recorded.lastKey());
        assertThat(g.path("snapshots").asInt()).isEqualTo(1);
        assertThat(g.path("logObjects").asInt()).isGreaterThan(1);

        Invocation table = run("generations", "--from", dest.toString());
        assertThat(table.out()).startsWith("ID ").contains(id).contains("0.." + recorded.lastKey());

        Invocation snaps = run("snapshots", "--from", dest.toString(), "--generation", id, "--json");
        assertThat(snaps.code()).as("%s", snaps).isZero();
        assertThat(json(snaps.out().lines().toList().getFirst())
                        .path("revision")
                        .asLong())
                .isZero();

        Invocation segs = run("segments", "--from", dest.toString(), "--json");
        assertThat(segs.code()).as("%s", segs).isZero();
        long expectFrom = 1;
        for (String line : segs.out().lines().toList()) {
            JsonNode s = json(line);
            assertThat(s.path("from").asLong())
                    .as("log objects follow each other")
                    .isEqualTo(expectFrom);
            expectFrom = s.path("to").asLong() + 1;
        }
        assertThat(expectFrom - 1).isEqualTo(recorded.lastKey());
        assertThat(run("segments", "--from", dest.toString()).out()).startsWith("GENERATION ");

        Invocation unknown = run("snapshots", "--from", dest.toString(), "--generation", "nope");
        assertThat(unknown.code()).as("%s", unknown).isEqualTo(Main.FAILED);
        assertThat(unknown.err()).contains("no generation nope");
    }

    @Test
    void verifyFromChecksEveryObjectAndExits2OnDamage() throws Exception {
        Invocation ok = run("verify", "--from", dest.toString());
        assertThat(ok.code()).as("%s", ok).isZero();
        assertThat(ok.out()).contains("generations 1").endsWith("ok\n");

        // flip a byte of the first block's checksum: a flip inside compressed data may leave the decompressed
        // bytes (which the checksum covers) intact, e.g. in padding bits, and such damage is harmless
        Path log = largestLogObject();
        byte[] bytes = Files.readAllBytes(log);
        int headerLength = (bytes[6] & 0xff) | (bytes[7] & 0xff) << 8;
        bytes[headerLength + 9] ^= 0x40;
        Files.write(log, bytes);
        Invocation damaged = run("verify", "--from", dest.toString(), "--json");
        assertThat(damaged.code()).as("%s", damaged).isEqualTo(Main.DAMAGED);
        JsonNode report = json(damaged.out());
        assertThat(report.path("ok").asBoolean()).isFalse();
        assertThat(report.path("problems").toString())
                .contains(log.getFileName().toString());
        assertThat(damaged.err()).startsWith("caskade: backup is damaged");

        Invocation restore = run(
                "restore", "--from", dest.toString(), "--to", dir.resolve("bad").toString());
        assertThat(restore.code())
                .as("a restore checks every block: %s", restore)
                .isEqualTo(Main.DAMAGED);
        assertThat(restore.err().lines()).hasSize(1);

        Invocation both = run(
                "verify",
                "--from",
                dest.toString(),
                "--data",
                dir.resolve("src").toString());
        assertThat(both.code()).as("%s", both).isEqualTo(Main.USAGE);
        Invocation nothing = run("verify", "--from", dir.resolve("empty").toString());
        assertThat(nothing.code()).as("%s", nothing).isEqualTo(Main.FAILED);
        assertThat(nothing.err()).contains("no backup");
    }

    private Path largestLogObject() throws Exception {
        try (Stream<Path> files = Files.walk(dest)) {
            return files.filter(p -> p.toString().endsWith(".seg"))
                    .max((a, b) -> Long.compare(a.toFile().length(), b.toFile().length()))
                    .orElseThrow();
        }
    }

    /** Bad URLs and options fail before anything is opened, with one line and exit 64. */
    @Test
    void badUrlsAndOptionsAreUsageErrors() {
        String data = dir.resolve("src").toString();
        List<String[]> cases = new ArrayList<>();
        cases.add(new String[] {"restore", "--from", "ftp://host/x", "--to", "t"});
        cases.add(new String[] {"restore", "--from", "s3://", "--to", "t"});
        cases.add(new String[] {
            "restore", "--from", dest.toString(), "--to", "t", "--revision", "1", "--timestamp", "2025-01-01T00:00:00Z"
        });
        cases.add(new String[] {"restore", "--from", dest.toString(), "--to", "t", "--timestamp", "yesterday"});
        cases.add(new String[] {"restore", "--from", dest.toString(), "--to", "t", "--generation", "g1"});
        cases.add(new String[] {"restore", "--from", dest.toString(), "--to", "t", "--parallelism", "0"});
        cases.add(new String[] {"generations", "--from", "s3://b/p", "--s3-endpoint", "ftp://x"});
        cases.add(new String[] {"serve", "--data", data, "--replicate-to", "ftp://host/x"});
        cases.add(new String[] {"serve", "--data", data, "--replicate-to", "s3://UPPER/x"});
        cases.add(new String[] {"serve", "--data", data, "--replicate-to", dest.toString(), "--breaker", "window=0"});
        cases.add(new String[] {"serve", "--data", data, "--replicate-to", dest.toString(), "--breaker", "nonsense"});
        cases.add(new String[] {"serve", "--data", data, "--replicate-to", dest.toString(), "--sync-interval", "0"});
        cases.add(new String[] {"serve", "--data", data, "--replicate-to", dest.toString(), "--retention", "soon"});
        cases.add(new String[] {"serve", "--data", data, "--replicate-to", dest.toString(), "--max-replica-lag", "0"});
        cases.add(new String[] {"generations", "--from", "s3://b/p", "--s3-region", "Mars North"});
        cases.add(new String[] {"serve", "--data", data, "--restore-if-empty", "gopher://x"});
        cases.add(new String[] {"replicate", "--data", data, "--to", "ftp://host/x"});
        cases.add(new String[] {"replicate", "--data", data});
        for (String[] args : cases) {
            Invocation r = run(args);
            assertThat(r.code()).as("%s: %s", String.join(" ", args), r).isEqualTo(Main.USAGE);
            assertThat(r.err().lines()).as("%s: %s", String.join(" ", args), r).hasSize(1);
            assertThat(r.err()).startsWith("caskade: ");
        }
        assertThat(dir.resolve("src").resolve("serve.json")).doesNotExist();
        // settings that do not fit together are a bad configuration (exit 1), like those of the config file
        Invocation lagAlone = run("serve", "--data", data, "--max-replica-lag", "5s");
        assertThat(lagAlone.code()).as("%s", lagAlone).isEqualTo(Main.FAILED);
        assertThat(lagAlone.err()).isEqualTo("caskade: max-replica-lag needs a destination (replicate-to)\n");
        assertThat(run("serve", "--data", data, "--replicate-to", "ftp://host/x")
                        .err())
                .contains("replicate-to")
                .contains("unsupported destination scheme 'ftp'");
    }
}
