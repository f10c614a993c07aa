package dev.caskade.cluster;

import dev.caskade.Caskade;
import dev.caskade.WatchEvent;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The process {@link ClusterCrashTest} kills: node {@code ID} of the cluster at {@code URL} in {@code DIR}, printing
 * {@code OPEN rev} (its store's revision as this run found it), then {@code COMMIT rev} per applied commit, flushed at
 * once; it closes cleanly when stdin ends.
 */
final class ClusterCrashChild {
    private ClusterCrashChild() {}

    public static void main(String[] args) throws Exception {
        String url = args[0];
        Path dir = Path.of(args[1]);
        String id = args[2];
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
        long open = 0;
        if (Files.isDirectory(dir.resolve("store"))) {
            try (Caskade db = Caskade.open(dir.resolve("store"), ClusterNode.defaultStoreOptions())) {
                open = db.revision();
            }
        }
        out.println("OPEN " + open);
        ClusterNode.Listener print = new ClusterNode.Listener() {
            @Override
            public void commit(WatchEvent.Commit c) {
                out.println("COMMIT " + c.revision());
            }
        };
        try (ClusterNode node = ClusterNode.open(dir, ClusterOptions.parse(url).withNodeId(id), print)) {
            while (System.in.read() >= 0) {
                // until the parent closes stdin, or kills us
            }
            out.println("CLOSED " + node.revision());
        }
    }
}
