package dev.caskade.cli;

import dev.caskade.Caskade;
import dev.caskade.Stats;
import java.lang.reflect.RecordComponent;
import picocli.CommandLine.Command;

@Command(name = "stats", description = "Print the store's statistics, one 'name value' line each.")
final class StatsCommand extends StoreCommand {

    @Override
    int run() throws Exception {
        try (Caskade db = open(false, oneShot(null))) {
            Stats stats = db.stats();
            Json object = Json.object();
            // every component of the record, so new fields show up without touching the CLI
            for (RecordComponent c : Stats.class.getRecordComponents()) {
                Object v = c.getAccessor().invoke(stats);
                if (json) {
                    switch (v) {
                        case null -> object.add(c.getName(), (String) null);
                        case Number n -> object.add(c.getName(), n.longValue());
                        case Boolean b -> object.add(c.getName(), b);
                        default -> object.add(c.getName(), String.valueOf(v));
                    }
                } else {
                    out().printf("%-18s %s%n", c.getName(), v);
                }
            }
            if (json) out().println(object);
            out().flush();
            return Main.OK;
        }
    }
}
