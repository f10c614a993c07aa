package dev.caskade.s3;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.caskade.Caskade;
import dev.caskade.CaskadeOptions;
import dev.caskade.Durability;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/** What a shipper reports: its status once stopped, and its log while a destination is down. */
class ShipStatusTest {
    @TempDir
    Path tmp;

    @Test
    void aClosedShipperStillReportsItsStatus() {
        try (Caskade db =
                Caskade.open(tmp.resolve("src"), CaskadeOptions.defaults().withDurability(Durability.NONE))) {
            Shipper s = Shipper.live(db, DirectoryStore.open(tmp.resolve("dest")), ShipOptions.defaults());
            db.put("a", "1");
            assertThat(s.syncNow()).isTrue();
            db.put("b", "2");
            s.close(); // ships b in a last tick
            // this threw IllegalStateException (log tail is closed) before
            ShipStatus st = s.status();
            assertThat(st.state()).isEqualTo("stopped");
            assertThat(st.revision()).isEqualTo(2);
            assertThat(st.shippedRevision()).isEqualTo(2);
            assertThat(st.lagRevisions()).isZero();
        }
    }

    @Test
    void anOutageIsLoggedOnceNotEveryTick() throws InterruptedException {
        Logger log = (Logger) LoggerFactory.getLogger(Shipper.class);
        ListAppender<ILoggingEvent> seen = new ListAppender<>();
        seen.start();
        log.addAppender(seen);
        try (S3ProxyFixture s3 = S3ProxyFixture.startInMemory();
                FaultProxy proxy = FaultProxy.start(s3.port());
                Caskade db = Caskade.open(
                        tmp.resolve("src"), CaskadeOptions.defaults().withDurability(Durability.NONE))) {
            s3.createBucket("caskade-log");
            BreakerOptions noRetry = BreakerOptions.defaults()
                    .withBreaker(4, 50f, 4, Duration.ofMillis(200), 1)
                    .withRetry(1, Duration.ofMillis(1), Duration.ofMillis(1));
            Shipper s = Shipper.live(
                    db,
                    new GuardedStore(
                            S3Store.open("caskade-log", "log", S3ProxyFixture.options(proxy.endpoint())), noRetry),
                    ShipOptions.defaults());
            try (s) {
                db.put("a", "1");
                assertThat(s.syncNow()).isTrue();
                proxy.mode(FaultProxy.fail5xx(503));
                // each tick fails with another message (the object name grows, then the breaker's next probe)
                for (int i = 0; i < 8; i++) {
                    db.put("k" + i, "v");
                    assertThat(s.syncNow()).isFalse();
                }
                assertThat(s.status().lastError()).contains("-00000000000000000009.seg");
                proxy.mode(FaultProxy.pass());
                Thread.sleep(300); // the breaker's open wait
                assertThat(s.syncNow()).isTrue();
            }
        } finally {
            log.detachAppender(seen);
        }
        List<String> warnings = seen.list.stream()
                .filter(e -> e.getLevel() == Level.WARN)
                .map(ILoggingEvent::getFormattedMessage)
                .toList();
        assertThat(warnings).as("warnings: %s", warnings).hasSize(1);
        assertThat(warnings.getFirst()).contains("shipping failed, backlog kept");
        assertThat(seen.list)
                .anySatisfy(e -> assertThat(e.getFormattedMessage()).contains("recovered"));
    }
}
