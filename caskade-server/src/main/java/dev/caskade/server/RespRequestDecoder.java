package dev.caskade.server;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.DecoderException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Turns the bytes a client sends into commands: each one a {@code List<byte[]>} of its arguments. Clients send
 * arrays of bulk strings ({@code *2\r\n$3\r\nGET\r\n$1\r\nk\r\n}); people at a telnet prompt send inline lines
 * ({@code GET k\r\n}). Both are parsed in one pass straight into the argument arrays: Netty's general RESP
 * decoder made several objects and a composite buffer per argument, which was most of the CPU of a GET.
 *
 * <p>Limits and errors follow Redis: a bulk longer than {@code proto-max-bulk-len} or an array of more than
 * 1,048,576 arguments is refused before anything is buffered, a header line or inline command longer than 64 KiB
 * is refused, and after a protocol error nothing more is decoded (the connection is closed by the handler).
 * State survives between reads, so a large argument arriving in many packets is parsed once.
 */
final class RespRequestDecoder extends ByteToMessageDecoder {
    /** Redis's PROTO_INLINE_MAX_SIZE: the longest header line or inline command. */
    static final int MAX_LINE = 64 * 1024;

    /** Redis refuses more arguments than this in one command too. */
    static final int MAX_ARGUMENTS = 1024 * 1024;

    /** A request the stream cannot be resynchronised after. */
    static final class ProtocolException extends DecoderException {
        private static final long serialVersionUID = 1L;

        ProtocolException(String message) {
            super(message);
        }
    }

    private final long maxBulkBytes;

    /** The command being read, or null between commands. */
    private List<byte[]> args;

    private int remaining;
    /** Length of the bulk whose header was read, or -1 when the next thing is a header. */
    private int bulkLength = -1;

    private boolean failed;

    RespRequestDecoder(long maxBulkBytes) {
        this.maxBulkBytes = maxBulkBytes;
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        if (failed) {
            in.skipBytes(in.readableBytes());
            return;
        }
        try {
            while (in.isReadable()) {
                if (args == null && !startCommand(in, out)) return;
                if (args == null) continue; // an inline command, or an empty one
                if (!readArguments(in)) return;
                out.add(args);
                args = null;
            }
        } catch (ProtocolException e) {
            failed = true;
            in.skipBytes(in.readableBytes());
            throw e;
        }
    }

    /** Reads an array header or a whole inline command; false when more bytes are needed. */
    private boolean startCommand(ByteBuf in, List<Object> out) {
        int start = in.readerIndex();
        int eol = in.indexOf(start, in.writerIndex(), (byte) '\n');
        if (in.getByte(start) != '*') {
            if (eol < 0) {
                if (in.readableBytes() > MAX_LINE) throw new ProtocolException("too big inline request");
                return false;
            }
            List<byte[]> inline = splitInline(in, start, eol);
            in.readerIndex(eol + 1);
            if (!inline.isEmpty()) out.add(inline);
            return true;
        }
        if (eol < 0) {
            if (in.readableBytes() > MAX_LINE) throw new ProtocolException("too big mbulk count string");
            return false;
        }
        long n = parseLength(in, start + 1, eol, "invalid multibulk length");
        in.readerIndex(eol + 1);
        if (n > MAX_ARGUMENTS) throw new ProtocolException("invalid multibulk length");
        if (n <= 0) return true; // "*0" and "*-1" are empty commands, ignored as Redis does
        args = new ArrayList<>((int) n);
        remaining = (int) n;
        return true;
    }

    /** Reads bulk strings of the current array; false when more bytes are needed. */
    private boolean readArguments(ByteBuf in) {
        while (remaining > 0) {
            if (bulkLength < 0) {
                if (!in.isReadable()) return false;
                int start = in.readerIndex();
                byte type = in.getByte(start);
                if (type != '$') {
                    throw new ProtocolException("expected '$', got '" + printable(type) + "'");
                }
                int eol = in.indexOf(start, in.writerIndex(), (byte) '\n');
                if (eol < 0) {
                    if (in.readableBytes() > MAX_LINE) throw new ProtocolException("too big bulk count string");
                    return false;
                }
                long len = parseLength(in, start + 1, eol, "invalid bulk length");
                if (len < 0 || len > maxBulkBytes) throw new ProtocolException("invalid bulk length");
                in.readerIndex(eol + 1);
                bulkLength = (int) len;
            }
            if (in.readableBytes() < bulkLength + 2L) return false;
            byte[] arg = new byte[bulkLength];
            in.readBytes(arg);
            if (in.readByte() != '\r' || in.readByte() != '\n') {
                throw new ProtocolException("expected CRLF after a bulk string");
            }
            args.add(arg);
            remaining--;
            bulkLength = -1;
        }
        return true;
    }

    /** The decimal number between {@code from} and the CRLF ending at {@code eol}. */
    private static long parseLength(ByteBuf in, int from, int eol, String error) {
        int end = eol;
        if (end <= from || in.getByte(end - 1) != '\r') throw new ProtocolException(error);
        end--;
        boolean negative = in.getByte(from) == '-';
        int i = negative ? from + 1 : from;
        if (i == end || end - i > 18) throw new ProtocolException(error);
        long v = 0;
        for (; i < end; i++) {
            byte b = in.getByte(i);
            if (b < '0' || b > '9') throw new ProtocolException(error);
            v = v * 10 + (b - '0');
        }
        return negative ? -v : v;
    }

    /** An inline command's words, split on spaces and tabs; a trailing CR is dropped. */
    private static List<byte[]> splitInline(ByteBuf in, int start, int eol) {
        List<byte[]> words = new ArrayList<>();
        int i = start;
        while (i < eol) {
            while (i < eol && isSpace(in.getByte(i))) i++;
            int from = i;
            while (i < eol && !isSpace(in.getByte(i))) i++;
            if (i > from) {
                byte[] w = new byte[i - from];
                in.getBytes(from, w);
                words.add(w);
            }
        }
        return words;
    }

    private static boolean isSpace(byte b) {
        return b == ' ' || b == '\t' || b == '\r';
    }

    private static String printable(byte b) {
        return b >= 0x20 && b < 0x7f
                ? new String(new byte[] {b}, StandardCharsets.US_ASCII)
                : String.format("\\x%02x", b & 0xff);
    }
}
