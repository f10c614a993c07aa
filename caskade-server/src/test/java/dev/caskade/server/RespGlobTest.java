package dev.caskade.server;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** Redis glob semantics, as KEYS, SCAN MATCH and CONFIG GET use them. */
class RespGlobTest {
    private static boolean m(String pattern, String key) {
        return new RespGlob(pattern.getBytes(UTF_8)).matches(key.getBytes(UTF_8));
    }

    @Test
    void redisGlobs() {
        assertThat(m("*", "")).isTrue();
        assertThat(m("h?llo", "hello")).isTrue();
        assertThat(m("h?llo", "hllo")).isFalse();
        assertThat(m("h*llo", "heeeello")).isTrue();
        assertThat(m("h[ae]llo", "hallo")).isTrue();
        assertThat(m("h[ae]llo", "hillo")).isFalse();
        assertThat(m("h[^e]llo", "hallo")).isTrue();
        assertThat(m("h[^e]llo", "hello")).isFalse();
        assertThat(m("h[a-b]llo", "hbllo")).isTrue();
        assertThat(m("h[b-a]llo", "hallo")).isTrue(); // reversed ranges work, as in Redis
        assertThat(m("h\\*llo", "h*llo")).isTrue();
        assertThat(m("h\\*llo", "hello")).isFalse();
        assertThat(m("user:*:name", "user:42:name")).isTrue();
        assertThat(m("user:*:name", "user:42:age")).isFalse();
        assertThat(m("*a*b*c*", "xxaxxbxxcxx")).isTrue();
        assertThat(m("*a*b*c*", "xxaxxcxxbxx")).isFalse();
    }

    @Test
    void hostilePatternsStayFast() {
        String key = "a".repeat(5000);
        long t0 = System.nanoTime();
        assertThat(m("*a*a*a*a*a*a*a*a*a*a*b", key)).isFalse();
        assertThat(System.nanoTime() - t0).isLessThan(2_000_000_000L);
    }

    @Test
    void literalPrefixNarrowsTheScan() {
        assertThat(new String(new RespGlob("user:*".getBytes(UTF_8)).literalPrefix(), UTF_8))
                .isEqualTo("user:");
        assertThat(new RespGlob("*".getBytes(UTF_8)).literalPrefix()).isEmpty();
        assertThat(new String(new RespGlob("a?b".getBytes(UTF_8)).literalPrefix(), UTF_8))
                .isEqualTo("a");
    }
}
