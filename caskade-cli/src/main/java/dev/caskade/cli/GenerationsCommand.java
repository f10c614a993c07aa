package dev.caskade.cli;

import dev.caskade.s3.Generation;
import dev.caskade.s3.Lineage;
import dev.caskade.s3.ObjectStore;
import java.io.PrintWriter;
import java.time.Instant;
import java.util.List;
import picocli.CommandLine.Command;

@Command(
        name = "generations",
        description = {
            "List the generations at a destination, oldest first.",
            "A generation is an unbroken lineage of snapshots and log objects; a new one begins whenever continuity"
                    + " breaks (a new or restored store, a gap in the shipped log). REVISIONS is the range a restore"
                    + " from it can reach."
        })
final class GenerationsCommand extends ListingCommand {
    private static final String ROW = "%-28s  %-20s  %-23s  %9s  %9s  %12s  %-20s  %s%n";

    @Override
    int run(ObjectStore store) {
        List<Generation> gens = generations(store);
        PrintWriter out = out();
        if (!json) {
            if (gens.isEmpty()) {
                out.println("no generations at " + store.url());
                out.flush();
                return Main.OK;
            }
            out.printf(ROW, "ID", "CREATED", "REVISIONS", "SNAPSHOTS", "LOGS", "BYTES", "UPDATED", "REASON");
        }
        for (Generation g : gens) {
            Lineage l = g.lineage();
            Instant created = l == null ? null : Instant.ofEpochMilli(l.createdAt());
            if (json) {
                out.println(Json.object()
                        .add("id", g.id())
                        .add("created", created == null ? null : created.toString())
                        .add("reason", l == null ? null : l.reason())
                        .add("parent", l == null ? null : l.parent())
                        .add("source", l == null ? null : l.source())
                        .add("firstRevision", g.firstRevision())
                        .add("lastRevision", g.lastRevision())
                        .add("snapshots", g.snapshots().size())
                        .add("logObjects", g.logs().size())
                        .add("bytes", g.bytes())
                        .add("updated", g.updated().toString()));
            } else {
                String revisions = g.snapshots().isEmpty() ? "-" : g.firstRevision() + ".." + g.lastRevision();
                out.printf(
                        ROW,
                        g.id(),
                        time(created),
                        revisions,
                        g.snapshots().size(),
                        g.logs().size(),
                        g.bytes(),
                        time(g.updated()),
                        l == null ? "(no lineage record)" : l.reason());
            }
        }
        out.flush();
        return Main.OK;
    }
}
