package dev.caskade.bench;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.LongAdder;

/**
 * Many Server-Sent Events subscribers in one process, on a few Netty event-loop threads, so that the client is not
 * what limits the fan-out. A subscriber does not decode HTTP or JSON: it scans the raw bytes of its stream for the
 * benchmark's marker {@code @<seq>#} in each commit's value (a byte that no header, chunk size or JSON key holds),
 * looks up when that commit's write was sent, and records the difference in its thread's histogram. It also checks
 * that it sees every sequence number once, in order.
 */
final class SseSubscribers implements AutoCloseable {
    private final EventLoopGroup group;
    private final Class<? extends SocketChannel> channelType;
    private final InetSocketAddress server;
    private final String request;
    private final List<Subscriber> subscribers = new ArrayList<>();
    private final Map<Thread, LatencyHistogram> histograms = new ConcurrentHashMap<>();
    /** Send time of sequence number i, by the writer; 0 = not (yet) sent. */
    private volatile AtomicLongArray sentAt = new AtomicLongArray(0);
    /** Sequence numbers below this are warm-up: delivered and checked, not timed. */
    private volatile long timedFrom = Long.MAX_VALUE;

    final LongAdder delivered = new LongAdder();
    final LongAdder timed = new LongAdder();

    SseSubscribers(InetSocketAddress server, String path, int threads) {
        boolean epoll = Epoll.isAvailable();
        IoHandlerFactory io = epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
        this.group = new MultiThreadIoEventLoopGroup(threads, io);
        this.channelType = epoll ? EpollSocketChannel.class : NioSocketChannel.class;
        this.server = server;
        this.request = "GET " + path + " HTTP/1.1\r\nHost: " + server.getHostString() + ":" + server.getPort()
                + "\r\nAccept: text/event-stream\r\n\r\n";
    }

    /** Starts timing: the writer fills {@code sentAt}; deliveries of sequence numbers >= {@code from} are timed. */
    void time(AtomicLongArray sentAt, long from) {
        this.sentAt = sentAt;
        this.timedFrom = from;
    }

    int size() {
        return subscribers.size();
    }

