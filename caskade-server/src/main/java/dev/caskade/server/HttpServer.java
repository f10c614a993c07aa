package dev.caskade.server;

import dev.caskade.Caskade;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.net.InetSocketAddress;
import java.util.Objects;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The HTTP/JSON API v1 in front of one {@link Caskade}: key-value reads and writes, transactions, a digest,
 * status and health, and live {@code text/event-stream} watches. Built on Netty (epoll when available);
 * requests are served on virtual threads so that waiting for an fsync never blocks the event loop.
 *
 * <pre>{@code
 * try (HttpServer http = HttpServer.start(db, HttpOptions.defaults().withAddress("127.0.0.1", 0))) {
 *     System.out.println("HTTP on " + http.port());
 * }
 * }</pre>
 *
 * Closing the server does not close the store.
 */
public final class HttpServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(HttpServer.class);
    private static final int MAX_LINE = 64 * 1024;

    private final EventLoopGroup boss;
    private final EventLoopGroup workers;
    private final ExecutorService requests;
    private final ChannelGroup connections;
    private final Channel listener;
    private final HttpApi api;
    private final AtomicBoolean closed = new AtomicBoolean();

    private HttpServer(
            EventLoopGroup boss,
            EventLoopGroup workers,
            ExecutorService requests,
            ChannelGroup connections,
            Channel listener,
            HttpApi api) {
        this.boss = boss;
        this.workers = workers;
        this.requests = requests;
        this.connections = connections;
        this.listener = listener;
        this.api = api;
    }

    /** Binds {@code options.bind()}:{@code options.port()} and starts serving {@code db}. */
    public static HttpServer start(Caskade db, HttpOptions options) {
        return start(db, options, Users.NONE, null);
    }

    /**
     * Binds and starts serving {@code db} to {@code users} (with none, every request may do everything), over
     * TLS (HTTPS) when {@code tls} is not null.
     *
     * @throws IllegalArgumentException when the TLS files cannot be used
     */
    public static HttpServer start(Caskade db, HttpOptions options, Users users, Tls tls) {
        Objects.requireNonNull(db, "db");
        Objects.requireNonNull(options, "options");
        Objects.requireNonNull(users, "users");
        SslContext ssl = tls == null ? null : tls.context();
        boolean epoll = Epoll.isAvailable();
        IoHandlerFactory io = epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
        Class<? extends ServerChannel> channelType =
                epoll ? EpollServerSocketChannel.class : NioServerSocketChannel.class;
        EventLoopGroup boss = new MultiThreadIoEventLoopGroup(1, io);
        EventLoopGroup workers = new MultiThreadIoEventLoopGroup(0, io);
        ExecutorService requests = Executors.newThreadPerTaskExecutor(
                Thread.ofVirtual().name("caskade-http-", 0).factory());
        ChannelGroup connections = new DefaultChannelGroup("caskade-http", GlobalEventExecutor.INSTANCE);
        Metrics metrics = new Metrics(db);
        HttpApi api = new HttpApi(db, metrics, users);
        HttpDecoderConfig decoder =
                new HttpDecoderConfig().setMaxInitialLineLength(MAX_LINE).setMaxHeaderSize(MAX_LINE);
        ChannelFuture bound = new ServerBootstrap()
                .group(boss, workers)
                .channel(channelType)
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        connections.add(ch);
                        if (ssl != null) ch.pipeline().addLast(ssl.newHandler(ch.alloc()));
                        ch.pipeline()
                                .addLast(new HttpRequestDeadline(options.headerTimeout()))
                                .addLast(new IdleStateHandler(
                                        0, 0, options.idleTimeout().toMillis(), TimeUnit.MILLISECONDS))
                                .addLast(new HttpServerCodec(decoder))
                                .addLast(new HttpRequestAggregator(options.maxRequestBytes()))
                                .addLast(new HttpConnection(db, api, options, requests));
                    }
                })
                .bind(new InetSocketAddress(options.bind(), options.port()))
                .awaitUninterruptibly();
        if (!bound.isSuccess()) {
            boss.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
            workers.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
            requests.shutdownNow();
            throw new IllegalStateException(
                    "cannot listen for HTTP on " + options.bind() + ":" + options.port() + ": "
                            + bound.cause().getMessage(),
                    bound.cause());
        }
        Channel listener = bound.channel();
        log.info(
                "HTTP{} listening on {} ({})",
                ssl != null ? "S" : "",
                listener.localAddress(),
                epoll ? "epoll" : "nio");
        return new HttpServer(boss, workers, requests, connections, listener, api);
    }

    /** The metrics served at /metrics, for the other listeners of the same server to add to. */
    Metrics metrics() {
        return api.metrics();
    }

    /** Reports where a served copy comes from in /v1/status and /metrics. */
    void role(java.util.function.Supplier<Role> status) {
        api.role(status);
        api.metrics().bind(status);
    }

    /** Reports on {@code replication}'s destinations in /v1/status, /metrics and /readyz. */
    void attach(Replication replication) {
        api.attach(replication);
        api.metrics().bind(replication);
    }

    /** The port the server listens on (the chosen one when started with port 0). */
    public int port() {
        return ((InetSocketAddress) listener.localAddress()).getPort();
    }

    /**
     * Stops gracefully: stops accepting, lets requests in flight finish (up to 5 s), then closes every
     * connection, which ends the event streams and their watches. The store stays open. Idempotent.
     */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) return;
        api.notReady();
        listener.close().awaitUninterruptibly();
        requests.shutdown();
        try {
            if (!requests.awaitTermination(5, TimeUnit.SECONDS)) requests.shutdownNow();
        } catch (InterruptedException e) {
            requests.shutdownNow();
            Thread.currentThread().interrupt();
        }
        connections.close().awaitUninterruptibly();
        boss.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        workers.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
