package dev.caskade.s3;

import dev.caskade.Batch;
import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.Durability;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.SplittableRandom;

/**
 * The child process of {@link ShipCrashTest}: opens a store with {@link Durability#SYNC}, ships it live to S3 (the
 * S3Proxy the test hosts) and commits large values in a loop until it is killed with SIGKILL.
 *
 * <p>Its S3 requests go through a {@link SlowLink} in this process that carries uploads at {@link #UPLOAD_RATE}, so
 * that an upload takes tens of milliseconds and a kill can land in the middle of one (on loopback it would take a
 * few).
 *
 * <p>Stdout carries only its own lines, each in one write(2): {@code READY <generation> <shipped> <revision>} once
 * the shipper has a generation, {@code ACK <revision> <epoch ms>} after each commit returned (so it is durable),
 * {@code PUT <object> <bytes>} and {@code PUT-DONE <object>} around each upload of a log object or snapshot, and in
 * catch-up mode {@code DONE <generation> <shipped> <revision>} after a clean close. Logs go to stderr.
 *
 * <p>Arguments: {@code <dir> <endpoint> <bucket> <prefix> <seed> <maxMillis> <write|catchup>}.
 */
final class ShipCrashWriter {
    static final Duration SYNC_INTERVAL = Duration.ofMillis(200);
    static final Duration OPEN_WAIT = Duration.ofMillis(500);
    /** Short, so that a restart after a kill waits little for the dead writer's lease to expire. */
    static final Duration LEASE_TTL = Duration.ofSeconds(30); // the default: a restart must not wait it out

    /** Bytes per second the link to S3 carries towards the server. */
    static final long UPLOAD_RATE = 3L << 20;

    static final int KEYS = 100;

    private static final FileOutputStream OUT = new FileOutputStream(FileDescriptor.out);

    private ShipCrashWriter() {}

    /** No background merge: the whole history stays in the data directory for the parent's checks. */
    static CaskadeOptions storeOptions() {
        return CaskadeOptions.defaults()
                .withDurability(Durability.SYNC)
                .withSegmentBytes(4 << 20)
                .withMerge(0.6, 512L << 20, 0, Duration.ZERO);
    }

    static ShipOptions shipOptions() {
        return ShipOptions.defaults()
                .withSyncInterval(SYNC_INTERVAL)
                .withLeaseTtl(LEASE_TTL)
                .withObjectBytes(256 << 10, 64 << 10);
    }

    static BreakerOptions breaker() {
        return new BreakerOptions(10, 50f, 4, OPEN_WAIT, 2, 2, Duration.ofMillis(50), Duration.ofMillis(200));
    }

    public static void main(String[] args) throws Exception {
        System.setOut(System.err); // logback's console appender writes to System.out: keep stdout for our lines
        haltWhenParentDies();
        Path dir = Path.of(args[0]);
        URI endpoint = URI.create(args[1]);
        String bucket = args[2];
        String prefix = args[3];
        SplittableRandom rnd = new SplittableRandom(Long.parseLong(args[4]));
        long deadline =
                System.nanoTime() + Duration.ofMillis(Long.parseLong(args[5])).toNanos();
        boolean write = args[6].equals("write");
        try (SlowLink link = SlowLink.start(endpoint.getPort(), UPLOAD_RATE);
                Caskade db = Caskade.open(dir, storeOptions());
                GuardedStore dest = new GuardedStore(
                        new Announcing(S3Store.open(
                                bucket,
                                prefix,
                                S3ProxyFixture.options(link.endpoint())
                                        .withTimeouts(
                                                Duration.ofSeconds(1), Duration.ofSeconds(2), Duration.ofSeconds(10)))),
                        breaker())) {
            Shipper shipper = Shipper.live(db, dest, shipOptions());
            try {
                // a restart may find the killed writer's lease still running: wait it out
                while (!shipper.syncNow()) {
                    if (System.nanoTime() > deadline) {
                        line("ERR no first sync: " + shipper.status().lastError());
                        Runtime.getRuntime().halt(2);
                    }
                    Thread.sleep(50);
                }
                ShipStatus st = shipper.status();
                line("READY " + st.generation() + " " + st.shippedRevision() + " " + db.revision());
                shipper.start();
                if (write) {
                    for (int i = 0; i < 1_000_000 && System.nanoTime() < deadline; i++) {
                        long rev = commit(db, rnd, i);
                        line("ACK " + rev + " " + System.currentTimeMillis());
                        Thread.sleep(rnd.nextInt(5, 15)); // ~100 commits/s, ~1.6 MB/s
                    }
                    line("ERR the writer ran out of time before it was killed");
                    return;
                }
                while (shipper.status().shippedRevision() < db.revision() && System.nanoTime() < deadline) {
                    Thread.sleep(20);
                }
            } finally {
                shipper.close(); // a last tick, and the lease is given up
            }
            ShipStatus st = shipper.status();
            line("DONE " + st.generation() + " " + st.shippedRevision() + " " + db.revision());
        }
    }

