package dev.caskade.cli;

import dev.caskade.s3.Generation;
import dev.caskade.s3.ObjectStore;
import java.io.PrintWriter;
import picocli.CommandLine.Command;

@Command(
        name = "segments",
        description = {
            "List the log objects at a destination: one row per object, each the commits FROM..TO (inclusive),"
                    + " oldest generation first."
        })
final class SegmentsCommand extends ListingCommand {
    private static final String ROW = "%-28s  %20s  %20s  %12s  %-20s  %s%n";

    @Override
    int run(ObjectStore store) {
        PrintWriter out = out();
        if (!json) out.printf(ROW, "GENERATION", "FROM", "TO", "BYTES", "CREATED", "OBJECT");
        for (Generation g : generations(store)) {
            for (Generation.LogRef l : g.logs()) {
                if (json) {
                    out.println(Json.object()
                            .add("generation", g.id())
                            .add("from", l.from())
                            .add("to", l.to())
                            .add("bytes", l.size())
                            .add("created", l.modified().toString())
                            .add("object", l.name()));
                } else {
                    out.printf(ROW, g.id(), l.from(), l.to(), l.size(), time(l.modified()), l.name());
                }
            }
        }
        out.flush();
        return Main.OK;
    }
}
