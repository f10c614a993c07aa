package dev.caskade.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** URL parsing and option validation; no network. */
class DestinationTest {
    static final S3Options LOCAL = S3ProxyFixture.options(URI.create("http://127.0.0.1:9"));

    @TempDir
    Path dir;

    @Test
    void fileUrlsAndPlainPathsOpenADirectory() {
        try (GuardedStore s = Destination.open(dir.toUri().toString(), null, null)) {
            assertThat(s.delegate())
                    .isInstanceOfSatisfying(
                            DirectoryStore.class, d -> assertThat(d.root()).isEqualTo(dir));
            assertThat(s.url()).isEqualTo("file://" + dir);
            assertThat(s.options()).isEqualTo(BreakerOptions.defaults());
        }
        try (ObjectStore s = Destination.openDirect(dir.resolve("plain").toString(), null)) {
            assertThat(((DirectoryStore) s).root()).isEqualTo(dir.resolve("plain"));
        }
        try (ObjectStore s = Destination.openDirect("relative/dest", null)) {
            assertThat(((DirectoryStore) s).root())
                    .isAbsolute()
                    .isEqualTo(Path.of("relative/dest").toAbsolutePath().normalize());
        }
        try (ObjectStore s = Destination.openDirect("file:///tmp/with%20space/x", null)) {
            assertThat(((DirectoryStore) s).root()).isEqualTo(Path.of("/tmp/with space/x"));
        }
        try (ObjectStore s = Destination.openDirect("file://localhost/tmp/x", null)) {
            assertThat(((DirectoryStore) s).root()).isEqualTo(Path.of("/tmp/x"));
        }
    }

    @Test
    void s3UrlsOpenABucketAndPrefix() {
        try (GuardedStore s =
                Destination.open("s3://my-bucket/some/prefix/", LOCAL, BreakerOptions.parse("attempts=5"))) {
            assertThat(s.url()).isEqualTo("s3://my-bucket/some/prefix");
            assertThat(s.delegate()).isInstanceOfSatisfying(S3Store.class, d -> {
                assertThat(d.bucket()).isEqualTo("my-bucket");
                assertThat(d.prefix()).isEqualTo("some/prefix/");
            });
            assertThat(s.options().retryAttempts()).isEqualTo(5);
        }
        try (ObjectStore s = Destination.openDirect("s3://my-bucket", LOCAL)) {
            assertThat(s.url()).isEqualTo("s3://my-bucket");
            assertThat(((S3Store) s).prefix()).isEmpty();
        }
    }

