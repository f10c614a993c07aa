package dev.caskade.cli;

import dev.caskade.Caskade;
import java.time.Duration;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;

@Command(name = "put", description = "Set KEY to VALUE and print the commit's revision.")
final class PutCommand extends StoreCommand {

    @Parameters(index = "0", paramLabel = "KEY")
    String key;

    @Parameters(index = "1", paramLabel = "VALUE")
    String value;

    @Option(
            names = "--ttl",
            paramLabel = "DURATION",
            converter = DurationConverter.class,
            description = "Let the key expire after this long (500ms, 30s, 1m, 2h, 1d...).")
    Duration ttl;

    @Mixin
    DurabilityOption durabilityOption = new DurabilityOption();

    @Override
    int run() throws Exception {
        if (ttl != null && (ttl.isZero() || ttl.isNegative())) {
            throw new ParameterException(spec.commandLine(), "--ttl must be positive: " + ttl);
        }
        try (Caskade db = open(true, oneShot(durabilityOption.durability))) {
            long revision = ttl == null ? db.put(key, value) : db.put(key, value, ttl);
            out().println(json ? Json.object().add("revision", revision).toString() : Long.toString(revision));
            return Main.OK;
        }
    }
}
