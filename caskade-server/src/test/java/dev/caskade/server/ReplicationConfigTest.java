package dev.caskade.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.caskade.s3.BreakerOptions;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The replication settings in the config file and the environment, and their precedence. */
class ReplicationConfigTest {
    @TempDir
    Path dir;

    private Path file(String yaml) throws Exception {
        return Files.writeString(dir.resolve("caskade.yaml"), yaml);
    }

    @Test
    void readsEveryKeyOfTheFile() throws Exception {
        ServerConfig c = ServerConfig.load(file("""
                replicate-to: [ backups, "s3://bucket/db", "file:///var/backups/db" ]
                restore-if-empty: s3://bucket/db
                sync-interval: 250ms
                snapshot-interval: 6h
                retention: 7d
                breaker: { window: 10, minimum-calls: 2, open-wait: 30s }
                max-replica-lag: 5s
                validation-interval: 1h
                s3: { endpoint: "http://127.0.0.1:9000", region: eu-west-1, path-style: false }
                pin-budget: 256MiB
                """));
        ReplicationOptions o = c.options().replication();
        assertThat(o.destinations())
                .as("a plain path is relative to the file")
                .containsExactly(dir.resolve("backups").toString(), "s3://bucket/db", "file:///var/backups/db");
        assertThat(o.restoreIfEmpty()).isEqualTo("s3://bucket/db");
        assertThat(o.ship().syncInterval()).isEqualTo(Duration.ofMillis(250));
        assertThat(o.ship().snapshotInterval()).isEqualTo(Duration.ofHours(6));
        assertThat(o.ship().retention()).isEqualTo(Duration.ofDays(7));
        assertThat(o.breaker()).isEqualTo(BreakerOptions.parse("window=10,minimum-calls=2,open-wait=30s"));
        assertThat(o.maxReplicaLag()).isEqualTo(Duration.ofSeconds(5));
        assertThat(o.validationInterval()).isEqualTo(Duration.ofHours(1));
        assertThat(o.s3().endpoint()).isEqualTo(URI.create("http://127.0.0.1:9000"));
        assertThat(o.s3().region()).isEqualTo("eu-west-1");
        assertThat(o.s3().pathStyle()).isFalse();
        assertThat(o.s3().credentials()).as("always the AWS chain").isNull();
        assertThat(o.pinBytes()).isEqualTo(256L << 20);
        o.check();
    }

    @Test
    void flagsOverEnvironmentOverFileOverDefaults() throws Exception {
        ServerConfig fromFile = ServerConfig.load(file("""
                replicate-to: s3://bucket/file
                sync-interval: 5s
                retention: 1d
                breaker: "attempts=2"
                """));
        ServerConfig env = ServerConfig.fromEnvironment(Map.of(
                "CASKADE_REPLICATE_TO", "s3://bucket/env1, s3://bucket/env2",
                "CASKADE_SYNC_INTERVAL", "2s",
                "CASKADE_S3_ENDPOINT", "http://127.0.0.1:9000",
                "CASKADE_S3_PATH_STYLE", ""));
        ReplicationConfig flagLayer = new ReplicationConfig(
                null, null, Duration.ofMillis(100), null, null, null, null, null, null, null, null, null);
        ServerConfig flags = new ServerConfig(null, null, null, null, null, null, null, null, null, flagLayer);
        ReplicationOptions o = flags.over(env).over(fromFile).options().replication();
        assertThat(o.destinations()).containsExactly("s3://bucket/env1", "s3://bucket/env2");
        assertThat(o.ship().syncInterval()).as("the flag").isEqualTo(Duration.ofMillis(100));
        assertThat(o.ship().retention()).as("the file").isEqualTo(Duration.ofDays(1));
        assertThat(o.ship().snapshotInterval()).as("the default").isEqualTo(Duration.ofHours(24));
        assertThat(o.breaker().retryAttempts()).isEqualTo(2);
        assertThat(o.s3().endpoint()).hasToString("http://127.0.0.1:9000");
        assertThat(o.s3().pathStyle())
                .as("an endpoint means path style unless said otherwise")
                .isTrue();
        assertThat(o.s3().effectiveRegion()).isEqualTo("us-east-1");

        assertThat(o.pinBytes()).as("the default").isEqualTo(1L << 30);

        assertThat(ServerConfig.EMPTY.options().replication()).isEqualTo(ReplicationOptions.NONE);
        assertThat(ReplicationOptions.NONE.ships()).isFalse();
    }

