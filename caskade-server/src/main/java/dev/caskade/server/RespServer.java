package dev.caskade.server;

import dev.caskade.Caskade;
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
import io.netty.handler.ssl.SslContext;
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

    private final Users users;
    /** Null for plain TCP. */
    private final SslContext tls;

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
    /** Non-null when there are users: a password check (PBKDF2) must not stall an event loop. */
    private ExecutorService loginThreads;

    private Channel serverChannel;
    private volatile Caskade db;
    private RespCommands commands;
    private volatile Replication replication;
    private volatile java.util.function.Supplier<Role> role;

    private RespServer(RespOptions options, Users users, SslContext tls) {
        this.options = options;
        this.users = users;
        this.tls = tls;
        IoHandlerFactory io = Epoll.isAvailable() ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
        this.boss = new MultiThreadIoEventLoopGroup(1, io);
        // one loop per core: RESP work is short and never blocks, and more loops than cores only add wakeups and
        // context switches (measured: unpipelined GET/SET 5-10% faster than Netty's default of two per core)
        this.workers = new MultiThreadIoEventLoopGroup(Runtime.getRuntime().availableProcessors(), io);
    }

    /**
     * Binds and starts serving {@code db}.
     *
     * @throws IllegalStateException when the address cannot be bound
     */
    public static RespServer start(Caskade db, RespOptions options) {
        return start(db, options, Users.NONE, null);
    }

    /**
     * Binds and starts serving {@code db} to {@code users} (with none, every connection may do everything),
     * over TLS when {@code tls} is not null.
     *
     * @throws IllegalStateException when the address cannot be bound
     * @throws IllegalArgumentException when the TLS files cannot be used
     */
    public static RespServer start(Caskade db, RespOptions options, Users users, Tls tls) {
        Objects.requireNonNull(db, "db");
        Objects.requireNonNull(options, "options");
        Objects.requireNonNull(users, "users");
        RespServer server = new RespServer(options, users, tls == null ? null : tls.context());
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
        this.db = db;
        commands = new RespCommands(db, this, users);
        // logins (slow on purpose) and a follower's writes (a round trip to its primary) run off the event loops
        if (!users.isEmpty() || db.options().upstream() != null)
            loginThreads = Executors.newVirtualThreadPerTaskExecutor();
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
                        if (tls != null) p.addLast(tls.newHandler(ch.alloc()));
                        if (!options.idleTimeout().isZero()) {
                            p.addLast(
                                    IDLE,
                                    new IdleStateHandler(
                                            0, 0, options.idleTimeout().toMillis(), TimeUnit.MILLISECONDS));
                        }
                        p.addLast(new RespRequestDecoder(options.maxRequestBytes()));
                        p.addLast(new RespHandler(RespServer.this, commands, db, loginThreads));
                    }
                });
        serverChannel = bootstrap
                .bind(new InetSocketAddress(options.bindAddress(), options.port()))
                .sync()
                .channel();
        LOG.info(
                "RESP listening on {}:{} ({}{}{})",
                options.bindAddress(),
                port(),
                Epoll.isAvailable() ? "epoll" : "nio",
                tls != null ? ", TLS" : "",
                users.isEmpty() ? "" : ", users: " + users.list().size());
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
        Caskade store = db;
        if (store != null) {
            // replies held for an fsync go out before the connections close: those clients learn their writes landed
            try {
                store.whenDurable(store.revision()).get(5, TimeUnit.SECONDS);
                for (io.netty.util.concurrent.EventExecutor loop : workers) {
                    loop.submit(() -> {}).awaitUninterruptibly(1, TimeUnit.SECONDS);
                }
            } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
                LOG.warn("replies waiting for an fsync were not sent: {}", e.toString());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (IllegalStateException closed) {
                // the store is already closed
            }
        }
        channels.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
        if (commands != null) commands.close();
        boss.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        workers.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        if (loginThreads != null) {
            loginThreads.shutdown();
            try {
                if (!loginThreads.awaitTermination(10, TimeUnit.SECONDS))
                    LOG.warn("RESP logins still running at close");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private final java.util.concurrent.ConcurrentHashMap<io.netty.util.concurrent.EventExecutor, ReplyGate> gates =
            new java.util.concurrent.ConcurrentHashMap<>();

    /** The gate of the event loop {@code loop}, where its connections' replies wait for an fsync. */
    ReplyGate gate(io.netty.util.concurrent.EventExecutor loop) {
        return gates.computeIfAbsent(loop, l -> new ReplyGate(db, l));
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
                System.currentTimeMillis(),
                users.anonymous());
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

    /** Where a served copy comes from, for INFO replication and HELLO; null on a primary. */
    Role role() {
        java.util.function.Supplier<Role> r = role;
        return r == null ? null : r.get();
    }

    void role(java.util.function.Supplier<Role> value) {
        role = value;
    }

    /** The server's shippers, for INFO replication; null when it ships nowhere. */
    Replication replication() {
        return replication;
    }

    /** Reports on {@code value}'s destinations in INFO replication. */
    void attach(Replication value) {
        replication = value;
    }
}
