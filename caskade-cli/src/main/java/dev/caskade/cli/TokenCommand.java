package dev.caskade.cli;

import dev.caskade.server.Credential;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code caskade token}: a new random bearer token, and the hash that goes in the config file. */
@Command(
        name = "token",
        description = {
            "Make a random bearer token (256 bits). Prints two lines: 'token: <token>', to give to the client"
                    + " (it is not stored anywhere), and 'hash: <hash>', for the user's 'token:' in the config file."
        })
final class TokenCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        String token = Credential.newToken();
        PrintWriter out = spec.commandLine().getOut();
        out.println("token: " + token);
        out.println("hash: " + Credential.token(token).encoded());
        out.flush();
        return Main.OK;
    }
}
