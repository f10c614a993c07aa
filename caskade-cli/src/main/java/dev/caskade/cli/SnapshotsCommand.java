package dev.caskade.cli;

import dev.caskade.s3.Generation;
import dev.caskade.s3.ObjectStore;
import java.io.PrintWriter;
import picocli.CommandLine.Command;

@Command(
        name = "snapshots",
        description = "List the snapshot objects at a destination: one row per snapshot, oldest generation first.")
final class SnapshotsCommand extends ListingCommand {
    private static final String ROW = "%-28s  %20s  %12s  %-20s  %s%n";

    @Override
    int run(ObjectStore store) {
        PrintWriter out = out();
        if (!json) out.printf(ROW, "GENERATION", "REVISION", "BYTES", "CREATED", "OBJECT");
        for (Generation g : generations(store)) {
            for (Generation.SnapshotRef s : g.snapshots()) {
                if (json) {
                    out.println(Json.object()
                            .add("generation", g.id())
                            .add("revision", s.revision())
                            .add("bytes", s.size())
                            .add("created", s.modified().toString())
                            .add("object", s.name()));
                } else {
                    out.printf(ROW, g.id(), s.revision(), s.size(), time(s.modified()), s.name());
                }
            }
        }
        out.flush();
        return Main.OK;
    }
}
