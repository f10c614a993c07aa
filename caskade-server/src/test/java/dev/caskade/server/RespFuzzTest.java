package dev.caskade.server;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import redis.clients.jedis.Jedis;

/**
 * Random and mutated RESP frames on raw sockets: every frame gets an answer or a closed connection (never a
 * hang), and a well-behaved Jedis client keeps being served throughout.
 */
class RespFuzzTest {
    private static final int FRAMES = 300;
    private static final long BUDGET_NANOS = 20_000_000_000L;

    private static final List<String> SEEDS = List.of(
            "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n",
            "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
            "*1\r\n$4\r\nPING\r\n",
            "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n",
            "*4\r\n$6\r\nEXPIRE\r\n$1\r\nk\r\n$2\r\n10\r\n$2\r\nGT\r\n",
            "*1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n*1\r\n$4\r\nEXEC\r\n",
            "*6\r\n$4\r\nSCAN\r\n$1\r\n0\r\n$5\r\nMATCH\r\n$3\r\n*[a\r\n$5\r\nCOUNT\r\n$1\r\n5\r\n",
            "*4\r\n$8\r\nSETRANGE\r\n$1\r\nk\r\n$2\r\n10\r\n$1\r\nx\r\n",
            "PING\r\n",
            "SET a b\r\n");

    @Test
    void randomAndMutatedFrames(@TempDir Path dir) throws Exception {
        long seed = System.nanoTime();
        Random rnd = new Random(seed);
        long deadline = System.nanoTime() + BUDGET_NANOS;
        try (RespFixture fx = new RespFixture(dir);
                Jedis healthy = new Jedis("127.0.0.1", fx.port(), 5000)) {
            int sent = 0;
            for (; sent < FRAMES && System.nanoTime() < deadline; sent++) {
                byte[] frame = frame(rnd);
                try (Socket s = new Socket("127.0.0.1", fx.port())) {
                    s.setSoTimeout(2000);
                    try {
                        s.getOutputStream().write(frame);
                        s.shutdownOutput(); // EOF: the server has the whole frame and must answer or close now
                    } catch (IOException closedEarly) {
                        continue; // it hung up mid-frame: a valid outcome
                    }
                    assertThat(answeredOrClosed(s))
                            .as("seed %d, frame %d: %s", seed, sent, printable(frame))
                            .isTrue();
                }
                if (sent % 25 == 0) {
                    healthy.set("healthy", Integer.toString(sent));
                    assertThat(healthy.get("healthy")).as("seed %d", seed).isEqualTo(Integer.toString(sent));
                }
            }
            assertThat(sent).as("seed %d", seed).isGreaterThan(50);
            assertThat(healthy.ping()).isEqualTo("PONG");
        } catch (AssertionError | RuntimeException e) {
            System.err.println("RespFuzzTest seed: " + seed);
            throw e;
        }
    }

    /** True when the server wrote something or closed; false only if it stayed silent with the socket open. */
    private static boolean answeredOrClosed(Socket s) throws IOException {
        InputStream in = s.getInputStream();
        byte[] buf = new byte[4096];
        try {
            while (in.read(buf) >= 0) {
                // drain replies until the close
            }
            return true; // closed (maybe after replying)
        } catch (SocketTimeoutException silent) {
            // we half-closed, so even an incomplete frame must end in a close: silence means a hang
            return false;
        } catch (IOException reset) {
            return true;
        }
    }

    private static byte[] frame(Random rnd) {
        return switch (rnd.nextInt(4)) {
            case 0 -> {
                byte[] b = new byte[1 + rnd.nextInt(64)];
                rnd.nextBytes(b);
                yield b;
            }
            case 1 -> {
                byte[] b = SEEDS.get(rnd.nextInt(SEEDS.size())).getBytes(UTF_8);
                int flips = 1 + rnd.nextInt(4);
                for (int i = 0; i < flips; i++) b[rnd.nextInt(b.length)] = (byte) rnd.nextInt(256);
                yield b;
            }
            case 2 -> {
                byte[] b = SEEDS.get(rnd.nextInt(SEEDS.size())).getBytes(UTF_8);
                yield java.util.Arrays.copyOf(b, rnd.nextInt(b.length + 1));
            }
            default -> {
                String[] evil = {"*", "$", ":", "+", "-", "\r\n", "-1", "2147483647", "99999999999999999999", "0", "x"};
                StringBuilder sb = new StringBuilder();
                int parts = 1 + rnd.nextInt(12);
                for (int i = 0; i < parts; i++) sb.append(evil[rnd.nextInt(evil.length)]);
                yield sb.toString().getBytes(UTF_8);
            }
        };
    }

    private static String printable(byte[] b) {
        StringBuilder sb = new StringBuilder();
        for (byte x : b) {
            if (x >= 32 && x < 127) sb.append((char) x);
            else sb.append(String.format("\\x%02x", x & 0xff));
        }
        return sb.toString();
    }
}
