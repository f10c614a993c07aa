package dev.caskade.server;

import static java.nio.charset.StandardCharsets.UTF_8;

import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.Durability;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.file.Path;

/** A store in a temporary directory with a RESP server on a free loopback port. */
final class RespFixture implements AutoCloseable {
    final Caskade db;
    final RespServer server;

    RespFixture(Path dir) {
        this(dir, RespOptions.defaults());
    }

    RespFixture(Path dir, RespOptions options) {
        this(dir, options, Durability.NONE);
    }

    RespFixture(Path dir, RespOptions options, Durability durability) {
        db = Caskade.open(dir, CaskadeOptions.defaults().withDurability(durability));
        server = RespServer.start(db, options.withBindAddress("127.0.0.1").withPort(0));
    }

    int port() {
        return server.port();
    }

    /**
     * Sends raw bytes on a fresh connection and returns everything the server answered until it stayed quiet for
     * {@code quietMillis} or closed the connection.
     */
    String raw(String request, int quietMillis) {
        try (Socket s = new Socket("127.0.0.1", port())) {
            s.getOutputStream().write(request.getBytes(UTF_8));
            s.getOutputStream().flush();
            return readUntilQuiet(s, quietMillis);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static String readUntilQuiet(Socket s, int quietMillis) throws IOException {
        s.setSoTimeout(quietMillis);
        InputStream in = s.getInputStream();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[8192];
        long deadline = System.nanoTime() + 10_000_000_000L;
        try {
            while (System.nanoTime() < deadline) {
                int n = in.read(buf);
                if (n < 0) break;
                out.write(buf, 0, n);
            }
        } catch (SocketTimeoutException quiet) {
            // the server has said all it will say
        } catch (SocketException reset) {
            // it hung up with our bytes unread (a reset): what it wrote before still counts
        }
        return out.toString(UTF_8);
    }

    @Override
    public void close() {
        server.close();
        db.close();
    }
}
