package dev.caskade;

import java.util.List;

/**
 * What {@link Caskade#verify()} found.
 *
 * @param segments segment files checked
 * @param entries log entries whose CRC was checked
 * @param hints hint files checked against their segments
 * @param keys keys in the key directory checked against the log
 * @param problems every problem found, each naming its file and offset; empty when the store is sound
 */
public record VerifyReport(int segments, long entries, int hints, long keys, List<String> problems) {

    /** True when nothing is wrong. */
    public boolean ok() {
        return problems.isEmpty();
    }
}
