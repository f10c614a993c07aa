package dev.caskade.cli;

import dev.caskade.s3.Generation;
import dev.caskade.s3.ObjectStore;
import java.time.Instant;
import java.util.List;
import picocli.CommandLine.Option;

/** {@code generations}, {@code snapshots} and {@code segments}: what a destination holds, optionally one generation. */
abstract class ListingCommand extends DestinationCommand {

    @Option(names = "--generation", paramLabel = "ID", description = "Only this generation.")
    String generation;

    /** The generations at the destination, oldest first, or just the one asked for (which must exist). */
    List<Generation> generations(ObjectStore store) {
        List<Generation> all = Generation.list(store);
        if (generation == null) return all;
        List<Generation> one =
                all.stream().filter(g -> g.id().equals(generation)).toList();
        if (one.isEmpty()) {
            throw new StoreCommand.Failure(
                    Main.FAILED, "no generation " + generation + " at " + store.url() + " (see: caskade generations)");
        }
        return one;
    }

    /** An instant to the second, as the tables show it. */
    static String time(Instant t) {
        return t == null
                ? "-"
                : t.truncatedTo(java.time.temporal.ChronoUnit.SECONDS).toString();
    }
}
