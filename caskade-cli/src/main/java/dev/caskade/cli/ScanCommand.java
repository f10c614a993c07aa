package dev.caskade.cli;

import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;

@Command(
        name = "scan",
        description = {
            "Print the live keys under PREFIX in key order.",
            "One 'key<TAB>value' line each (--json: one object per line), all from one consistent revision",
            "(with --server: each page of 1000 keys is consistent in itself)."
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

    @Mixin
    ServerTarget target = new ServerTarget();

    @Override
    int run() throws Exception {
        if (limit != null && limit < 0)
            throw new ParameterException(spec.commandLine(), "--limit must be >= 0: " + limit);
        PrintWriter out = out();
        try (Store store = store(target, false, null)) {
            store.scan(prefix.getBytes(StandardCharsets.UTF_8), limit == null ? Long.MAX_VALUE : limit, e -> {
                out.println(json ? json(e) : e.keyString() + "\t" + e.valueString());
                return !out.checkError(); // stdout is gone (e.g. the pipe's reader quit)
            });
        }
        out.flush();
        return Main.OK;
    }
}
