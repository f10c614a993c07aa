package dev.caskade.server;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.ThrowableProxyUtil;
import ch.qos.logback.core.read.ListAppender;
import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.Durability;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/** With every logger at TRACE, failed and successful logins on both protocols leave no secret in the log. */
class SecretsInLogsTest {
    @TempDir
    Path dir;

    @Test
    void noPasswordOrTokenReachesTheLog() throws Exception {
        String wrong = "leaked-password-" + System.nanoTime();
        Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        ListAppender<ILoggingEvent> captured = new ListAppender<>();
        captured.start();
        Level before = root.getLevel();
        List<Logger> quiet = List.of("io.netty", "io.lettuce", "redis.clients").stream()
                .map(n -> (Logger) LoggerFactory.getLogger(n))
                .toList();
        List<Level> quietBefore = quiet.stream().map(Logger::getLevel).toList();
        root.addAppender(captured);
        root.setLevel(Level.TRACE);
        quiet.forEach(l -> l.setLevel(Level.TRACE));
        try (Caskade db = Caskade.open(dir, CaskadeOptions.defaults().withDurability(Durability.NONE));
                RespServer resp = RespServer.start(db, RespOptions.defaults().withPort(0), AuthFixture.USERS, null);
                HttpServer http = HttpServer.start(
                        db, HttpOptions.defaults().withAddress("127.0.0.1", 0), AuthFixture.USERS, null);
                HttpClient client = HttpClient.newHttpClient()) {
            try (RespSocket c = new RespSocket(resp.port())) {
                c.call("AUTH", "app", wrong);
                c.call("AUTH", wrong);
                c.call("HELLO", "3", "AUTH", "admin", wrong);
                c.call("AUTH", "app", "app-pw");
                c.call("AUTH", "app", AuthFixture.APP_TOKEN);
                c.call("SET", "app/k", "v");
                c.call("NOSUCHCOMMAND", wrong); // echoed to the client in the error, but not logged
            }
            for (String auth : List.of(
                    "Bearer " + wrong,
                    "Bearer " + AuthFixture.APP_TOKEN,
                    "Basic " + Base64.getEncoder().encodeToString(("app:" + wrong).getBytes(UTF_8)),
                    "Basic " + Base64.getEncoder().encodeToString("app:app-pw".getBytes(UTF_8)))) {
                client.send(
                        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + http.port() + "/v1/kv/app/k"))
                                .header("Authorization", auth)
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
            }
        } finally {
            root.detachAppender(captured);
            root.setLevel(before);
            for (int i = 0; i < quiet.size(); i++) quiet.get(i).setLevel(quietBefore.get(i));
        }
        List<String> lines = captured.list.stream()
                .map(e -> e.getFormattedMessage()
                        + (e.getThrowableProxy() == null ? "" : ThrowableProxyUtil.asString(e.getThrowableProxy())))
                .toList();
        assertThat(lines).as("something was logged at all").anyMatch(l -> l.contains("RESP listening"));
        String secretBase64 = Base64.getEncoder().encodeToString(("app:" + wrong).getBytes(UTF_8));
        for (String line : lines) {
            assertThat(line)
                    .doesNotContain(wrong)
                    .doesNotContain("app-pw")
                    .doesNotContain(AuthFixture.APP_TOKEN)
                    .doesNotContain(secretBase64);
        }
    }
}
