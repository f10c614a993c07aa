package dev.caskade.s3;

import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;

/** Shipping and restoring through S3 (S3Proxy on loopback, the real S3 API over HTTP). */
class ShipS3Test extends ShippingContract {
    static final String BUCKET = "caskade-ship";
    static final AtomicInteger PREFIXES = new AtomicInteger();

    @TempDir
    static Path s3data;

    static S3ProxyFixture s3;

    @BeforeAll
    static void startS3() {
        s3 = S3ProxyFixture.start(s3data);
        s3.createBucket(BUCKET);
    }

    @AfterAll
    static void stopS3() {
        if (s3 != null) s3.close();
    }

    @Override
    ObjectStore destination() {
        return new GuardedStore(
                S3Store.open(BUCKET, "ship/t" + PREFIXES.incrementAndGet(), s3.options()), BreakerOptions.defaults());
    }
}
