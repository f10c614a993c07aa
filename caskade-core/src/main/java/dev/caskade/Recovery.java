package dev.caskade;

import java.util.List;

/**
 * What {@link Caskade#open} had to repair.
 *
 * @param truncatedBytes bytes cut from the torn tail of the active segment (a crash mid-write)
 * @param droppedEntries entries in that tail, including those of an incomplete batch
 * @param skippedEntries damaged entries skipped in repair mode
 * @param hintFallbacks hint files that were missing or bad, so their segment was scanned instead
 * @param notes one line per repair, naming the file and offset
 */
public record Recovery(
        long truncatedBytes, long droppedEntries, long skippedEntries, int hintFallbacks, List<String> notes) {

    /** True when nothing had to be repaired or dropped. */
    public boolean clean() {
        return truncatedBytes == 0 && droppedEntries == 0 && skippedEntries == 0;
    }
}
