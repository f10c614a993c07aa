package dev.caskade.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class ClusterOptionsTest {
    @Test
    void parsesRedisUrls() {
        ClusterOptions.Redis r = ClusterOptions.Redis.parse("redis://localhost/orders");
        assertThat(r).isEqualTo(new ClusterOptions.Redis(false, "localhost", 6379, null, null, "orders"));
        ClusterOptions.Redis s = ClusterOptions.Redis.parse("rediss://app:p%40ss@redis.example:6380/eu-1");
        assertThat(s.tls()).isTrue();
        assertThat(s.user()).isEqualTo("app");
        assertThat(s.password()).isEqualTo("p@ss");
        assertThat(s.port()).isEqualTo(6380);
        assertThat(s.toString())
                .isEqualTo("rediss://app:***@redis.example:6380/eu-1")
                .doesNotContain("p@ss");
        assertThat(ClusterOptions.Redis.parse("redis://:secret@h:1/c").password())
                .isEqualTo("secret");
        assertThat(ClusterOptions.parse("redis://:secret@h:1/c").toString()).doesNotContain("secret");
    }

    @Test
    void rejectsBadUrlsAndSettingsWithoutShowingPasswords() {
        assertThatThrownBy(() -> ClusterOptions.Redis.parse("http://h:1/c")).hasMessageContaining("redis://");
        assertThatThrownBy(() -> ClusterOptions.Redis.parse("redis://u:topsecret@h:1"))
                .hasMessageContaining("no cluster name")
                .hasMessageNotContaining("topsecret");
        assertThatThrownBy(() -> ClusterOptions.Redis.parse("redis://h:1/a/b")).hasMessageContaining("cluster name");
        assertThatThrownBy(() -> ClusterOptions.Redis.parse("redis://h:1/c?x=1"))
                .hasMessageContaining("query");
        ClusterOptions o = ClusterOptions.parse("redis://h/c");
        assertThatThrownBy(() -> o.withNodeId("a b")).hasMessageContaining("node id");
        assertThatThrownBy(() -> o.withRetention(5)).hasMessageContaining("retention");
        assertThatThrownBy(() -> o.withWriteTimeout(Duration.ZERO)).hasMessageContaining("writeTimeout");
        assertThatThrownBy(() -> o.withBreaker(5, 6, 50, Duration.ofSeconds(1)))
                .hasMessageContaining("breakerMinimumCalls");
        assertThat(ClusterOptions.WhenBusDown.parse("Queue")).isEqualTo(ClusterOptions.WhenBusDown.QUEUE);
        assertThatThrownBy(() -> ClusterOptions.WhenBusDown.parse("drop")).hasMessageContaining("reject or queue");
    }

    @Test
    void aBootstrapSourceIsNoneByDefaultAndKeptByEveryOtherSetting() {
        ClusterOptions o = ClusterOptions.parse("redis://h/c");
        assertThat(o.bootstrap()).isNull();
        Bootstrap b = Bootstrap.named("s3://bucket/c", (dir, atLeast) -> 0);
        assertThat(b.description()).isEqualTo("s3://bucket/c");
        ClusterOptions with = o.withBootstrap(b)
                .withNodeId("n1")
                .withRetention(50)
                .withWhenBusDown(ClusterOptions.WhenBusDown.QUEUE)
                .withWriteTimeout(Duration.ofSeconds(3))
                .withRedisTimeout(Duration.ofSeconds(1))
                .withBreaker(10, 5, 50, Duration.ofSeconds(1));
        assertThat(with.bootstrap()).isSameAs(b);
        assertThat(with.withBootstrap(null).bootstrap()).isNull();
    }
}
