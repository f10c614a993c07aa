package dev.caskade.s3;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Properties;
import org.gaul.s3proxy.AuthenticationType;
import org.gaul.s3proxy.S3Proxy;
import org.jclouds.ContextBuilder;
import org.jclouds.blobstore.BlobStoreContext;

/**
 * S3Proxy in this JVM on 127.0.0.1: a real S3 API over HTTP for tests. With a data directory it uses the filesystem
 * provider, so {@link #stop()} and {@link #restart()} keep the port and every object; without one it keeps objects
 * in memory (lost on stop).
 *
 * <pre>{@code
 * try (S3ProxyFixture s3 = S3ProxyFixture.start(tempDir)) {
 *     s3.createBucket("caskade-test");
 *     try (ObjectStore store = S3Store.open("caskade-test", "prefix", s3.options())) { ... }
 * }
 * }</pre>
 */
public final class S3ProxyFixture implements AutoCloseable {
    public static final String ACCESS_KEY = "caskade-access";
    public static final String SECRET_KEY = "caskade-secret";

    private final Path dataDir;
    private final boolean lenient;
    private int port;
    private BlobStoreContext context;
    private S3Proxy proxy;

    private S3ProxyFixture(Path dataDir, boolean lenient) {
        this.dataDir = dataDir;
        this.lenient = lenient;
    }

    /** Starts S3Proxy on a free port, objects as files under {@code dataDir} (survive {@link #restart()}). */
    public static S3ProxyFixture start(Path dataDir) {
        return start(dataDir, false);
    }

    /**
     * Starts S3Proxy on a free port, objects as files under {@code dataDir}. {@code lenient}: ignore request headers
     * it does not know (by default it answers 501, e.g. to the SDK's {@code x-amz-checksum-crc32} on DeleteObjects).
     */
    public static S3ProxyFixture start(Path dataDir, boolean lenient) {
        var f = new S3ProxyFixture(dataDir, lenient);
        f.launch(0);
        return f;
    }

    /** Starts S3Proxy on a free port with objects in memory. */
    public static S3ProxyFixture startInMemory() {
        var f = new S3ProxyFixture(null, false);
        f.launch(0);
        return f;
    }

    private void launch(int wantedPort) {
        Properties props = new Properties();
        ContextBuilder builder;
        if (dataDir != null) {
            props.setProperty("jclouds.filesystem.basedir", dataDir.toString());
            builder = ContextBuilder.newBuilder("filesystem");
        } else {
            builder = ContextBuilder.newBuilder("transient");
        }
        context = builder.credentials(ACCESS_KEY, SECRET_KEY).overrides(props).build(BlobStoreContext.class);
        proxy = S3Proxy.builder()
                .blobStore(context.getBlobStore())
                .endpoint(URI.create("http://127.0.0.1:" + wantedPort))
                .awsAuthentication(AuthenticationType.AWS_V2_OR_V4, ACCESS_KEY, SECRET_KEY)
                .ignoreUnknownHeaders(lenient)
                .build();
        try {
            proxy.start();
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (!proxy.getState().equals("STARTED")) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("S3Proxy did not start within 20 s: " + proxy.getState());
                }
                Thread.sleep(10);
            }
        } catch (Exception e) {
            context.close();
            throw new IllegalStateException("cannot start S3Proxy on port " + wantedPort, e);
        }
        port = proxy.getPort();
    }

    /** The port (the same across restarts). */
    public int port() {
        return port;
    }

    /** {@code http://127.0.0.1:port}. */
    public URI endpoint() {
        return URI.create("http://127.0.0.1:" + port);
    }

    /** Options to reach this S3Proxy directly. */
    public S3Options options() {
        return options(endpoint());
    }

    /** Options to reach this S3Proxy through another endpoint (a {@link FaultProxy}), with short timeouts. */
    public static S3Options options(URI endpoint) {
        return S3Options.forEndpoint(endpoint)
                .withCredentials(ACCESS_KEY, SECRET_KEY)
                .withTimeouts(Duration.ofSeconds(2), Duration.ofSeconds(5), null);
    }

    /** Creates a bucket (3-63 characters) if it does not exist. */
    public void createBucket(String bucket) {
        context.getBlobStore().createContainerInLocation(null, bucket);
    }

    /** Whether the server is up. */
    public synchronized boolean running() {
        return proxy != null;
    }

    /** Stops the server (the port is free until {@link #restart()}). */
    public synchronized void stop() {
        if (proxy == null) {
            return;
        }
        try {
            proxy.stop();
        } catch (Exception e) {
            throw new IllegalStateException("cannot stop S3Proxy", e);
        } finally {
            proxy = null;
            context.close();
        }
    }

    /** Starts the server again on the same port; with a data directory every object is still there. */
    public synchronized void restart() {
        stop();
        launch(port);
    }

    @Override
    public void close() {
        stop();
    }
}
