package dev.caskade.cli;

import static dev.caskade.cli.Invocation.runWithInput;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.caskade.Caskade;
import dev.caskade.Durability;
import dev.caskade.server.Server;
import java.io.ByteArrayOutputStream;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.jline.terminal.Terminal;
import org.jline.terminal.TerminalBuilder;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@code caskade shell}: piped scripts against a server and a directory, and the interactive path's history. */
@Timeout(60)
class ShellCommandTest {

    @TempDir
    static Path dir;

    static Server server;
    static String url;

    @BeforeAll
    static void start() {
        server = Server.start(new Server.Options(dir.resolve("served"), "127.0.0.1", 0, 0, Durability.NONE, false));
        url = "http://127.0.0.1:" + server.httpPort();
    }

    @AfterAll
    static void stop() {
        if (server != null) server.close();
    }

    private static Caskade db() {
        return server.store();
    }

    @Test
    void pipedScriptPrintsResultsOnlyAndGoesOnAfterABadLine() {
        long base = db().revision();
        String script = """
                PUT sh/a 1
                put sh/b "hello world"
                GET sh/b
                GET sh/missing
                FROB x
                PUT sh/c
                PUT "sh/unbalanced
                DEL sh/a
                # a comment, and an empty line

                SCAN sh/
                PUT sh/bin "\\xff\\x00 \\"q\\""
                GET sh/bin
                SCAN sh/ 1
                REVISION
                EXIT
                PUT sh/after-exit 1
                """;
        Invocation r = runWithInput(script, "shell", "--server", url);
        assertThat(r.code()).as("%s", r).isEqualTo(Main.FAILED); // some lines failed
        assertThat(r.out())
                .as("%s", r)
                .isEqualTo(String.join(
                        "\n",
                        Long.toString(base + 1),
                        Long.toString(base + 2),
                        "hello world",
                        "(nil)",
                        Long.toString(base + 3),
                        "sh/b\thello world",
                        Long.toString(base + 4),
                        "\"\\xff\\x00 \\\"q\\\"\"",
                        "sh/b\thello world",
                        Long.toString(base + 4),
                        ""));
        assertThat(r.err()).isEqualTo("""
                        caskade: line 5: unknown command 'FROB' (HELP lists them)
                        caskade: line 6: usage: PUT key value [ttl]
                        caskade: line 7: unbalanced quotes
                        """);
        assertThat(db().get("sh/bin").orElseThrow().value()).isEqualTo(new byte[] {(byte) 0xff, 0, ' ', '"', 'q', '"'});
        assertThat(db().get("sh/after-exit")).isEmpty();
        assertThat(db().get("sh/a")).isEmpty();
    }

    @Test
    void cleanScriptExitsZeroAndTtlTakesSecondsOrDurations() {
        long before = System.currentTimeMillis();
        Invocation r = runWithInput("PUT ttl/a v 60\nPUT ttl/b v 2m\nHELP\n", "shell", "--server", url);
        assertThat(r.code()).as("%s", r).isZero();
        assertThat(r.err()).isEmpty();
        assertThat(r.out()).contains("WATCH [prefix] [count]");
        assertThat(db().get("ttl/a").orElseThrow().expiresAt()).isBetween(before + 59_000, before + 70_000);
        assertThat(db().get("ttl/b").orElseThrow().expiresAt()).isBetween(before + 119_000, before + 130_000);
    }

    @Test
    void watchInAScriptStreamsUntilItsCount() throws Exception {
        PipedOutputStream feed = new PipedOutputStream();
        PipedInputStream stdin = new PipedInputStream(feed);
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        AtomicInteger code = new AtomicInteger(-1);
        Thread shell = new Thread(
                () -> code.set(Main.commandLine(stdin, new PrintWriter(out, true), new PrintWriter(err, true))
                        .execute("shell", "--server", url)));
        shell.start();
        int watches = db().stats().watches();
        feed.write("WATCH shw/ 2\n".getBytes(StandardCharsets.UTF_8));
        feed.flush();
        await().atMost(Duration.ofSeconds(20)).until(() -> db().stats().watches() > watches);
        long first = db().put("shw/1", "one");
        db().put("elsewhere", "x");
        long second = db().delete("shw/1");
        feed.write("GET shw/1\nEXIT\n".getBytes(StandardCharsets.UTF_8));
        feed.close();
        shell.join(20_000);
        assertThat(shell.isAlive()).isFalse();
        assertThat(code.get()).as("%s", err).isZero();
        assertThat(out.toString()).isEqualTo(first + " PUT shw/1 one\n" + second + " DELETE shw/1\n(nil)\n");
    }

    @Test
    void embeddedShellWorksOnADirectory() {
        String data = dir.resolve("embedded").toString();
        Invocation r = runWithInput(
                "PUT k/1 a\nPUT k/2 'it''s'\nSCAN k/\nDEL k/1\nDEL k/1\nREVISION\n", "shell", "--data", data);
        assertThat(r.code()).as("%s", r).isEqualTo(Main.FAILED); // 'it''s' is a glued quote
        assertThat(r.out()).isEqualTo("1\nk/1\ta\n2\n(nil)\n2\n");
        assertThat(r.err()).isEqualTo("caskade: line 2: a closing quote must be followed by a blank\n");
        // the shell closed the store: the directory opens again
        assertThat(Invocation.run("get", "--data", data, "k/1").err()).isEqualTo("caskade: not found: k/1\n");
    }

    @Test
    void interactiveShellKeepsItsHistoryInAFile() throws Exception {
        Path history = dir.resolve("history");
        byte[] typed = "PUT hist/a 1\nGET hist/a\nHISTORY\nEXIT\n".getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream screen = new ByteArrayOutputStream();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        var cli = Main.commandLine(new PrintWriter(out, true), new PrintWriter(err, true));
        ShellCommand shell = cli.getSubcommands().get("shell").getCommand();
        try (Terminal terminal = TerminalBuilder.builder()
                .system(false)
                .streams(new java.io.ByteArrayInputStream(typed), screen)
                .type(Terminal.TYPE_DUMB)
                .build()) {
            shell.terminal = terminal;
            int code = cli.execute("shell", "--server", url, "--history", history.toString());
            assertThat(code).as("out: %s err: %s", out, err).isZero();
        }
        assertThat(screen.toString(StandardCharsets.UTF_8)).contains("caskade> ");
        assertThat(out.toString())
                .startsWith("caskade shell on " + url + " at revision ")
                .contains("\n1\n", "HISTORY")
                .containsPattern("(?m)^ +1 {2}PUT hist/a 1$")
                .containsPattern("(?m)^ +2 {2}GET hist/a$");
        assertThat(Files.readString(history)).contains("PUT hist/a 1", "GET hist/a", "EXIT");
        assertThat(db().get("hist/a")).isPresent();
    }
}
