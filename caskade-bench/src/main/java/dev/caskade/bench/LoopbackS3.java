package dev.caskade.bench;

import dev.caskade.s3.S3Options;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Properties;
import org.gaul.s3proxy.AuthenticationType;
import org.gaul.s3proxy.S3Proxy;
import org.jclouds.ContextBuilder;
import org.jclouds.blobstore.BlobStoreContext;

/**
 * S3Proxy in this JVM on 127.0.0.1 with jclouds' filesystem provider under a directory: the real S3 API over HTTP
 * on loopback, for {@link ReplicationBench}. (The same few lines as the tests' S3ProxyFixture, which is not on this
 * class path.)
 */
final class LoopbackS3 implements AutoCloseable {
    static final String ACCESS_KEY = "caskade-access";
    static final String SECRET_KEY = "caskade-secret";

    private final BlobStoreContext context;
    private final S3Proxy proxy;
    final int port;

    private LoopbackS3(BlobStoreContext context, S3Proxy proxy) {
        this.context = context;
        this.proxy = proxy;
        this.port = proxy.getPort();
    }

    /** Starts S3Proxy on a free port with its objects as files under {@code dataDir}. */
    static LoopbackS3 start(Path dataDir) throws Exception {
        Properties props = new Properties();
        props.setProperty("jclouds.filesystem.basedir", dataDir.toString());
        BlobStoreContext ctx = ContextBuilder.newBuilder("filesystem")
                .credentials(ACCESS_KEY, SECRET_KEY)
                .overrides(props)
                .build(BlobStoreContext.class);
        S3Proxy proxy = S3Proxy.builder()
                .blobStore(ctx.getBlobStore())
                .endpoint(URI.create("http://127.0.0.1:0"))
                .awsAuthentication(AuthenticationType.AWS_V2_OR_V4, ACCESS_KEY, SECRET_KEY)
                // the SDK sends x-amz-checksum-* on DeleteObjects, which S3Proxy otherwise answers with 501
                .ignoreUnknownHeaders(true)
                .build();
        try {
            proxy.start();
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (!proxy.getState().equals("STARTED")) {
                if (System.nanoTime() > deadline) throw new IllegalStateException("S3Proxy did not start in 20 s");
                Thread.sleep(10);
            }
        } catch (Exception e) {
            ctx.close();
            throw e;
        }
        return new LoopbackS3(ctx, proxy);
    }

    void createBucket(String bucket) {
        context.getBlobStore().createContainerInLocation(null, bucket);
    }

    /** Options to reach this server: path style, static credentials, generous timeouts (1 GiB snapshots). */
    S3Options options() {
        return S3Options.forEndpoint(URI.create("http://127.0.0.1:" + port))
                .withCredentials(ACCESS_KEY, SECRET_KEY)
                .withTimeouts(Duration.ofSeconds(5), Duration.ofSeconds(60), null);
    }

    @Override
    public void close() {
        try {
            proxy.stop();
        } catch (Exception e) {
            throw new IllegalStateException("cannot stop S3Proxy", e);
        } finally {
            context.close();
        }
    }
}