    @Test
    void badUrlsSayWhatIsWrong() {
        assertThatThrownBy(() -> Destination.open("", null, null)).hasMessageContaining("empty");
        assertThatThrownBy(() -> Destination.open("gs://bucket/x", null, null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("unsupported destination scheme 'gs'")
                .hasMessageContaining("s3://bucket/prefix");
        assertThatThrownBy(() -> Destination.open("file:relative/x", null, null))
                .hasMessageContaining("must be absolute");
        assertThatThrownBy(() -> Destination.open("file://server/share", null, null))
                .hasMessageContaining("names a host");
        assertThatThrownBy(() -> Destination.open("s3://", LOCAL, null)).hasMessageContaining("names no bucket");
        assertThatThrownBy(() -> Destination.open("s3:bucket", LOCAL, null))
                .hasMessageContaining("s3://bucket[/prefix]");
        assertThatThrownBy(() -> Destination.open("s3://Bad_Bucket/x", LOCAL, null))
                .hasMessageContaining("bad S3 bucket name 'Bad_Bucket'");
        assertThatThrownBy(() -> Destination.open("s3://ab", LOCAL, null)).hasMessageContaining("3-63");
        assertThatThrownBy(() -> Destination.open("s3://bucket/a//b", LOCAL, null))
                .hasMessageContaining("bad prefix");
        assertThatThrownBy(() -> Destination.open("s3://bucket/x?versionId=1", LOCAL, null))
                .hasMessageContaining("no query");
        assertThatThrownBy(() -> Destination.open("s3://AKIA:topsecret@bucket/x", LOCAL, null))
                .hasMessageContaining("must not hold credentials")
                .hasMessageNotContaining("topsecret");
    }

    @Test
    void breakerOptionsParseAndValidate() {
        assertThat(BreakerOptions.parse("")).isEqualTo(BreakerOptions.defaults());
        BreakerOptions d = BreakerOptions.defaults();
        assertThat(d.window()).isEqualTo(20);
        assertThat(d.failureRatePercent()).isEqualTo(50f);
        assertThat(d.minimumCalls()).isEqualTo(5);
        assertThat(d.openWait()).isEqualTo(Duration.ofSeconds(10));
        assertThat(d.halfOpenProbes()).isEqualTo(2);
        assertThat(d.retryAttempts()).isEqualTo(3);
        assertThat(d.retryInitial()).isEqualTo(Duration.ofMillis(200));
        assertThat(d.retryMax()).isEqualTo(Duration.ofSeconds(5));

        BreakerOptions o = BreakerOptions.parse(
                "window=50, failure-rate=25%, minimum-calls=10, open-wait=30s, probes=3, attempts=5, backoff=100ms,"
                        + " max-backoff=PT2S");
        assertThat(o)
                .isEqualTo(new BreakerOptions(
                        50, 25f, 10, Duration.ofSeconds(30), 3, 5, Duration.ofMillis(100), Duration.ofSeconds(2)));
        assertThat(BreakerOptions.parse(o.toString()))
                .as("toString parses back")
                .isEqualTo(o);
        assertThat(BreakerOptions.parse("window=2,minimum-calls=2").minimumCalls())
                .as("checked once all pairs are read, so their order does not matter")
                .isEqualTo(2);

        assertThatThrownBy(() -> BreakerOptions.parse("windw=5"))
                .hasMessageContaining("unknown breaker option 'windw'")
                .hasMessageContaining(BreakerOptions.KEYS);
        assertThatThrownBy(() -> BreakerOptions.parse("window")).hasMessageContaining("key=value");
        assertThatThrownBy(() -> BreakerOptions.parse("window=x")).hasMessageContaining("bad number");
        assertThatThrownBy(() -> BreakerOptions.parse("open-wait=10 sec")).hasMessageContaining("bad duration");
        assertThatThrownBy(() -> BreakerOptions.parse("failure-rate=0")).hasMessageContaining("failure rate");
        assertThatThrownBy(() -> BreakerOptions.parse("minimum-calls=30")).hasMessageContaining("minimum calls");
        assertThatThrownBy(() -> BreakerOptions.parse("backoff=10s")).hasMessageContaining("below the initial");
        assertThatThrownBy(() -> BreakerOptions.parse("attempts=0")).hasMessageContaining("retry attempts");
        assertThat(BreakerOptions.duration("2m")).isEqualTo(Duration.ofMinutes(2));
        assertThat(BreakerOptions.duration("1h")).isEqualTo(Duration.ofHours(1));
    }

    @Test
    void s3OptionsValidate() {
        S3Options aws = S3Options.defaults();
        assertThat(aws.endpoint()).isNull();
        assertThat(aws.checksumsWhenRequired()).isFalse();
        assertThat(aws.effectiveRegion()).isNull();
        S3Options local = aws.withEndpoint(URI.create("http://127.0.0.1:9000"));
        assertThat(local.checksumsWhenRequired()).as("on with an endpoint").isTrue();
        assertThat(local.effectiveRegion()).isEqualTo("us-east-1");
        assertThat(local.withChecksumsWhenRequired(false).checksumsWhenRequired())
                .isFalse();
        assertThat(S3Options.forEndpoint(URI.create("https://minio.local")).pathStyle())
                .isTrue();
        assertThat(local.withCredentials("id", "s3cr3t").toString()).doesNotContain("s3cr3t");

        assertThatThrownBy(() -> aws.withEndpoint(URI.create("ftp://x"))).hasMessageContaining("http://host");
        assertThatThrownBy(() -> aws.withEndpoint(URI.create("http://x/path"))).hasMessageContaining("no path");
        assertThatThrownBy(() -> aws.withEndpoint(URI.create("http://id:secret@x")))
                .hasMessageContaining("must not hold credentials")
                .hasMessageNotContaining("secret@");
        assertThatThrownBy(() -> aws.withRegion("US East")).hasMessageContaining("bad S3 region");
        assertThatThrownBy(() -> aws.withPartSize(1 << 20)).hasMessageContaining("5 MiB");
        assertThatThrownBy(() -> aws.withTimeouts(Duration.ZERO, Duration.ofSeconds(1), null))
                .hasMessageContaining("connectTimeout");
    }
}
