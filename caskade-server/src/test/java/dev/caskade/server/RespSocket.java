package dev.caskade.server;

import static java.nio.charset.StandardCharsets.UTF_8;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.net.SocketFactory;

/**
 * A bare RESP client on a socket, to see frames exactly as the server sends them. Bulk strings read as UTF-8
 * Strings, integers as Longs, nulls as null, arrays as Lists, maps as Maps; errors and pushes get their own types.
 */
final class RespSocket implements AutoCloseable {
    /** An error reply; shown with its '-', so it is easy to tell from a value in {@link #text}. */
    record Err(String text) {
        @Override
        public String toString() {
            return "-" + text;
        }
    }

    /** A RESP3 push frame ({@code >}). */
    record Push(List<Object> items) {}

    /** The read timed out: the server sent nothing more within the wait. */
    static final Object NOTHING = new Object() {
        @Override
        public String toString() {
            return "<nothing>";
        }
    };

    final Socket socket;
    private final InputStream in;
    private final OutputStream out;

    /** How long a read waits for the server. */
    private static final int TIMEOUT_MILLIS = 10_000;

    RespSocket(int port) {
        this(SocketFactory.getDefault(), port);
    }

    /** Over {@code factory}'s sockets: TLS with an SSLSocketFactory. */
    RespSocket(SocketFactory factory, int port) {
        try {
            socket = factory.createSocket();
            socket.connect(new InetSocketAddress("127.0.0.1", port), TIMEOUT_MILLIS);
            socket.setSoTimeout(TIMEOUT_MILLIS);
            in = new BufferedInputStream(socket.getInputStream());
            out = socket.getOutputStream();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Sends one command as an array of bulk strings. */
    RespSocket send(String... args) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes(("*" + args.length + "\r\n").getBytes(UTF_8));
        for (String a : args) {
            byte[] bytes = a.getBytes(UTF_8);
            b.writeBytes(("$" + bytes.length + "\r\n").getBytes(UTF_8));
            b.writeBytes(bytes);
            b.writeBytes("\r\n".getBytes(UTF_8));
        }
        try {
            out.write(b.toByteArray());
            out.flush();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return this;
    }

    /** Sends a command and reads one frame. */
    Object call(String... args) {
        return send(args).read();
    }

    /** The reply as text ("OK", "-ERR …", "3", "null", "[a, b]"), for tests that check exact replies. */
    String text(String... args) {
        return String.valueOf(call(args));
    }

    /** The next frame; fails after 10 s of silence. */
    Object read() {
        try {
            return frame();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The next frame, or {@link #NOTHING} if none comes within {@code millis}. */
    Object poll(int millis) {
        try {
            socket.setSoTimeout(millis);
            try {
                return frame();
            } catch (SocketTimeoutException quiet) {
                return NOTHING;
            } finally {
                socket.setSoTimeout(TIMEOUT_MILLIS);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private Object frame() throws IOException {
        int type = in.read();
        if (type < 0) throw new EOFException("connection closed");
        String line = line();
        return switch (type) {
            case '+' -> line;
            case '-' -> new Err(line);
            case ':' -> Long.parseLong(line);
            case '_' -> null;
            case '#' -> line.equals("t");
            case ',' -> Double.parseDouble(line);
            case '$' -> {
                int n = Integer.parseInt(line);
                if (n < 0) yield null;
                byte[] data = in.readNBytes(n);
                if (data.length < n || in.read() != '\r' || in.read() != '\n') throw new EOFException("short bulk");
                yield new String(data, UTF_8);
            }
            case '*', '>', '~' -> {
                int n = Integer.parseInt(line);
                if (n < 0) yield null;
                List<Object> items = new ArrayList<>(n);
                for (int i = 0; i < n; i++) items.add(frame());
                yield type == '>' ? new Push(items) : items;
            }
            case '%' -> {
                int n = Integer.parseInt(line);
                Map<Object, Object> m = new LinkedHashMap<>();
                for (int i = 0; i < n; i++) m.put(frame(), frame());
                yield m;
            }
            default -> throw new IOException("unexpected frame type " + (char) type + line);
        };
    }

    private String line() throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        for (int c; (c = in.read()) >= 0; ) {
            if (c == '\r') {
                if (in.read() != '\n') throw new IOException("CR without LF");
                return b.toString(UTF_8);
            }
            b.write(c);
        }
        throw new EOFException("connection closed mid-line");
    }

    @Override
    public void close() {
        try {
            socket.close();
        } catch (IOException e) {
            // already gone
        }
    }
}
