package dev.caskade.server;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static java.nio.charset.StandardCharsets.UTF_8;

import io.netty.buffer.ByteBuf;

/**
 * The two wire encodings of {@link RespReply}, written straight into the connection's outbound buffer.
 */
enum RespProtocol {
    RESP2(2) {
        @Override
        void writeNull(ByteBuf out) {
            out.writeBytes(NULL_BULK);
        }

        @Override
        void writeNullArray(ByteBuf out) {
            out.writeBytes(NULL_ARRAY);
        }

        @Override
        void writeDict(RespReply.Dict dict, ByteBuf out) {
            header(out, '*', dict.flat().size());
            for (RespReply r : dict.flat()) encode(r, out);
        }
    },
    RESP3(3) {
        @Override
        void writeNull(ByteBuf out) {
            out.writeBytes(NULL3);
        }

        @Override
        void writeNullArray(ByteBuf out) {
            out.writeBytes(NULL3);
        }

        @Override
        void writeDict(RespReply.Dict dict, ByteBuf out) {
            header(out, '%', dict.flat().size() / 2);
            for (RespReply r : dict.flat()) encode(r, out);
        }
    };

    private static final byte[] CRLF = {'\r', '\n'};
    private static final byte[] NULL_BULK = "$-1\r\n".getBytes(US_ASCII);
    private static final byte[] NULL_ARRAY = "*-1\r\n".getBytes(US_ASCII);
    private static final byte[] NULL3 = "_\r\n".getBytes(US_ASCII);

    private final int version;

    RespProtocol(int version) {
        this.version = version;
    }

    int version() {
        return version;
    }

    abstract void writeNull(ByteBuf out);

    abstract void writeNullArray(ByteBuf out);

    abstract void writeDict(RespReply.Dict dict, ByteBuf out);

    /** Appends {@code reply} to {@code out}. */
    final void encode(RespReply reply, ByteBuf out) {
        switch (reply) {
            case RespReply.Simple s -> line(out, '+', s.text());
            case RespReply.Err e -> line(out, '-', e.text());
            case RespReply.Int i -> line(out, ':', Long.toString(i.value()));
            case RespReply.Bulk b -> {
                header(out, '$', b.bytes().length);
                out.writeBytes(b.bytes());
                out.writeBytes(CRLF);
            }
            case RespReply.Null n -> writeNull(out);
            case RespReply.NullArray n -> writeNullArray(out);
            case RespReply.Array a -> {
                header(out, '*', a.items().size());
                for (RespReply r : a.items()) encode(r, out);
            }
            case RespReply.Dict d -> writeDict(d, out);
            case RespReply.Push p -> {
                header(out, version == 3 ? '>' : '*', p.items().size());
                for (RespReply r : p.items()) encode(r, out);
            }
            case RespReply.Sent s -> {
                // written already
            }
        }
    }

    static void header(ByteBuf out, char type, long length) {
        out.writeByte(type);
        out.writeCharSequence(Long.toString(length), US_ASCII);
        out.writeBytes(CRLF);
    }

    /** A status or error line; CR and LF would break the framing, so they become spaces. */
    private static void line(ByteBuf out, char type, String text) {
        out.writeByte(type);
        out.writeCharSequence(text.replace('\r', ' ').replace('\n', ' '), UTF_8);
        out.writeBytes(CRLF);
    }
}
