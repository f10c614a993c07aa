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
import java.util.ArrayList;
import java.util.List;
import javax.net.SocketFactory;

/**
 * A minimal blocking RESP2 client for tests that check exact replies: {@link #call} sends one command and
 * reads one reply, as a String ("OK"), "-ERROR text", a Long, null, or a List of those.
 */
final class RespClient implements AutoCloseable {
    private final Socket socket;
    private final OutputStream out;
    private final InputStream in;

    RespClient(int port) {
        this(SocketFactory.getDefault(), port);
    }

    RespClient(SocketFactory factory, int port) {
        try {
            socket = factory.createSocket();
            socket.connect(new InetSocketAddress("127.0.0.1", port), 5_000);
            socket.setSoTimeout(10_000);
            out = socket.getOutputStream();
            in = new BufferedInputStream(socket.getInputStream());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    Object call(String... args) {
        try {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            b.writeBytes(("*" + args.length + "\r\n").getBytes(UTF_8));
            for (String a : args) {
                byte[] bytes = a.getBytes(UTF_8);
                b.writeBytes(("$" + bytes.length + "\r\n").getBytes(UTF_8));
                b.writeBytes(bytes);
                b.writeBytes("\r\n".getBytes(UTF_8));
            }
            out.write(b.toByteArray());
            out.flush();
            return read();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The reply as text: errors keep their '-', so they are easy to tell from a value. */
    String text(String... args) {
        return String.valueOf(call(args));
    }

    private Object read() throws IOException {
        String line = line();
        char type = line.charAt(0);
        String rest = line.substring(1);
        return switch (type) {
            case '+' -> rest;
            case '-' -> "-" + rest;
            case ':' -> Long.parseLong(rest);
            case '$' -> {
                int n = Integer.parseInt(rest);
                if (n < 0) yield null;
                byte[] data = in.readNBytes(n + 2);
                yield new String(data, 0, n, UTF_8);
            }
            case '*' -> {
                int n = Integer.parseInt(rest);
                if (n < 0) yield null;
                List<Object> items = new ArrayList<>(n);
                for (int i = 0; i < n; i++) items.add(read());
                yield items;
            }
            default -> throw new IOException("unexpected reply: " + line);
        };
    }

    private String line() throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        for (int i = 0; i < 1 << 20; i++) {
            int c = in.read();
            if (c < 0) throw new EOFException("connection closed after " + b.toString(UTF_8));
            if (c == '\r') {
                in.read(); // '\n'
                return b.toString(UTF_8);
            }
            b.write(c);
        }
        throw new IOException("reply line too long");
    }

    @Override
    public void close() {
        try {
            socket.close();
        } catch (IOException ignored) {
            // closing anyway
        }
    }
}