    @Test
    void pinBudgetTakesSizesAndIsLayeredFlagOverEnvironmentOverFile() throws Exception {
        assertThat(ReplicationConfig.size("x", "0")).isZero();
        assertThat(ReplicationConfig.size("x", "1048576")).isEqualTo(1L << 20);
        assertThat(ReplicationConfig.size("x", "64KiB")).isEqualTo(64L << 10);
        assertThat(ReplicationConfig.size("x", "64k")).isEqualTo(64L << 10);
        assertThat(ReplicationConfig.size("x", "512mib")).isEqualTo(512L << 20);
        assertThat(ReplicationConfig.size("x", "512 M")).isEqualTo(512L << 20);
        assertThat(ReplicationConfig.size("x", "2GiB")).isEqualTo(2L << 30);
        assertThat(ReplicationConfig.size("x", "2g")).isEqualTo(2L << 30);
        for (String bad : List.of("", "1.5GiB", "-1", "1GB", "1TiB", "lots", "99999999999999999999", "9999999999G"))
            assertThatThrownBy(() -> ReplicationConfig.size("pin-budget", bad))
                    .as("'%s'", bad)
                    .hasMessageStartingWith("pin-budget: ");

        ServerConfig fromFile = ServerConfig.load(file("pin-budget: 1048576\n"));
        ServerConfig env = ServerConfig.fromEnvironment(Map.of("CASKADE_PIN_BUDGET", "2m"));
        ReplicationConfig flagLayer =
                new ReplicationConfig(null, null, null, null, null, null, null, null, null, null, null, 3L << 20);
        ServerConfig flags = new ServerConfig(null, null, null, null, null, null, null, null, null, flagLayer);
        assertThat(fromFile.options().replication().pinBytes()).isEqualTo(1L << 20);
        assertThat(env.over(fromFile).options().replication().pinBytes()).isEqualTo(2L << 20);
        assertThat(flags.over(env).over(fromFile).options().replication().pinBytes())
                .isEqualTo(3L << 20);

        assertThatThrownBy(() -> ServerConfig.load(file("pin-budget: big\n")))
                .hasMessageContaining("caskade.yaml: pin-budget: bad size 'big'");
        assertThatThrownBy(() -> ServerConfig.fromEnvironment(Map.of("CASKADE_PIN_BUDGET", "-5")))
                .hasMessageContaining("CASKADE_PIN_BUDGET: bad size '-5'");
    }

    @Test
    void theServerOpensTheStoreWithThePinBudget() throws Exception {
        Path yaml = Files.writeString(dir.resolve("pins.yaml"), """
                data: store
                resp-port: 0
                http-port: 0
                pin-budget: 8MiB
                """);
        try (Server server = Server.start(ServerConfig.load(yaml).options())) {
            assertThat(server.store().options().pinBytes()).isEqualTo(8L << 20);
        }
    }

    @Test
    void badValuesNameTheirKeyOrVariable() throws Exception {
        assertThatThrownBy(() -> ServerConfig.load(file("sync-interval: soon\n")))
                .hasMessageContaining("caskade.yaml: sync-interval: bad duration 'soon'");
        assertThatThrownBy(() -> ServerConfig.load(file("s3: { endpont: x }\n")))
                .hasMessageContaining("unknown key 'endpont' in s3");
        assertThatThrownBy(() -> ServerConfig.load(file("breaker: { windw: 3 }\n")))
                .hasMessageContaining("breaker: unknown breaker option 'windw'");
        assertThatThrownBy(() -> ServerConfig.load(file("s3: { endpoint: \"ftp://x\" }\n")))
                .hasMessageContaining("s3.endpoint");
        assertThatThrownBy(() -> ServerConfig.load(file("replicate-to: [ [a] ]\n")))
                .hasMessageContaining("replicate-to[0] must be a single value");
        assertThatThrownBy(() -> ServerConfig.load(file("replicat-to: x\n")))
                .hasMessageContaining("unknown key 'replicat-to'")
                .hasMessageContaining("replicate-to");
        assertThatThrownBy(() -> ServerConfig.fromEnvironment(Map.of("CASKADE_BREAKER", "window=0")))
                .hasMessageContaining("CASKADE_BREAKER: breaker window must be >= 1");
        assertThatThrownBy(() -> ServerConfig.fromEnvironment(Map.of("CASKADE_S3_PATH_STYLE", "maybe")))
                .hasMessageContaining("CASKADE_S3_PATH_STYLE must be true or false");
        assertThatThrownBy(() ->
                        ServerConfig.load(file("replicate-to: [ a, a ]\n")).options())
                .hasMessageContaining("given twice");
        assertThatThrownBy(
                        () -> ServerConfig.load(file("max-replica-lag: 5s\n")).options())
                .hasMessageContaining("max-replica-lag needs a destination");
        assertThatThrownBy(() -> ServerConfig.load(file("sync-interval: 0s\nreplicate-to: a\n"))
                        .options())
                .hasMessageContaining("sync-interval must be > 0");
        ReplicationOptions bad = ReplicationOptions.NONE.withDestinations(List.of("gopher://x"));
        assertThatThrownBy(bad::check).hasMessageStartingWith("replicate-to: unsupported destination scheme 'gopher'");
        assertThatThrownBy(() ->
                        ReplicationOptions.NONE.withRestoreIfEmpty("s3://A").check())
                .hasMessageStartingWith("restore-if-empty: bad S3 bucket name 'A'");
    }
}
