package dev.caskade.server;

import dev.caskade.Caskade;
import dev.caskade.Durability;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPipeline;
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
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.redis.RedisArrayAggregator;
import io.netty.handler.codec.redis.RedisBulkStringAggregator;
import io.netty.handler.codec.redis.RedisDecoder;
import io.netty.handler.codec.redis.RedisEncoder;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.net.InetSocketAddress;
import java.util.Collection;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A Redis-protocol (RESP2 and RESP3) server in front of a {@link Caskade}, so redis-cli, redis-benchmark and
 * Redis client libraries work against it unmodified.
 *
 * <pre>{@code
 * try (RespServer server = RespServer.start(db, RespOptions.defaults().withPort(0))) {
 *     int port = server.port();
 * }
 * }</pre>
 *
 * <p>Closing the server does not close the store.
 */
public final class RespServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(RespServer.class);

    /** The Redis version clients are told, for the ones that gate features on it. */
    static final String REDIS_VERSION = "7.2.0";

    /** The pipeline name of a connection's idle timer, which CONFIG SET timeout replaces. */
    private static final String IDLE = "idle";

    static final String VERSION =
            Objects.requireNonNullElse(RespServer.class.getPackage().getImplementationVersion(), "dev");

    /** Replaced by CONFIG SET; read afresh for every new connection and every check. */
    private volatile RespOptions options;

    private final EventLoopGroup boss;
    private final EventLoopGroup workers;
    private final ChannelGroup channels = new DefaultChannelGroup(GlobalEventExecutor.INSTANCE);
    private final Map<Long, RespSession> sessions = new ConcurrentHashMap<>();
    private final Map<Long, Channel> channelsById = new ConcurrentHashMap<>();
    private final AtomicLong nextClientId = new AtomicLong();
    private final AtomicLong totalConnections = new AtomicLong();
    private final AtomicLong totalCommands = new AtomicLong();
    private final AtomicLong rejectedConnections = new AtomicLong();
    private final long startedAt = System.currentTimeMillis();
    /** Non-null under SYNC durability: commits wait for fsync there instead of on an event loop. */
    private ExecutorService commitThreads;

    private Channel serverChannel;
    private RespCommands commands;

    private RespServer(RespOptions options) {
        this.options = options;
        IoHandlerFactory io = Epoll.isAvailable() ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
        this.boss = new MultiThreadIoEventLoopGroup(1, io);
        this.workers = new MultiThreadIoEventLoopGroup(0, io);
    }

    /**
     * Binds and starts serving {@code db}.
     *
     * @throws IllegalStateException when the address cannot be bound
     */
    public static RespServer start(Caskade db, RespOptions options) {
        Objects.requireNonNull(db, "db");
        Objects.requireNonNull(options, "options");
        RespServer server = new RespServer(options);
        try {
            server.bind(db);
        } catch (RuntimeException | InterruptedException e) {
            server.close();
            if (e instanceof InterruptedException) Thread.currentThread().interrupt();
            throw new IllegalStateException(
                    "cannot serve RESP on " + options.bindAddress() + ":" + options.port() + ": " + e.getMessage(), e);
        }
        return server;
    }

    private void bind(Caskade db) throws InterruptedException {
        commands = new RespCommands(db, this);
        if (db.options().durability() instanceof Durability.Sync) {
            commitThreads = Executors.newVirtualThreadPerTaskExecutor();
        }
        Class<? extends ServerChannel> type =
                Epoll.isAvailable() ? EpollServerSocketChannel.class : NioServerSocketChannel.class;
        ServerBootstrap bootstrap = new ServerBootstrap()
                .group(boss, workers)
                .channel(type)
                .option(ChannelOption.SO_BACKLOG, 1024)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        channels.add(ch);
                        ChannelPipeline p = ch.pipeline();
                        if (!options.idleTimeout().isZero()) {
                            p.addLast(
                                    IDLE,
                                    new IdleStateHandler(
                                            0, 0, options.idleTimeout().toMillis(), TimeUnit.MILLISECONDS));
                        }
                        p.addLast(new RedisDecoder(true));
                        p.addLast(new RespFrameGuard(options.maxRequestBytes()));
                        p.addLast(new RedisBulkStringAggregator());
                        p.addLast(new RedisArrayAggregator(
                                (int) RespFrameGuard.MAX_ARRAY_LENGTH, RespFrameGuard.MAX_ARRAY_DEPTH));
                        p.addLast(new RedisEncoder());
                        p.addLast(new RespHandler(RespServer.this, commands, commitThreads));
                    }
                });
        serverChannel = bootstrap
                .bind(new InetSocketAddress(options.bindAddress(), options.port()))
                .sync()
                .channel();
        LOG.info("RESP listening on {}:{} ({})", options.bindAddress(), port(), Epoll.isAvailable() ? "epoll" : "nio");
    }

    /** The bound port (the chosen one when the options asked for port 0). */
    public int port() {
        return ((InetSocketAddress) serverChannel.localAddress()).getPort();
    }

    /** The options in force: those it was started with, as changed since by CONFIG SET. */
    public RespOptions options() {
        return options;
    }

    /** CONFIG SET: new connections get the new options; a new idle timeout applies to every connection at once. */
    synchronized void reconfigure(UnaryOperator<RespOptions> change) {
        RespOptions before = options;
        RespOptions after = change.apply(before);
        options = after;
        if (after.idleTimeout().equals(before.idleTimeout())) return;
        long millis = after.idleTimeout().toMillis();
        for (Channel ch : channels) {
            ch.eventLoop().execute(() -> {
                ChannelPipeline p = ch.pipeline();
                if (p.get(IDLE) != null) p.remove(IDLE);
                if (millis > 0 && ch.isActive())
                    p.addFirst(IDLE, new IdleStateHandler(0, 0, millis, TimeUnit.MILLISECONDS));
            });
        }
    }

    /** Stops accepting, closes every connection and stops the event loops; the store stays open. */
    @Override
    public void close() {
        if (serverChannel != null) serverChannel.close().syncUninterruptibly();
        channels.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
        if (commands != null) commands.close();
        boss.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        workers.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        if (commitThreads != null) {
            // let in-flight commits finish: interrupting a thread in FileChannel I/O would close the store's file
            commitThreads.shutdown();
            try {
                if (!commitThreads.awaitTermination(10, TimeUnit.SECONDS))
                    LOG.warn("RESP commits still running at close");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** A new session for a connection, or null when maxClients are already connected. */
    RespSession register(Channel ch) {
        totalConnections.incrementAndGet();
        if (sessions.size() >= options.maxClients()) {
            rejectedConnections.incrementAndGet();
            return null;
        }
        RespSession s = new RespSession(
                nextClientId.incrementAndGet(),
                address(ch.remoteAddress()),
                address(ch.localAddress()),
                System.currentTimeMillis());
        sessions.put(s.id, s);
        channelsById.put(s.id, ch);
        return s;
    }

    /** The connection of client {@code id}, or null once it is gone. */
    Channel channel(long id) {
        return channelsById.get(id);
    }

    void unregister(RespSession s) {
        sessions.remove(s.id);
        channelsById.remove(s.id);
    }

    /** CLIENT KILL: closes the connection of client {@code id}; false if there is none. */
    boolean kill(long id) {
        // out of the registry at once, not when the close reaches channelInactive later: a second KILL, or
        // CLIENT LIST, must not see the client any more, and two KILLs must not both count it
        Channel ch = channelsById.remove(id);
        if (ch == null) return false;
        sessions.remove(id);
        // wait (briefly) so the client is gone when KILL replies; on its own loop the close is immediate anyway
        if (ch.eventLoop().inEventLoop()) ch.close();
        else ch.close().awaitUninterruptibly(1, TimeUnit.SECONDS);
        return true;
    }

    private static String address(Object a) {
        return a instanceof InetSocketAddress i
                ? i.getAddress().getHostAddress() + ":" + i.getPort()
                : String.valueOf(a);
    }

    Collection<RespSession> sessions() {
        return sessions.values();
    }

    void countCommand() {
        totalCommands.incrementAndGet();
    }

    long totalCommands() {
        return totalCommands.get();
    }

    long totalConnections() {
        return totalConnections.get();
    }

    long rejectedConnections() {
        return rejectedConnections.get();
    }

    long startedAt() {
        return startedAt;
    }
}
