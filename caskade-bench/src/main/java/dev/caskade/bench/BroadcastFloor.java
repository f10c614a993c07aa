package dev.caskade.bench;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.LineBasedFrameDecoder;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The floor under {@code FanoutBench}: not a database, only the cheapest server for the same wire traffic, to tell
 * what the machine (kernel, loopback TCP, the benchmark's own client) costs from what Caskade adds. It speaks just
 * enough of both protocols: {@code GET} on the HTTP port gets an event-stream head and is added to its event loop's
 * subscriber list; each {@code SET} on the Redis port is turned into the same {@code commit} event Caskade would send
 * (same bytes, in one chunk), encoded once, written to every subscriber by one task per event loop, then answered
 * {@code +OK}. No store, no watch threads, no per-subscriber encoding. Run as a separate process like the server:
 * {@code BroadcastFloor <dir>} writes {@code dir/serve.json} and prints a {@code floor serving} line.
 */
public final class BroadcastFloor {
    private static final byte[] HEAD = ("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
                    + "cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n")
            .getBytes(StandardCharsets.US_ASCII);

    private final Map<EventLoop, List<Channel>> subscribers = new ConcurrentHashMap<>();
    private long revision;

    private BroadcastFloor() {}

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        Files.createDirectories(dir);
        BroadcastFloor floor = new BroadcastFloor();
        EventLoopGroup boss = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        EventLoopGroup workers = new MultiThreadIoEventLoopGroup(0, EpollIoHandler.newFactory());
        Channel http = new ServerBootstrap()
                .group(boss, workers)
                .channel(EpollServerSocketChannel.class)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(floor.new Subscriber());
                    }
                })
                .bind(new InetSocketAddress("127.0.0.1", 0))
                .sync()
                .channel();
        Channel resp = new ServerBootstrap()
                .group(boss, workers)
                .channel(EpollServerSocketChannel.class)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline()
                                .addLast(new LineBasedFrameDecoder(1 << 20))
                                .addLast(floor.new Writer());
                    }
                })
                .bind(new InetSocketAddress("127.0.0.1", 0))
                .sync()
                .channel();
        int httpPort = ((InetSocketAddress) http.localAddress()).getPort();
        int respPort = ((InetSocketAddress) resp.localAddress()).getPort();
        Files.writeString(
                dir.resolve("serve.json"),
                "{\"pid\":" + ProcessHandle.current().pid() + ",\"respPort\":" + respPort + ",\"httpPort\":" + httpPort
                        + "}");
        System.out.println("floor serving: redis " + respPort + ", http " + httpPort);
        System.out.flush();
        http.closeFuture().sync();
    }

    /** An event stream: sends the head after the request, then only receives broadcasts. */
    private final class Subscriber extends ChannelInboundHandlerAdapter {
        private boolean subscribed;

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ((ByteBuf) msg).release(); // the request's content does not matter
            if (subscribed) return;
            subscribed = true;
            ctx.writeAndFlush(Unpooled.wrappedBuffer(HEAD));
            EventLoop loop = ctx.channel().eventLoop();
            subscribers.computeIfAbsent(loop, l -> new ArrayList<>()).add(ctx.channel()); // list used on loop only
            ctx.channel().closeFuture().addListener(f -> subscribers.get(loop).remove(ctx.channel()));
        }
    }

    /** Reads SET commands line by line; the seventh line of each is the value. */
    private final class Writer extends ChannelInboundHandlerAdapter {
        private int line;

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf frame = (ByteBuf) msg;
            try {
                if (++line < 7) return;
                line = 0;
                String value = frame.toString(StandardCharsets.UTF_8);
                broadcast(value);
                ctx.writeAndFlush(Unpooled.wrappedBuffer("+OK\r\n".getBytes(StandardCharsets.US_ASCII)));
            } finally {
                frame.release();
            }
        }
    }

    private synchronized void broadcast(String value) {
        long rev = ++revision;
        String data = "{\"revision\":" + rev + ",\"timestamp\":" + System.currentTimeMillis()
                + ",\"changes\":[{\"type\":\"put\",\"key\":\"fan/k" + (rev % 100) + "\",\"value\":\"" + value
                + "\"}]}";
        String event = "id: " + rev + "\nevent: commit\ndata: " + data + "\n\n";
        byte[] body = event.getBytes(StandardCharsets.UTF_8);
        ByteBuf chunk = Unpooled.copiedBuffer(
                Unpooled.wrappedBuffer(Integer.toHexString(body.length).getBytes(StandardCharsets.US_ASCII)),
                Unpooled.wrappedBuffer(new byte[] {'\r', '\n'}),
                Unpooled.wrappedBuffer(body),
                Unpooled.wrappedBuffer(new byte[] {'\r', '\n'}));
        for (Map.Entry<EventLoop, List<Channel>> e : subscribers.entrySet()) {
            ByteBuf mine = chunk.retainedDuplicate();
            e.getKey().execute(() -> {
                try {
                    for (Channel ch : e.getValue()) ch.writeAndFlush(mine.retainedDuplicate());
                } finally {
                    mine.release();
                }
            });
        }
        chunk.release();
    }
}