    /** Opens {@code n} more subscribers, {@code batch} at a time, each waiting for its {@code 200} head. */
    void open(int n, int batch, long timeoutMillis) throws InterruptedException {
        Bootstrap b = new Bootstrap()
                .group(group)
                .channel(channelType)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 10_000);
        for (int done = 0; done < n; ) {
            int k = Math.min(batch, n - done);
            CountDownLatch heads = new CountDownLatch(k);
            List<Subscriber> opened = new ArrayList<>();
            for (int i = 0; i < k; i++) {
                Subscriber s = new Subscriber(heads);
                opened.add(s);
                ChannelFuture f = b.clone()
                        .handler(new ChannelInitializer<SocketChannel>() {
                            @Override
                            protected void initChannel(SocketChannel ch) {
                                ch.pipeline().addLast(s);
                            }
                        })
                        .connect(server);
                s.channel = f.channel();
                f.addListener(c -> {
                    if (c.isSuccess()) {
                        s.channel.writeAndFlush(Unpooled.copiedBuffer(request, StandardCharsets.US_ASCII));
                    } else {
                        s.failure = String.valueOf(c.cause());
                        heads.countDown();
                    }
                });
            }
            if (!heads.await(timeoutMillis, TimeUnit.MILLISECONDS)) {
                throw new IllegalStateException("only " + (k - heads.getCount()) + " of " + k
                        + " subscribers got their response head in " + timeoutMillis + " ms");
            }
            for (Subscriber s : opened) {
                if (s.failure != null) throw new IllegalStateException("a subscriber failed: " + s.failure);
            }
            subscribers.addAll(opened);
            done += k;
        }
    }

    /** The latencies of every timed delivery so far, merged over the event-loop threads. */
    LatencyHistogram latencies() throws InterruptedException {
        // read on the event loops themselves, so nothing is recorded while a histogram is being added up
        LatencyHistogram all = new LatencyHistogram();
        for (var loop : group) {
            loop.submit(() -> {
                        LatencyHistogram h = histograms.get(Thread.currentThread());
                        if (h != null) {
                            synchronized (all) {
                                all.add(h);
                            }
                        }
                    })
                    .await(10, TimeUnit.SECONDS);
        }
        synchronized (all) {
            return all;
        }
    }

    /** Commits from {@code first} to {@code last} (inclusive) that subscribers have not seen (yet). */
    long missing(long first, long last) {
        long m = 0;
        for (Subscriber s : subscribers) {
            long next = Math.max(s.next, first);
            if (next <= last) m += last - next + 1;
            m += s.gaps;
        }
        return m;
    }

    long outOfOrder() {
        long n = 0;
        for (Subscriber s : subscribers) n += s.outOfOrder;
        return n;
    }

    long overflows() {
        long n = 0;
        for (Subscriber s : subscribers) n += s.overflows;
        return n;
    }

    long closedByServer() {
        long n = 0;
        for (Subscriber s : subscribers) if (s.closed && !s.closing) n++;
        return n;
    }

    /** Closes every subscriber's connection; returns once they are closed. */
    void closeAll() {
        List<ChannelFuture> fs = new ArrayList<>();
        for (Subscriber s : subscribers) {
            s.closing = true;
            fs.add(s.channel.close());
        }
        for (ChannelFuture f : fs) f.awaitUninterruptibly(10, TimeUnit.SECONDS);
        subscribers.clear();
    }

    @Override
    public void close() {
        closeAll();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(10, TimeUnit.SECONDS);
    }

    /** One connection. All its fields but the flags are touched only by its event loop. */
    private final class Subscriber extends ChannelInboundHandlerAdapter {
        private static final byte[] HEAD = "HTTP/1.1 200".getBytes(StandardCharsets.US_ASCII);
        private static final byte[] OVERFLOW = "overflow".getBytes(StandardCharsets.US_ASCII);

        private final CountDownLatch heads;
        volatile Channel channel;
        volatile String failure;
        volatile boolean closing;
        volatile boolean closed;
        private int headMatched;
        private boolean headDone;
        private boolean inMarker;
        private long number;
        private int overflowMatched;
        /** The next sequence number this subscriber expects. */
        volatile long next;

        volatile long gaps;
        volatile long outOfOrder;
        volatile long overflows;
        private LatencyHistogram histogram;

        Subscriber(CountDownLatch heads) {
            this.heads = heads;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf buf = (ByteBuf) msg;
            try {
                long now = System.nanoTime();
                if (histogram == null)
                    histogram = histograms.computeIfAbsent(Thread.currentThread(), t -> new LatencyHistogram());
                int end = buf.writerIndex();
                for (int i = buf.readerIndex(); i < end; i++) {
                    byte c = buf.getByte(i);
                    if (!headDone) {
                        if (c == HEAD[headMatched]) {
                            if (++headMatched == HEAD.length) {
                                headDone = true;
                                heads.countDown();
                            }
                        } else {
                            failure = "not a 200 response";
                            headDone = true;
                            heads.countDown();
                        }
                        continue;
                    }
                    if (inMarker) {
                        if (c >= '0' && c <= '9') {
                            number = number * 10 + (c - '0');
                            continue;
                        }
                        inMarker = false;
                        if (c == '#') delivery(number, now);
                    } else if (c == '@') {
                        inMarker = true;
                        number = 0;
                    }
                    if (c == OVERFLOW[overflowMatched]) {
                        if (++overflowMatched == OVERFLOW.length) {
                            overflows++;
                            overflowMatched = 0;
                        }
                    } else {
                        overflowMatched = c == OVERFLOW[0] ? 1 : 0;
                    }
                }
            } finally {
                buf.release();
            }
        }

        private void delivery(long seq, long now) {
            delivered.increment();
            long n = next;
            if (seq == n) {
                next = n + 1;
            } else if (seq > n) {
                gaps += seq - n;
                next = seq + 1;
            } else {
                outOfOrder++;
            }
            if (seq >= timedFrom) {
                AtomicLongArray sent = sentAt;
                long at = seq < sent.length() ? sent.get((int) seq) : 0;
                if (at != 0) {
                    histogram.record(now - at);
                    timed.increment();
                }
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            closed = true;
            if (!headDone) {
                failure = "closed before the response head";
                heads.countDown();
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            failure = String.valueOf(cause);
            ctx.close();
        }
    }
}
