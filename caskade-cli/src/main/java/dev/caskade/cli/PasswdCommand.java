package dev.caskade.cli;

import dev.caskade.server.Credential;
import java.io.BufferedReader;
import java.io.Console;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code caskade passwd}: the hash of a password, for a user's {@code password:} in the config file. */
@Command(
        name = "passwd",
        description = {
            "Hash a password for a user's 'password:' in the config file (PBKDF2-HMAC-SHA256, random salt).",
            "Asks twice on a terminal; otherwise reads one line from standard input. Prints only the hash."
        })
final class PasswdCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(
            names = "--iterations",
            paramLabel = "N",
            defaultValue = "" + Credential.DEFAULT_ITERATIONS,
            description = "PBKDF2 iterations (default: ${DEFAULT-VALUE}); each login costs this many.")
    int iterations;

    @Override
    public Integer call() throws IOException {
        try {
            String password = read();
            if (password == null) return fail("no password given");
            spec.commandLine()
                    .getOut()
                    .println(Credential.password(password, iterations).encoded());
        } catch (IllegalArgumentException e) {
            return fail(e.getMessage());
        }
        spec.commandLine().getOut().flush();
        return Main.OK;
    }

    /** The password, or null if none came; a terminal asks twice and never echoes. */
    private static String read() throws IOException {
        Console console = System.console();
        if (console == null) {
            // not closed: it is the process's standard input
            return new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
        }
        char[] a = console.readPassword("password: ");
        char[] b = a == null ? null : console.readPassword("again: ");
        if (b == null) return null;
        try {
            if (!Arrays.equals(a, b)) throw new IllegalArgumentException("the two passwords differ");
            return new String(a);
        } finally {
            Arrays.fill(a, '\0');
            Arrays.fill(b, '\0');
        }
    }

    private int fail(String message) {
        spec.commandLine().getErr().println("caskade: " + message);
        spec.commandLine().getErr().flush();
        return Main.FAILED;
    }
}
