package dev.caskade.cli;

import static dev.caskade.cli.Invocation.run;
import static org.assertj.core.api.Assertions.assertThat;

import dev.caskade.Caskade;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(60)
class VerifyCommandTest {

    private static final int KEYS = 200;

    @TempDir
    Path dir;

    private Path store;

    @BeforeEach
    void write() throws Exception {
        store = Files.createDirectories(dir.resolve("store"));
        try (Caskade db = Caskade.open(store)) {
            for (int i = 0; i < KEYS; i++) db.put(key(i), value(i));
        }
    }

    private static String key(int i) {
        return "key-%04d".formatted(i);
    }

    private static String value(int i) {
        return "value-%04d-".formatted(i) + "abcdefghij".repeat(5);
    }

    @Test
    void cleanStoreVerifies() {
        Invocation text = run("verify", "--data", store.toString());
        assertThat(text.code()).as("%s", text).isZero();
        assertThat(text.err()).isEmpty();
        assertThat(text.out()).containsPattern("(?m)^keys +" + KEYS + "$").endsWith("ok\n");

        Invocation json = run("verify", "--data", store.toString(), "--json");
        assertThat(json.code()).as("%s", json).isZero();
        assertThat(json.out())
                .startsWith("{\"ok\":true,")
                .contains("\"keys\":" + KEYS)
                .endsWith(",\"problems\":[]}\n");
    }

    @Test
    void damageInTheMiddleOfASegmentIsReportedWithExit2() throws Exception {
        // flip one byte inside the value of the middle key: well before the tail, so no torn-write excuse
        Path segment = onlySegment();
        byte[] bytes = Files.readAllBytes(segment);
        int at = indexOf(bytes, value(KEYS / 2).getBytes(StandardCharsets.UTF_8)) + 12;
        assertThat(at).as("value of the middle key in %s", segment).isGreaterThan(bytes.length / 4);
        assertThat(at).isLessThan(bytes.length * 3 / 4);
        bytes[at] ^= 0x20;
        Files.write(segment, bytes);
        String name = segment.getFileName().toString();

        Invocation text = run("verify", "--data", store.toString());
        assertThat(text.code()).as("%s", text).isEqualTo(Main.DAMAGED);
        assertThat(text.out()).as("%s", text).contains("problem").contains(name).endsWith("damaged\n");
        assertThat(text.err()).as("%s", text).startsWith("caskade: store is damaged");

        Invocation json = run("verify", "--data", store.toString(), "--json");
        assertThat(json.code()).as("%s", json).isEqualTo(Main.DAMAGED);
        assertThat(json.out()).startsWith("{\"ok\":false,").contains(name);

        // a read of the damaged key never returns the flipped bytes
        Invocation get = run("get", "--data", store.toString(), key(KEYS / 2));
        assertThat(get.code()).as("%s", get).isEqualTo(Main.DAMAGED);
        assertThat(get.out()).isEmpty();
        assertThat(get.err().lines()).as("%s", get).hasSize(1);
        assertThat(get.err()).contains("damaged").contains(name);
    }

    private Path onlySegment() throws Exception {
        try (Stream<Path> files = Files.list(store)) {
            List<Path> segments =
                    files.filter(p -> p.toString().endsWith(".seg")).toList();
            assertThat(segments).as("segments in %s", store).hasSize(1);
            return segments.get(0);
        }
    }

    private static int indexOf(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) continue outer;
            }
            return i;
        }
        return -1;
    }
}
