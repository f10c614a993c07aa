package dev.caskade.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class JsonTest {

    @Test
    void escapesQuotesBackslashesAndControlCharacters() {
        assertThat(Json.quote("a\"b\\c")).isEqualTo("\"a\\\"b\\\\c\"");
        assertThat(Json.quote("\n\r\t\b\f")).isEqualTo("\"\\n\\r\\t\\b\\f\"");
        assertThat(Json.quote("\u0000\u0001\u001f")).isEqualTo("\"\\u0000\\u0001\\u001f\"");
        assertThat(Json.quote("/ \u007f")).isEqualTo("\"/ \u007f\"");
    }

    @Test
    void keepsNonAsciiAndNonBmpCharactersButEscapesLoneSurrogates() {
        assertThat(Json.quote("é✓😀")).isEqualTo("\"é✓😀\"");
        assertThat(Json.quote("x\ud800y")).isEqualTo("\"x\\ud800y\"");
        assertThat(Json.quote("\udc00")).isEqualTo("\"\\udc00\"");
        assertThat(Json.quote("\ud83d")).isEqualTo("\"\\ud83d\"");
    }

    @Test
    void objectsAndArrays() {
        String text = Json.object()
                .add("s", "v")
                .add("n", -5)
                .add("b", true)
                .add("z", (String) null)
                .addRaw("a", Json.array(List.of("1", Json.quote("x"))))
                .toString();
        assertThat(text).isEqualTo("{\"s\":\"v\",\"n\":-5,\"b\":true,\"z\":null,\"a\":[1,\"x\"]}");
        assertThat(Json.object().toString()).isEqualTo("{}");
        assertThat(Json.array(List.of())).isEqualTo("[]");
    }

    @Test
    void bytesThatAreNotUtf8AreWrittenAsBase64() {
        assertThat(Json.object()
                        .addBytes("value", "ok ✓".getBytes(StandardCharsets.UTF_8))
                        .toString())
                .isEqualTo("{\"value\":\"ok ✓\"}");
        assertThat(Json.object()
                        .addBytes("value", new byte[] {(byte) 0xff, 0x00})
                        .toString())
                .isEqualTo("{\"value_base64\":\"/wA=\"}");
        // an encoded surrogate and an overlong encoding are not valid UTF-8 either
        assertThat(Json.utf8(new byte[] {(byte) 0xed, (byte) 0xa0, (byte) 0x80}))
                .isEmpty();
        assertThat(Json.utf8(new byte[] {(byte) 0xc0, (byte) 0xaf})).isEmpty();
        assertThat(Json.utf8(new byte[0])).contains("");
    }
}
