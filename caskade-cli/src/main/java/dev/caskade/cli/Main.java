package dev.caskade.cli;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.Properties;
import java.util.concurrent.Callable;
import picocli.AutoComplete;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.HelpCommand;
import picocli.CommandLine.IVersionProvider;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

/** The {@code caskade} command: opens the store in {@code --data}, runs one subcommand, closes the store. */
@Command(
        name = "caskade",
        scope = ScopeType.INHERIT,
        mixinStandardHelpOptions = true,
        versionProvider = Main.Version.class,
        exitCodeOnInvalidInput = Main.USAGE,
        description = {
            "Caskade key-value store. Embedded mode (--data DIR): every command opens the store directory itself, "
                    + "so only one command (or program) can have a store open at a time.",
            "Remote mode (--server URL, or CASKADE_SERVER): get, put, del, scan, watch and shell talk to a running "
                    + "'caskade serve' over HTTP instead.",
            "Backups: 'serve --replicate-to URL' or 'replicate' ship the log to S3 or a directory; restore,"
                    + " generations, snapshots, segments and 'verify --from' read it back (docs/replication.md)."
        },
        subcommands = {
            PutCommand.class,
            GetCommand.class,
            DelCommand.class,
            ScanCommand.class,
            WatchCommand.class,
            ShellCommand.class,
            VerifyCommand.class,
            StatsCommand.class,
            MergeCommand.class,
            ServeCommand.class,
            ReplicateCommand.class,
            RestoreCommand.class,
            GenerationsCommand.class,
            SnapshotsCommand.class,
            SegmentsCommand.class,
            PasswdCommand.class,
            TokenCommand.class,
            AutoComplete.GenerateCompletion.class,
            WebhookCommand.class,
            HelpCommand.class
        },
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {
            " 0:success",
            " 1:not found, or the command failed (the message says why)",
            " 2:the store (or, with --from, the backup) is damaged",
            "64:bad arguments",
            "77:the server refused the credentials (HTTP 401 or 403)",
            "70:internal error (set CASKADE_DEBUG=1 for a stack trace)"
        })
public final class Main implements Callable<Integer> {
    static final int OK = 0;
    static final int FAILED = 1;
    static final int DAMAGED = 2;
    static final int USAGE = 64;
    static final int SOFTWARE = 70;
    static final int NO_PERMISSION = 77;

    /** The standard input the commands read (put --stdin, shell); tests give their own. */
    InputStream in = System.in;

    @Spec
    CommandSpec spec;

    // inherited: the subcommands set this field, so 'caskade serve --check-args ...' works as well
    @Option(
            names = "--check-args",
            scope = ScopeType.INHERIT,
            description = "Parse and check the command line (every conversion and check a command makes before it"
                    + " opens anything), then exit: 0, or 64 with the message. Opens, starts and writes nothing.")
    boolean checkArgs;

    /** Runs the command line and exits with its exit code. */
    public static void main(String[] args) {
        // JSON must be UTF-8 whatever the locale says, so stdout and stderr are encoded explicitly
        PrintWriter out = utf8(FileDescriptor.out);
        PrintWriter err = utf8(FileDescriptor.err);
        int code = commandLine(out, err).execute(args);
        out.flush();
        err.flush();
        System.exit(code);
    }

    /** The command line with caskade's error handling, printing to {@code out} and {@code err}. */
    static CommandLine commandLine(PrintWriter out, PrintWriter err) {
        return commandLine(System.in, out, err);
    }

    /** The command line reading {@code in} as its standard input. */
    static CommandLine commandLine(InputStream in, PrintWriter out, PrintWriter err) {
        Main main = new Main();
        main.in = in;
        CommandLine cli = new CommandLine(main);
        // 'caskade generate-completion > caskade.bash': picocli's bash (and zsh, via bashcompinit) completion
        cli.getSubcommands()
                .get("generate-completion")
                .getCommandSpec()
                .usageMessage()
                .hidden(false);
        cli.setOut(out);
        cli.setErr(err);
        cli.setParameterExceptionHandler(Main::badArguments);
        cli.setExecutionExceptionHandler((e, command, parsed) -> {
            // StoreCommand maps every expected failure itself; what reaches here is a bug
            return StoreCommand.internalError(command.getErr(), e);
        });
        return cli;
    }

    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getErr());
        return USAGE;
    }

    /** One line instead of picocli's message plus the whole usage text. */
    private static int badArguments(ParameterException e, String[] args) {
        CommandLine command = e.getCommandLine();
        command.getErr()
                .println("caskade: " + e.getMessage() + " (see: "
                        + command.getCommandSpec().qualifiedName() + " --help)");
        command.getErr().flush();
        return USAGE;
    }

    private static PrintWriter utf8(FileDescriptor fd) {
        return new PrintWriter(new OutputStreamWriter(new FileOutputStream(fd), StandardCharsets.UTF_8), true);
    }

    /** Reads the version that Maven filtered into {@code version.properties}. */
    static final class Version implements IVersionProvider {
        @Override
        public String[] getVersion() throws IOException {
            Properties p = new Properties();
            try (InputStream in = Main.class.getResourceAsStream("version.properties")) {
                if (in != null) p.load(in);
            }
            return new String[] {
                "caskade " + p.getProperty("version", "(unknown version)"),
                "Java " + Runtime.version() + " (" + System.getProperty("java.vendor") + ")"
            };
        }
    }
}
