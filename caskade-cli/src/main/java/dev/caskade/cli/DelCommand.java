package dev.caskade.cli;

import java.nio.charset.StandardCharsets;
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

    @Mixin
    ServerTarget target = new ServerTarget();

    @Override
    int run() throws Exception {
        if (!remote(target) && !Files.isDirectory(data)) {
            return fail(Main.FAILED, "not found: " + key + " (no store at " + data + ")");
        }
        try (Store store = store(target, false, durabilityOption.durability)) {
            long revision = store.delete(key.getBytes(StandardCharsets.UTF_8));
            if (revision == 0) return fail(Main.FAILED, "not found: " + key);
            out().println(json ? Json.object().add("revision", revision).toString() : Long.toString(revision));
            return Main.OK;
        }
    }
}
