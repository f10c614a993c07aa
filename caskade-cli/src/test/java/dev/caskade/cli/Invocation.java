package dev.caskade.cli;

import java.io.ByteArrayInputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;

/** One in-process run of the command line: exit code and what it printed. */
record Invocation(int code, String out, String err) {

    static Invocation run(String... args) {
        return runWithInput(new byte[0], args);
    }

    /** A run whose standard input is {@code stdin}. */
    static Invocation runWithInput(byte[] stdin, String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.commandLine(
                        new ByteArrayInputStream(stdin), new PrintWriter(out, true), new PrintWriter(err, true))
                .execute(args);
        return new Invocation(code, out.toString(), err.toString());
    }

    static Invocation runWithInput(String stdin, String... args) {
        return runWithInput(stdin.getBytes(StandardCharsets.UTF_8), args);
    }

    @Override
    public String toString() {
        return "exit " + code + "\n--- stdout:\n" + out + "--- stderr:\n" + err;
    }
}
