package dev.caskade.s3;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A TCP proxy on 127.0.0.1 in front of an HTTP server (S3Proxy), whose behaviour can be switched at runtime to
 * inject faults. The mode is read when a connection is accepted; switching it also closes every open connection, so
 * that pooled keep-alive connections do not carry on in the old mode (a client's next request on such a connection
 * fails once, as with any server that drops idle connections).
 *
 * <ul>
 *   <li>{@link #pass()}: relay bytes both ways.
 *   <li>{@link #fail5xx(int, int)}: read the request head (and its body, unless the client waits for
 *       100-continue), answer the status with an S3 XML error body and {@code Connection: close}, close.
 *   <li>{@link #stall(Duration)}: accept, read and discard, answer nothing; close after the given time.
 *   <li>{@link #cut()}: close at once (FIN). {@link #reset()}: close at once with RST.
 *   <li>{@link #delay(Duration)}: wait, then relay.
 * </ul>
 */
public final class FaultProxy implements AutoCloseable {

    /** What the proxy does with a new connection. */
    public sealed interface Mode permits Pass, Fail, Stall, Cut, Reset, Delay {}

    public record Pass() implements Mode {}

    /** Answer {@code status} to the next {@code times} connections, then pass. */
    public record Fail(int status, int times) implements Mode {
        public Fail {
            if (status < 500 || status > 599 || times < 1) {
                throw new IllegalArgumentException("Fail(" + status + ", " + times + ")");
            }
        }
    }

    public record Stall(Duration hold) implements Mode {}

    public record Cut() implements Mode {}

    public record Reset() implements Mode {}

    public record Delay(Duration perConnection) implements Mode {}

    public static Mode pass() {
        return new Pass();
    }

    /** Every connection is answered {@code status} (500, 503...) until the mode changes. */
    public static Mode fail5xx(int status) {
        return new Fail(status, Integer.MAX_VALUE);
    }

    /** The next {@code times} connections are answered {@code status}, later ones pass. */
    public static Mode fail5xx(int status, int times) {
        return new Fail(status, times);
    }

    public static Mode stall(Duration hold) {
        return new Stall(hold);
    }

    public static Mode cut() {
        return new Cut();
    }

    public static Mode reset() {
        return new Reset();
    }

    public static Mode delay(Duration perConnection) {
        return new Delay(perConnection);
    }

    private static final Pattern CONTENT_LENGTH = Pattern.compile("(?im)^content-length:\\s*(\\d+)\\s*$");
    private static final Pattern EXPECT_CONTINUE = Pattern.compile("(?im)^expect:\\s*100-continue\\s*$");
    private static final int MAX_HEAD = 64 << 10;

    private final ServerSocket server;
    private final InetSocketAddress upstream;
    private final Set<Socket> open = ConcurrentHashMap.newKeySet();
    private final AtomicLong connections = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();
    private final AtomicInteger failBudget = new AtomicInteger();
    private final Thread acceptor;
    private volatile Mode mode = new Pass();
    private volatile boolean closed;

    private FaultProxy(InetSocketAddress upstream) throws IOException {
        this.upstream = upstream;
        this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        this.acceptor = Thread.ofPlatform()
                .daemon()
                .name("fault-proxy-" + server.getLocalPort())
                .start(this::accept);
    }

    /** A proxy on a free port of 127.0.0.1 in front of {@code 127.0.0.1:upstreamPort}, in PASS mode. */
    public static FaultProxy start(int upstreamPort) {
        try {
            return new FaultProxy(new InetSocketAddress(InetAddress.getLoopbackAddress(), upstreamPort));
        } catch (IOException e) {
            throw new IllegalStateException("cannot start the fault proxy", e);
        }
    }

    public int port() {
        return server.getLocalPort();
    }

    /** {@code http://127.0.0.1:port}. */
    public URI endpoint() {
        return URI.create("http://127.0.0.1:" + port());
    }

    /** Switches the mode for new connections and closes the open ones. */
    public void mode(Mode next) {
        if (next instanceof Fail f) {
            failBudget.set(f.times());
        }
        mode = next;
        for (Socket s : open) {
            closeQuietly(s);
        }
    }

    public Mode mode() {
        return mode;
    }

    /** Connections accepted so far. */
    public long connections() {
        return connections.get();
    }

    /** Connections answered with a 5xx so far. */
    public long failed() {
        return failed.get();
    }

    @Override
    public void close() {
        closed = true;
        closeQuietly(server);
        for (Socket s : open) {
            closeQuietly(s);
        }
        try {
            acceptor.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void accept() {
        while (!closed) {
            Socket client;
            try {
                client = server.accept();
            } catch (IOException e) {
                return; // closed
            }
            connections.incrementAndGet();
            open.add(client);
            Mode m = mode;
            if (m instanceof Fail && failBudget.getAndDecrement() <= 0) {
                m = new Pass();
            }
            Mode chosen = m;
            Thread.ofVirtual().name("fault-proxy-conn").start(() -> {
                try {
                    handle(client, chosen);
                } finally {
                    open.remove(client);
                    closeQuietly(client);
                }
            });
        }
    }

    private void handle(Socket client, Mode m) {
        try {
            switch (m) {
                case Pass p -> relay(client);
                case Delay d -> {
                    Thread.sleep(d.perConnection());
                    relay(client);
                }
                case Fail f -> fail(client, f.status());
                case Stall s -> stall(client, s.hold());
                case Cut c -> client.close();
                case Reset r -> {
                    client.setSoLinger(true, 0);
                    client.close();
                }
            }
        } catch (IOException e) {
            // the client or the upstream went away: nothing to do
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void relay(Socket client) throws IOException {
        Socket up = new Socket();
        open.add(up);
        try {
            up.connect(upstream, 5_000);
            Thread back = Thread.ofVirtual().start(() -> pump(up, client));
            pump(client, up);
            try {
                back.join(Duration.ofMinutes(2));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        } finally {
            open.remove(up);
            closeQuietly(up);
        }
    }

    // copies until EOF, then half-closes the other side; any error closes both
    private static void pump(Socket from, Socket to) {
        byte[] buf = new byte[64 << 10];
        try {
            InputStream in = from.getInputStream();
            OutputStream out = to.getOutputStream();
            int n;
            while ((n = in.read(buf)) >= 0) {
                out.write(buf, 0, n);
            }
            to.shutdownOutput();
        } catch (IOException e) {
            closeQuietly(from);
            closeQuietly(to);
        }
    }

    private void fail(Socket client, int status) throws IOException {
        client.setSoTimeout(5_000);
        InputStream in = client.getInputStream();
        String head = readHead(in);
        if (head == null) {
            return;
        }
        Matcher len = CONTENT_LENGTH.matcher(head);
        if (len.find() && !EXPECT_CONTINUE.matcher(head).find()) {
            // read the body first, as a real server would, so the client is not cut off mid-write
            in.skipNBytes(Long.parseLong(len.group(1)));
        }
        String code = status == 503 ? "SlowDown" : "InternalError";
        String reason = status == 503 ? "Service Unavailable" : status == 500 ? "Internal Server Error" : "Error";
        byte[] body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>" + code
                        + "</Code><Message>injected by FaultProxy</Message><RequestId>fault</RequestId></Error>")
                .getBytes(StandardCharsets.UTF_8);
        String response = "HTTP/1.1 " + status + " " + reason + "\r\nContent-Type: application/xml\r\nContent-Length: "
                + body.length + "\r\nConnection: close\r\n\r\n";
        OutputStream out = client.getOutputStream();
        out.write(response.getBytes(StandardCharsets.US_ASCII));
        out.write(body);
        out.flush();
        failed.incrementAndGet();
        client.shutdownOutput();
        // let the client see our FIN before the socket closes, so it reads the answer rather than an RST
        client.setSoTimeout(1_000);
        try {
            in.transferTo(OutputStream.nullOutputStream());
        } catch (IOException e) {
            // timeout or reset: done either way
        }
    }

    private static String readHead(InputStream in) throws IOException {
        var head = new ByteArrayOutputStream();
        int last4 = 0;
        while (head.size() < MAX_HEAD) {
            int b = in.read();
            if (b < 0) {
                return null;
            }
            head.write(b);
            last4 = (last4 << 8) | b;
            if (last4 == 0x0D0A0D0A) {
                return head.toString(StandardCharsets.ISO_8859_1).toLowerCase(Locale.ROOT);
            }
        }
        return null;
    }

    // holds the connection silent, reading and dropping what the client sends, until the time is up
    private static void stall(Socket client, Duration hold) throws IOException {
        long deadline = System.nanoTime() + hold.toNanos();
        InputStream in = client.getInputStream();
        byte[] buf = new byte[8192];
        while (System.nanoTime() < deadline) {
            client.setSoTimeout((int) Math.max(1, Math.min(200, (deadline - System.nanoTime()) / 1_000_000)));
            try {
                if (in.read(buf) < 0) {
                    return; // the client gave up
                }
            } catch (SocketTimeoutException e) {
                // keep holding
            }
        }
    }

    private static void closeQuietly(java.io.Closeable c) {
        try {
            c.close();
        } catch (IOException e) {
            // already gone
        }
    }

    @Override
    public String toString() {
        return "FaultProxy[" + port() + " -> " + upstream.getPort() + ", " + mode + "]";
    }
}
