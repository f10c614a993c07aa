package dev.caskade.cli;

import dev.caskade.s3.Destination;
import dev.caskade.s3.GuardedStore;
import dev.caskade.s3.ShipStatus;
import dev.caskade.s3.Shipper;
import dev.caskade.server.ReplicationConfig;
import dev.caskade.server.ReplicationOptions;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(
        name = "replicate",
        description = {
            "Ship a store's log to S3 or a directory, beside the process that owns the store (a sidecar).",
            "It reads the committed log from the files of --data and needs no lock, so a 'caskade serve' or a"
                    + " program may hold the store meanwhile. Runs until SIGTERM or Ctrl-C, then ships what is left.",
            "Prints one status line per destination every --status-interval and whenever its state changes."
                    + " The shipping options also come from CASKADE_SYNC_INTERVAL, CASKADE_SNAPSHOT_INTERVAL,"
                    + " CASKADE_RETENTION, CASKADE_BREAKER and CASKADE_S3_*."
        })
final class ReplicateCommand extends StoreCommand {

    @Option(
            names = "--to",
            required = true,
            paramLabel = "URL",
            description = "A destination: file:///abs/path, a plain path, or s3://bucket/prefix. Repeatable.")
    List<String> to;

    @Option(
            names = "--status-interval",
            paramLabel = "DURATION",
            converter = PositiveDurationConverter.class,
            defaultValue = "1m",
            description = "Print each destination's status this often (default: ${DEFAULT-VALUE}).")
    Duration statusInterval;

    @Mixin
    ShipFlags ship;

    @Mixin
    S3Connection s3;

    /** Where the CASKADE_* variables come from. */
    Map<String, String> environment = System.getenv();

    /** Counted down when SIGTERM or SIGINT arrives, and once the shippers are closed. */
    private final CountDownLatch stopping = new CountDownLatch(1);

    private final CountDownLatch stopped = new CountDownLatch(1);

    @Override
    int checkArgs() throws Exception {
        return run(); // it stops once the destinations are checked
    }

    @Override
    int run() throws Exception {
        if (!checkingArgs() && !Files.isDirectory(data))
            return fail(Main.FAILED, "no store at " + data + " (use --data DIR)");
        ReplicationConfig flags = new ReplicationConfig(
                to,
                null,
                ship.syncInterval,
                ship.snapshotInterval,
                ship.retention,
                ship.breaker,
                null,
                null,
                s3.endpoint,
                s3.region,
                s3.pathStyle,
                null);
        List<String> variables = new ArrayList<>(ShipFlags.VARIABLES);
        variables.addAll(S3Connection.VARIABLES);
        // a bad variable fails like a bad variable of serve (exit 1); a bad URL is a usage error
        ReplicationOptions options = flags.over(
                        ReplicationConfig.fromEnvironment(S3Connection.only(environment, variables)))
                .options();
        List<GuardedStore> stores = new ArrayList<>();
        try {
            for (String url : options.destinations())
                stores.add(Destination.open(url, options.s3(), options.breaker()));
        } catch (IllegalArgumentException e) {
            stores.forEach(GuardedStore::close);
            return fail(Main.USAGE, "--to: " + e.getMessage());
        }
        if (checkingArgs()) {
            stores.forEach(GuardedStore::close);
            return Main.OK;
        }
        List<Shipper> shippers = new ArrayList<>();
        try {
            for (GuardedStore store : stores) shippers.add(Shipper.sidecar(data, store, options.ship()));
        } catch (RuntimeException e) {
            shippers.forEach(Shipper::close);
            stores.forEach(GuardedStore::close);
            throw e;
        }
        shippers.forEach(Shipper::start);
        // SIGTERM and SIGINT: one last sync of every destination, the leases given up
        Thread hook = new Thread(
                () -> {
                    stopping.countDown();
                    for (Shipper s : shippers) {
                        try {
                            s.close();
                        } catch (RuntimeException e) {
                            err().println("caskade: closing the shipper of "
                                    + s.store().url() + " failed: " + e);
                        }
                        print(s.status());
                        s.store().close();
                    }
                    out().flush();
                    stopped.countDown();
                },
                "caskade-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        out().printf(
                        "caskade replicating %s to %s (sync every %d ms, pid %d)%n",
                        data,
                        String.join(", ", options.destinations()),
                        options.ship().syncInterval().toMillis(),
                        ProcessHandle.current().pid());
        out().flush();
        watch(shippers, Math.min(1000, options.ship().syncInterval().toMillis()));
        stopped.await();
        return Main.OK;
    }

    /** Prints a status line per destination when its state changes, and every --status-interval. */
    private void watch(List<Shipper> shippers, long pollMillis) throws InterruptedException {
        List<String> seen = new ArrayList<>();
        long[] printed = new long[shippers.size()];
        for (int i = 0; i < shippers.size(); i++) seen.add(null);
        while (!stopping.await(pollMillis, TimeUnit.MILLISECONDS)) {
            for (int i = 0; i < shippers.size(); i++) {
                ShipStatus s;
                try {
                    s = shippers.get(i).status();
                } catch (RuntimeException closing) {
                    continue;
                }
                String key = s.state() + " " + s.breaker() + " " + s.generation() + " " + s.lastError();
                long now = System.nanoTime();
                if (!Objects.equals(key, seen.get(i)) || now - printed[i] >= statusInterval.toNanos()) {
                    seen.set(i, key);
                    printed[i] = now;
                    print(s);
                }
            }
        }
    }

    private synchronized void print(ShipStatus s) {
        PrintWriter out = out();
        String time = Instant.now().truncatedTo(ChronoUnit.MILLIS).toString();
        String breaker = s.breaker().toLowerCase(Locale.ROOT);
        String lag = String.format(Locale.ROOT, "%.3f", s.lagSeconds());
        if (json) {
            out.println(Json.object()
                    .add("time", time)
                    .add("destination", s.destination())
                    .add("state", s.state())
                    .add("breaker", breaker)
                    .add("generation", s.generation())
                    .add("shippedRevision", s.shippedRevision())
                    .add("revision", s.revision())
                    .add("lagRevisions", s.lagRevisions())
                    .addRaw("lagSeconds", lag)
                    .add("uploadedBytes", s.uploadedBytes())
                    .add("logObjects", s.logObjects())
                    .add("snapshots", s.snapshots())
                    .add("failures", s.failures())
                    .add("fallbacks", s.fallbacks())
                    .add("lastError", s.lastError()));
        } else {
            out.printf(
                    "%s %s %s breaker=%s generation=%s shipped=%d/%d lag=%d revisions (%s s) uploaded=%d bytes"
                            + " failures=%d%s%n",
                    time,
                    s.destination(),
                    s.state(),
                    breaker,
                    s.generation() == null ? "-" : s.generation(),
                    s.shippedRevision(),
                    s.revision(),
                    s.lagRevisions(),
                    lag,
                    s.uploadedBytes(),
                    s.failures(),
                    s.lastError() == null ? "" : " error: " + s.lastError());
        }
        out.flush();
    }
}
