package dev.caskade.server;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.DecoderException;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The request decoder against a model: whatever way the bytes are split into reads, the same commands come out. */
class RespRequestDecoderTest {

    @Test
    void commandsSurviveEverySplitOfTheStream() {
        long seed = System.nanoTime();
        Random random = new Random(seed);
        for (int round = 0; round < 300; round++) {
            List<List<byte[]>> sent = new ArrayList<>();
            ByteArrayOutputStream wire = new ByteArrayOutputStream();
            int commands = 1 + random.nextInt(8);
            for (int c = 0; c < commands; c++) {
                List<byte[]> args = new ArrayList<>();
                int n = 1 + random.nextInt(5);
                for (int i = 0; i < n; i++) {
                    byte[] a = new byte[random.nextInt(4) == 0 ? random.nextInt(3000) : random.nextInt(12)];
                    random.nextBytes(a); // any bytes, CR and LF included: bulk strings are length-prefixed
                    args.add(a);
                }
                wire.writeBytes(encode(args));
                sent.add(args);
            }
            byte[] bytes = wire.toByteArray();
            EmbeddedChannel ch = new EmbeddedChannel(new RespRequestDecoder(1 << 20));
            for (int pos = 0; pos < bytes.length; ) {
                int len = Math.min(bytes.length - pos, 1 + random.nextInt(random.nextBoolean() ? 3 : 700));
                ch.writeInbound(Unpooled.wrappedBuffer(bytes, pos, len));
                pos += len;
            }
            for (List<byte[]> expected : sent) {
                List<byte[]> got = ch.readInbound();
                assertThat(got).as("seed %d round %d", seed, round).isNotNull();
                assertThat(got).as("seed %d round %d", seed, round).containsExactlyElementsOf(expected);
            }
            assertThat(ch.<Object>readInbound()).as("seed %d", seed).isNull();
            ch.finishAndReleaseAll();
        }
    }

    @Test
    void inlineCommandsAreSplitOnWhitespaceAndEmptyOnesIgnored() {
        EmbeddedChannel ch = new EmbeddedChannel(new RespRequestDecoder(1 << 20));
        ch.writeInbound(Unpooled.copiedBuffer("\r\nSET  k\tv\r\nPING\n*0\r\n*-1\r\nGET k\r\n", UTF_8));
        assertThat(words(ch.readInbound())).containsExactly("SET", "k", "v");
        assertThat(words(ch.readInbound())).containsExactly("PING");
        assertThat(words(ch.readInbound())).containsExactly("GET", "k");
        assertThat(ch.<Object>readInbound()).isNull();
    }

    @Test
    void malformedRequestsAreProtocolErrorsAndNothingAfterIsDecoded() {
        assertError("*2\r\n$3\r\nGET\r\n:1\r\n", "expected '$', got ':'");
        assertError("*1\r\n$-1\r\n", "invalid bulk length");
        assertError("*1\r\n$9\r\n", "invalid bulk length"); // over the 8-byte limit below
        assertError("*x\r\n", "invalid multibulk length");
        assertError("*2000000\r\n", "invalid multibulk length");
        assertError("*1\r\n$3\r\nGETxx", "expected CRLF after a bulk string");
        assertError("*1\n", "invalid multibulk length");
        assertError("*1" + "1".repeat(70_000), "too big mbulk count string");
        assertError("GET " + "k".repeat(70_000), "too big inline request");
    }

    private static void assertError(String input, String message) {
        EmbeddedChannel ch = new EmbeddedChannel(new RespRequestDecoder(8));
        assertThatThrownBy(() -> ch.writeInbound(Unpooled.copiedBuffer(input, UTF_8)))
                .isInstanceOf(DecoderException.class)
                .hasMessageContaining(message);
        // the stream cannot be trusted after an error: a valid command that follows is not decoded
        ch.writeInbound(Unpooled.copiedBuffer("PING\r\n", UTF_8));
        assertThat(ch.<Object>readInbound()).isNull();
        ch.finishAndReleaseAll();
    }

    private static List<String> words(List<byte[]> args) {
        return args.stream().map(a -> new String(a, UTF_8)).toList();
    }

    private static byte[] encode(List<byte[]> args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(("*" + args.size() + "\r\n").getBytes(UTF_8));
        for (byte[] a : args) {
            out.writeBytes(("$" + a.length + "\r\n").getBytes(UTF_8));
            out.writeBytes(a);
            out.writeBytes("\r\n".getBytes(UTF_8));
        }
        return out.toByteArray();
    }
}
