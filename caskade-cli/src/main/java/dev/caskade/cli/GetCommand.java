package dev.caskade.cli;

import dev.caskade.Caskade;
import dev.caskade.Entry;
import java.util.Optional;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

@Command(
        name = "get",
        description = {
            "Print the value of KEY.",
            "With --json: an object with key, value, revision and expiresAt.",
            "A missing key prints nothing on stdout and exits with 1."
        })
final class GetCommand extends StoreCommand {

    @Parameters(paramLabel = "KEY")
    String key;

    @Override
    int run() throws Exception {
        try (Caskade db = open(false, oneShot(null))) {
            Optional<Entry> entry = db.get(key);
            if (entry.isEmpty()) return fail(Main.FAILED, "not found: " + key);
            out().println(json ? json(entry.get()) : entry.get().valueString());
            return Main.OK;
        }
    }
}
