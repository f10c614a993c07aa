package dev.caskade.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;

@Command(
        name = "put",
        description = {
            "Set KEY to VALUE and print the commit's revision.",
            "With --stdin the value is the standard input, byte for byte (binary-safe)."
        })
final class PutCommand extends StoreCommand {

    @Parameters(index = "0", paramLabel = "KEY")
    String key;

    @Parameters(index = "1", paramLabel = "VALUE", arity = "0..1")
    String value;

    @Option(names = "--stdin", description = "Read the value from standard input instead of VALUE.")
    boolean stdin;

    @Option(
            names = "--ttl",
            paramLabel = "DURATION",
            converter = DurationConverter.class,
            description =
                    "Let the key expire after this long (500ms, 30s, 1m, 2h, 1d...; whole seconds with --server).")
    Duration ttl;

    @Mixin
    DurabilityOption durabilityOption = new DurabilityOption();

    @Mixin
    ServerTarget target = new ServerTarget();

    @Override
    int run() throws Exception {
        if (ttl != null && (ttl.isZero() || ttl.isNegative())) {
            throw new ParameterException(spec.commandLine(), "--ttl must be positive: " + ttl);
        }
        if (stdin == (value != null)) {
            throw new ParameterException(
                    spec.commandLine(), stdin ? "give VALUE or --stdin, not both" : "missing VALUE (or --stdin)");
        }
        if (ttl != null && remote(target)) {
            try {
                RemoteStore.seconds(ttl);
            } catch (IllegalArgumentException e) {
                throw new ParameterException(spec.commandLine(), e.getMessage());
            }
        }
        byte[] bytes = stdin ? readStdin() : value.getBytes(StandardCharsets.UTF_8);
        try (Store store = store(target, true, durabilityOption.durability)) {
            long revision = store.put(key.getBytes(StandardCharsets.UTF_8), bytes, ttl);
            out().println(json ? Json.object().add("revision", revision).toString() : Long.toString(revision));
            return Main.OK;
        }
    }

    private byte[] readStdin() throws IOException {
        return in().readAllBytes();
    }
}
