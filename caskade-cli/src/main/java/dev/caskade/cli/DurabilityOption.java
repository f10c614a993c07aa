package dev.caskade.cli;

import dev.caskade.Durability;
import picocli.CommandLine.Option;

/** {@code --durability} for the commands that write. */
final class DurabilityOption {
    @Option(
            names = "--durability",
            paramLabel = "MODE",
            converter = StoreCommand.DurabilityConverter.class,
            description = "sync (default), none or interval:<ms>.")
    Durability durability;
}
