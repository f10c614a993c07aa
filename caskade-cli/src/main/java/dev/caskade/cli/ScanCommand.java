package dev.caskade.cli;

import dev.caskade.Caskade;
import dev.caskade.Entry;
import java.io.PrintWriter;
import java.util.Iterator;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;

@Command(
        name = "scan",
        description = {
            "Print the live keys under PREFIX in key order.",
            "One 'key<TAB>value' line each (--json: one object per line), all from one consistent revision."
        })
final class ScanCommand extends StoreCommand {

    @Parameters(
            paramLabel = "PREFIX",
            arity = "0..1",
            defaultValue = "",
            description = "Key prefix (default: all keys).")
    String prefix;

    @Option(names = "--limit", paramLabel = "N", description = "Print at most N keys.")
    Long limit;

    @Override
    int run() throws Exception {
        if (limit != null && limit < 0)
            throw new ParameterException(spec.commandLine(), "--limit must be >= 0: " + limit);
        PrintWriter out = out();
        try (Caskade db = open(false, oneShot(null));
                Stream<Entry> entries = db.scan(prefix)) {
            Iterator<Entry> it = (limit == null ? entries : entries.limit(limit)).iterator();
            while (it.hasNext()) {
                Entry e = it.next();
                out.println(json ? json(e) : e.keyString() + "\t" + e.valueString());
            }
        }
        out.flush();
        return Main.OK;
    }
}
