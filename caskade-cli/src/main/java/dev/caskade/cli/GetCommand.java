package dev.caskade.cli;

import dev.caskade.Entry;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

@Command(
        name = "get",
        description = {
            "Print the value of KEY.",
            "With --json: an object with key, value, revision and expiresAt (a server does not report expiresAt).",
            "A missing key prints nothing on stdout and exits with 1."
        })
final class GetCommand extends StoreCommand {

    @Parameters(paramLabel = "KEY")
    String key;

    @Mixin
    ServerTarget target = new ServerTarget();

    @Override
    int run() throws Exception {
        try (Store store = store(target, false, null)) {
            Optional<Entry> entry = store.get(key.getBytes(StandardCharsets.UTF_8));
            if (entry.isEmpty()) return fail(Main.FAILED, "not found: " + key);
            out().println(json ? json(entry.get()) : entry.get().valueString());
            return Main.OK;
        }
    }
}
