package dev.caskade.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.caskade.Change;
import dev.caskade.ChangeType;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class ChangeCodecTest {
    static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void roundTripsPutsAndDeletesAndRejectsDamage() {
        List<Change> changes = List.of(
                new Change(ChangeType.PUT, b("k1"), b("v1"), 0),
                new Change(ChangeType.DELETE, b("k2"), new byte[0], 0),
                new Change(ChangeType.PUT, new byte[] {0, -1, 7}, new byte[0], 1_700_000_000_000L));
        byte[] bytes = ChangeCodec.encode(changes);
        assertThat(ChangeCodec.decode(bytes)).isEqualTo(changes);
        // count 3, PUT k1=v1: 1 + 4 + 2 + 4 + 2 + 8 bytes; big-endian
        assertThat(Arrays.copyOf(bytes, 6)).containsExactly(0, 0, 0, 3, 1, 0);
        assertThatThrownBy(() -> ChangeCodec.decode(Arrays.copyOf(bytes, bytes.length - 1)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("cut short");
        byte[] extra = Arrays.copyOf(bytes, bytes.length + 1);
        assertThatThrownBy(() -> ChangeCodec.decode(extra)).hasMessageContaining("left after");
        byte[] badType = bytes.clone();
        badType[4] = 9;
        assertThatThrownBy(() -> ChangeCodec.decode(badType)).hasMessageContaining("unknown change type 9");
        // an expiry decided by the cluster travels as type 3, with no value and no expiresAt
        List<Change> expire = List.of(new Change(ChangeType.EXPIRE, b("k"), new byte[0], 0));
        byte[] e = ChangeCodec.encode(expire);
        assertThat(e[4]).isEqualTo((byte) 3);
        assertThat(e).hasSize(4 + 1 + 4 + 1 + 4 + 8);
        assertThat(ChangeCodec.decode(e)).isEqualTo(expire);
    }
}
