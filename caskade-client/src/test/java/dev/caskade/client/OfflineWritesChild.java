package dev.caskade.client;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;

/**
 * The process {@link OfflineWritesTest} kills: a {@link LocalReplica} with offline writes in {@code DIR} queues {@code
 * COUNT} puts of {@code PREFIX<i> = v<i>} and then a compare-and-set of {@code PREFIX0} from revision 1 to {@code
 * cas}, printing {@code QUEUED <i>} once each call has returned (the write is in the outbox, fsynced) and {@code
 * DONE} after the last; then it waits for stdin to end. With {@code HALT} > 0 the process halts (as if killed) right
 * after the server answered write number {@code HALT} and before its ack is recorded, once every write is queued.
 *
 * <p>Arguments: {@code URI DIR PREFIX COUNT HALT}.
 */
final class OfflineWritesChild {
    private OfflineWritesChild() {}

    public static void main(String[] args) throws Exception {
        URI uri = URI.create(args[0]);
        Path dir = Path.of(args[1]);
        String prefix = args[2];
        int count = Integer.parseInt(args[3]);
        long halt = Long.parseLong(args[4]);
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
        CountDownLatch queued = new CountDownLatch(1);
        if (halt > 0)
            ReplicaWrites.afterSend = sequence -> {
                if (sequence != halt) return;
                try {
                    queued.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                out.println("HALT " + sequence);
                Runtime.getRuntime().halt(137);
            };
        try (CaskadeClient client = CaskadeClient.connect(
                uri,
                ClientOptions.defaults()
                        .withConnectTimeout(Duration.ofSeconds(2))
                        .withRequestTimeout(Duration.ofSeconds(5))
                        .withOfflineWrites(true))) {
            LocalReplica replica = LocalReplica.open(
                    client,
                    prefix,
                    dir,
                    ReplicaOptions.defaults().withBackoff(Duration.ofMillis(20), Duration.ofMillis(200)));
            try {
                for (int i = 0; i < count; i++) {
                    replica.put(prefix + i, "v" + i);
                    out.println("QUEUED " + i);
                }
                replica.compareAndSet(prefix + 0, 1, "cas");
                out.println("QUEUED cas");
                out.println("DONE");
                queued.countDown(); // only now may the halt hook end the process: DONE is printed
                while (System.in.read() >= 0) {
                    // runs until the parent closes our stdin or kills us
                }
            } finally {
                replica.close();
            }
        }
    }
}
