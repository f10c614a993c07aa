package dev.caskade.cli;

import dev.caskade.s3.BreakerOptions;
import java.time.Duration;
import java.util.List;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Option;
import picocli.CommandLine.TypeConversionException;

/** How a shipper ships: {@code serve --replicate-to} and {@code replicate} share these. Null: not given. */
final class ShipFlags {
    /** The environment variables behind the flags. */
    static final List<String> VARIABLES =
            List.of("CASKADE_SYNC_INTERVAL", "CASKADE_SNAPSHOT_INTERVAL", "CASKADE_RETENTION", "CASKADE_BREAKER");

    @Option(
            names = "--sync-interval",
            paramLabel = "DURATION",
            converter = StoreCommand.PositiveDurationConverter.class,
            description = "Ship new commits this often: the most a lost machine costs (default: 1s;"
                    + " env CASKADE_SYNC_INTERVAL).")
    Duration syncInterval;

    @Option(
            names = "--snapshot-interval",
            paramLabel = "DURATION",
            converter = StoreCommand.PositiveDurationConverter.class,
            description = "Upload a fresh snapshot this often (default: 24h; env CASKADE_SNAPSHOT_INTERVAL).")
    Duration snapshotInterval;

    @Option(
            names = "--retention",
            paramLabel = "DURATION",
            converter = StoreCommand.PositiveDurationConverter.class,
            description = "Keep objects restorable this long; the newest snapshot always stays (default: 72h;"
                    + " env CASKADE_RETENTION).")
    Duration retention;

    @Option(
            names = "--breaker",
            paramLabel = "SPEC",
            converter = BreakerConverter.class,
            description = "Retry and circuit breaker of each destination as key=value pairs, e.g."
                    + " window=20,failure-rate=50,open-wait=10s,attempts=3 (keys: " + BreakerOptions.KEYS
                    + "; env CASKADE_BREAKER).")
    BreakerOptions breaker;

    /** {@code --breaker window=20,open-wait=10s,...}. */
    static final class BreakerConverter implements ITypeConverter<BreakerOptions> {
        @Override
        public BreakerOptions convert(String text) {
            try {
                return BreakerOptions.parse(text);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }
}
