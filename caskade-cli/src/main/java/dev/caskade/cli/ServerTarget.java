package dev.caskade.cli;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;

/** {@code --server}, {@code --token}, {@code --user}: what makes a key verb talk to a server instead of --data. */
final class ServerTarget {

    @Option(
            names = "--server",
            paramLabel = "URL",
            defaultValue = "${env:CASKADE_SERVER}",
            description = "Talk to a running server over HTTP instead of opening --data, e.g. http://127.0.0.1:8479 "
                    + "(env CASKADE_SERVER; an explicit --data wins over the variable).")
    String server;

    @Option(
            names = "--token",
            paramLabel = "TOKEN",
            defaultValue = "${env:CASKADE_TOKEN}",
            description = "With --server: send 'Authorization: Bearer TOKEN' (env CASKADE_TOKEN).")
    String token;

    @Option(
            names = "--user",
            paramLabel = "USER:PASSWORD",
            defaultValue = "${env:CASKADE_USER}",
            description = "With --server: send HTTP Basic credentials (env CASKADE_USER).")
    String user;

    /** The server to talk to, or null for embedded mode; bad combinations are usage errors. */
    URI url(CommandSpec spec) {
        ParseResult parsed = spec.commandLine().getParseResult();
        boolean explicitServer = parsed.hasMatchedOption("--server");
        boolean explicitData = parsed.hasMatchedOption("--data");
        if (explicitServer && explicitData) {
            throw new ParameterException(spec.commandLine(), "give --server or --data, not both");
        }
        boolean remote = server != null && !server.isBlank() && !explicitData;
        if (!remote) {
            for (String option : new String[] {"--token", "--user"}) {
                if (parsed.hasMatchedOption(option)) {
                    throw new ParameterException(spec.commandLine(), option + " needs --server");
                }
            }
            return null;
        }
        boolean explicitToken = parsed.hasMatchedOption("--token");
        boolean explicitUser = parsed.hasMatchedOption("--user");
        if (explicitToken && explicitUser) {
            throw new ParameterException(spec.commandLine(), "give --token or --user, not both");
        }
        // a flag wins over the other credential's variable
        if (explicitToken) user = null;
        if (explicitUser) token = null;
        if (token != null && user != null) {
            throw new ParameterException(
                    spec.commandLine(), "CASKADE_TOKEN and CASKADE_USER are both set; unset one or give a flag");
        }
        if (user != null && user.indexOf(':') < 0) {
            throw new ParameterException(spec.commandLine(), "--user takes USER:PASSWORD");
        }
        try {
            return RemoteStore.parseUrl(server);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
    }

    /** The Authorization header for the credentials given, or null. */
    String authorization() {
        if (token != null) return "Bearer " + token;
        if (user != null) return "Basic " + Base64.getEncoder().encodeToString(user.getBytes(StandardCharsets.UTF_8));
        return null;
    }
}
