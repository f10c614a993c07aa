package dev.caskade.cluster;

import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.WatchEvent;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The process {@link ClusterCrashTest} kills: node {@code ID} of the cluster at {@code URL} in {@code DIR}, printing
 * {@code OPEN rev} (its store's revision as this run found it), then {@code COMMIT rev} per applied commit, flushed at
 * once; it closes cleanly when stdin ends. An optional fourth argument is the number of shards.
 */
final class ClusterCrashChild {
    private ClusterCrashChild() {}

    public static void main(String[] args) throws Exception {
        String url = args[0];
        Path dir = Path.of(args[1]);
        String id = args[2];
        int shards = args.length > 3 ? Integer.parseInt(args[3]) : 1;
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
        ClusterOptions options = ClusterOptions.parse(url).withNodeId(id).withShards(shards);
        // all history kept (no merge), so that the test can count every commit per shard
        CaskadeOptions store = ClusterNode.defaultStoreOptions().withMerge(0.6, 512L << 20, 0, Duration.ZERO);
        try (ClusterNode node = ClusterNode.open(dir, options, store, print)) {
            while (System.in.read() >= 0) {
                // until the parent closes stdin, or kills us
            }
            out.println("CLOSED " + node.revision());
        }
    }
}
