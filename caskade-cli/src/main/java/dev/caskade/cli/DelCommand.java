package dev.caskade.cli;

import dev.caskade.Caskade;
import java.nio.file.Files;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

@Command(
        name = "del",
        description = {"Delete KEY and print the commit's revision.", "A missing key writes nothing and exits with 1."})
final class DelCommand extends StoreCommand {

    @Parameters(paramLabel = "KEY")
    String key;

    @Mixin
    DurabilityOption durabilityOption = new DurabilityOption();

    @Override
    int run() throws Exception {
        if (!Files.isDirectory(data)) return fail(Main.FAILED, "not found: " + key + " (no store at " + data + ")");
        try (Caskade db = open(false, oneShot(durabilityOption.durability))) {
            long revision = db.delete(key);
            if (revision == 0) return fail(Main.FAILED, "not found: " + key);
            out().println(json ? Json.object().add("revision", revision).toString() : Long.toString(revision));
            return Main.OK;
        }
    }
}
