package dev.caskade.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ShellLineTest {

    private static List<String> words(String line) {
        ShellLine parsed = ShellLine.parse(line);
        return java.util.stream.IntStream.range(0, parsed.size())
                .mapToObj(parsed::text)
                .toList();
    }

    @Test
    void splitsOnBlanksAndKeepsQuotedBlanks() {
        assertThat(words("  PUT  k   v  ")).containsExactly("PUT", "k", "v");
        assertThat(words("PUT \"a b\" 'c d'")).containsExactly("PUT", "a b", "c d");
        assertThat(words("x\"y z\"")).containsExactly("xy z");
        assertThat(words("\"\" ''")).containsExactly("", "");
        assertThat(words("ü✓ 😀")).containsExactly("ü✓", "😀");
        assertThat(words("")).isEmpty();
    }

    @Test
    void escapesInDoubleQuotesAndOnlyTheQuoteInSingleQuotes() {
        assertThat(words("\"a\\nb\\t\\\"\\\\\\q\"")).containsExactly("a\nb\t\"\\q");
        assertThat(words("'a\\nb\\'c'")).containsExactly("a\\nb'c");
        assertThat(ShellLine.parse("\"\\xff\\x00\\x4A\\xzz\"").words().get(0))
                .isEqualTo(new byte[] {(byte) 0xff, 0, 'J', 'x', 'z', 'z'});
    }

    @Test
    void badQuotingIsAnError() {
        assertThatThrownBy(() -> ShellLine.parse("GET \"k")).hasMessage("unbalanced quotes");
        assertThatThrownBy(() -> ShellLine.parse("GET 'k")).hasMessage("unbalanced quotes");
        assertThatThrownBy(() -> ShellLine.parse("GET \"k\"x")).hasMessageContaining("closing quote");
    }

    @Test
    void displayedValuesParseBackToTheSameBytes() {
        assertThat(ShellLine.display("plain text ✓".getBytes(StandardCharsets.UTF_8)))
                .isEqualTo("plain text ✓");
        assertThat(ShellLine.display("two\nlines".getBytes(StandardCharsets.UTF_8)))
                .isEqualTo("\"two\\nlines\"");
        long seed = System.nanoTime();
        Random random = new Random(seed);
        for (int i = 0; i < 500; i++) {
            byte[] bytes = new byte[random.nextInt(12)];
            random.nextBytes(bytes);
            if (i % 2 == 0) for (int j = 0; j < bytes.length; j++) bytes[j] &= 0x7f; // often valid UTF-8
            String quoted = ShellLine.quote(bytes);
            assertThat(ShellLine.parse(quoted).words())
                    .as("seed %d: %s", seed, quoted)
                    .singleElement()
                    .isEqualTo(bytes);
        }
    }
}
