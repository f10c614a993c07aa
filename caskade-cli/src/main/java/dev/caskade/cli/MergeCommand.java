package dev.caskade.cli;

import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.Stats;
import java.time.Duration;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

@Command(
        name = "merge",
        description = {
            "Compact sealed segments now.",
            "Drops overwritten and deleted entries; keeps the change history that is younger than",
            "--history-age or within the newest --history-bytes.",
            "'--history-age 0 --history-bytes 0' compacts everything that is sealed."
        })
final class MergeCommand extends StoreCommand {

    @Option(
            names = "--history-age",
            paramLabel = "DURATION",
            converter = DurationConverter.class,
            description = "Keep history younger than this (default: the store's default, 24h).")
    Duration historyAge;

    @Option(
            names = "--history-bytes",
            paramLabel = "N",
            description = "Keep the newest N bytes of history (default: the store's default, 1 GiB).")
    Long historyBytes;

    @Override
    int run() throws Exception {
        if (historyBytes != null && historyBytes < 0) {
            throw new ParameterException(spec.commandLine(), "--history-bytes must be >= 0: " + historyBytes);
        }
        CaskadeOptions options = oneShot(null);
        options = options.withHistory(
                historyAge == null ? options.historyAge() : historyAge,
                historyBytes == null ? options.historyBytes() : historyBytes);
        try (Caskade db = open(false, options)) {
            Stats before = db.stats();
            boolean merged = db.merge();
            Stats after = db.stats();
            if (json) {
                out().println(Json.object()
                        .add("merged", merged)
                        .add("segmentsBefore", before.segments())
                        .add("segmentsAfter", after.segments())
                        .add("diskBytesBefore", before.diskBytes())
                        .add("diskBytesAfter", after.diskBytes())
                        .add("compactedRevision", after.compactedRevision()));
            } else if (merged) {
                out().println("merged: segments " + before.segments() + " -> " + after.segments() + ", disk bytes "
                        + before.diskBytes() + " -> " + after.diskBytes() + ", history compacted through revision "
                        + after.compactedRevision());
            } else {
                out().println("nothing to merge (no sealed segment outside the kept history)");
            }
            out().flush();
            return Main.OK;
        }
    }
}
