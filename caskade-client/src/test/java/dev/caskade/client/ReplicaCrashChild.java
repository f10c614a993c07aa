package dev.caskade.client;

import dev.caskade.Caskade;
import dev.caskade.WatchEvent;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The process {@link ReplicaCrashTest} kills: a {@link LocalReplica} of {@code PREFIX} from the server at {@code URI}
 * in {@code DIR}, printing one line per event, flushed at once: {@code OPEN rev} (the store's revision as this run
 * found it, 0 when there is none), {@code RESET rev}, {@code COMMIT rev}, and {@code CLOSED rev} after a clean close,
 * which happens when stdin ends.
 *
 * <p>Arguments: {@code URI DIR PREFIX}.
 */
final class ReplicaCrashChild {
    private ReplicaCrashChild() {}

    public static void main(String[] args) throws Exception {
        URI uri = URI.create(args[0]);
        Path dir = Path.of(args[1]);
        String prefix = args[2];
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
        long open = 0;
        Path store = dir.resolve("store");
        if (Files.isDirectory(store)) {
            // opened (and recovered) once here, so the resume point is known before the replica may apply anything
            try (Caskade db = Caskade.open(store, LocalReplica.storeOptions())) {
                open = db.revision();
            }
        }
        out.println("OPEN " + open);
        LocalReplica.Listener print = new LocalReplica.Listener() {
            @Override
            public void commit(WatchEvent.Commit commit) {
                out.println("COMMIT " + commit.revision());
            }

            @Override
            public void reset(long revision) {
                out.println("RESET " + revision);
            }
        };
        try (CaskadeClient client = CaskadeClient.connect(
                uri,
                ClientOptions.defaults()
                        .withConnectTimeout(Duration.ofSeconds(5))
                        .withRequestTimeout(Duration.ofSeconds(10)))) {
            LocalReplica replica = LocalReplica.open(client, prefix, dir, print);
            try {
                while (System.in.read() >= 0) {
                    // runs until the parent closes our stdin (or dies)
                }
            } finally {
                replica.close();
            }
        }
        try (Caskade db = Caskade.open(store, LocalReplica.storeOptions())) {
            out.println("CLOSED " + db.revision());
        }
    }
}