    private static long commit(Caskade db, SplittableRandom rnd, int i) {
        String k = "k/" + rnd.nextInt(KEYS);
        int op = rnd.nextInt(10);
        if (op == 0) {
            long rev = db.delete(k);
            if (rev != 0) return rev;
            op = 9; // nothing to delete: put instead, so every acknowledged call is a commit
        }
        if (op == 1) {
            Batch b = Batch.create();
            for (int n = 2 + rnd.nextInt(3); n > 0; n--)
                b.put(("k/" + rnd.nextInt(KEYS)).getBytes(StandardCharsets.UTF_8), value(rnd, i));
            return db.commit(b.delete("k/" + rnd.nextInt(KEYS)));
        }
        return db.put(k.getBytes(StandardCharsets.UTF_8), value(rnd, i));
    }

    /** 1 to 32 KiB, compressible only in part. */
    private static byte[] value(SplittableRandom rnd, int i) {
        byte[] v = new byte[1024 + rnd.nextInt(31 * 1024)];
        for (int j = 0; j < v.length; j++) v[j] = (byte) ('a' + (j % 64 < 32 ? rnd.nextInt(26) : i % 26));
        return v;
    }

    /** One line in one write(2). */
    private static synchronized void line(String s) {
        try {
            OUT.write((s + "\n").getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            Runtime.getRuntime().halt(5); // the parent is gone
        }
    }

    /** The parent holds our stdin open; EOF means it died, and so do we. */
    private static void haltWhenParentDies() {
        Thread.ofPlatform().daemon().name("parent-watch").start(() -> {
            try {
                while (System.in.read() != -1) {
                    // nothing is ever sent
                }
            } catch (IOException ignored) {
                // same as EOF
            }
            Runtime.getRuntime().halt(6);
        });
    }

    /** Announces on stdout each upload of a log object or snapshot, before it starts and after it ended. */
    private static final class Announcing extends ForwardingStore {
        Announcing(ObjectStore inner) {
            super(inner);
        }

        @Override
        public void put(String name, byte[] data) {
            boolean announce = name.endsWith(".seg");
            if (announce) line("PUT " + name + " " + data.length);
            inner.put(name, data);
            if (announce) line("PUT-DONE " + name);
        }

        @Override
        public void put(String name, Path file) {
            line("PUT " + name + " " + file.toFile().length());
            inner.put(name, file);
            line("PUT-DONE " + name);
        }
    }

    /**
     * A TCP relay on 127.0.0.1 to a local port that carries client-to-server bytes at a fixed rate (answers go at
     * full speed): a slow uplink, in this process, so it dies with it.
     */
    static final class SlowLink implements AutoCloseable {
        private final ServerSocket server;
        private final InetSocketAddress upstream;
        private final long bytesPerSecond;

        private SlowLink(ServerSocket server, int upstreamPort, long bytesPerSecond) {
            this.server = server;
            this.upstream = new InetSocketAddress(InetAddress.getLoopbackAddress(), upstreamPort);
            this.bytesPerSecond = bytesPerSecond;
        }

        static SlowLink start(int upstreamPort, long bytesPerSecond) throws IOException {
            SlowLink l = new SlowLink(
                    new ServerSocket(0, 50, InetAddress.getLoopbackAddress()), upstreamPort, bytesPerSecond);
            Thread.ofPlatform().daemon().name("slow-link").start(l::accept);
            return l;
        }

        URI endpoint() {
            return URI.create("http://127.0.0.1:" + server.getLocalPort());
        }

        private void accept() {
            while (!server.isClosed()) {
                try {
                    Socket client = server.accept();
                    Socket up = new Socket();
                    up.connect(upstream, 2_000);
                    Thread.ofVirtual().start(() -> pump(client, up, bytesPerSecond));
                    Thread.ofVirtual().start(() -> pump(up, client, 0));
                } catch (IOException e) {
                    // closed, or the server refused: the client sees its connection drop
                }
            }
        }

        /** Copies until EOF, at most {@code rate} bytes a second (0: no limit), then half-closes. */
        private static void pump(Socket from, Socket to, long rate) {
            byte[] buf = new byte[8192];
            long start = System.nanoTime();
            long sent = 0;
            try (from) {
                InputStream in = from.getInputStream();
                OutputStream out = to.getOutputStream();
                int n;
                while ((n = in.read(buf)) >= 0) {
                    out.write(buf, 0, n);
                    if (rate > 0) {
                        // a pause resets the budget: an idle keep-alive connection earns no burst
                        long now = System.nanoTime();
                        if (now - start > sent * 1_000_000_000L / rate + 50_000_000L) {
                            start = now;
                            sent = 0;
                        }
                        sent += n;
                        long due = start + sent * 1_000_000_000L / rate;
                        long wait = due - System.nanoTime();
                        if (wait > 0) Thread.sleep(Duration.ofNanos(wait));
                    }
                }
                to.shutdownOutput();
            } catch (IOException | InterruptedException e) {
                try {
                    to.close();
                } catch (IOException ignored) {
                    // already gone
                }
            }
        }

        @Override
        public void close() throws IOException {
            server.close();
        }
    }
}
