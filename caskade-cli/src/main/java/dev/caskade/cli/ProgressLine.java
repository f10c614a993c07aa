package dev.caskade.cli;

import dev.caskade.s3.Restore;
import dev.caskade.s3.Verifier;
import java.io.PrintWriter;
import java.util.Locale;

/**
 * Progress of a restore or a verify on stderr: at a terminal one line redrawn in place (at most ten times a second),
 * otherwise a plain line once a second, so that logs stay readable. Objects, bytes and the rate so far.
 */
final class ProgressLine implements Restore.Progress, Verifier.Progress {
    private static final long REDRAW_NANOS = 100_000_000L;
    private static final long LOG_NANOS = 1_000_000_000L;

    private final PrintWriter err;
    private final String what;
    private final boolean terminal;
    private final long start = System.nanoTime();
    private long last = start;
    private int width;
    private String lastLine;

    ProgressLine(PrintWriter err, String what, boolean terminal) {
        this.err = err;
        this.what = what;
        this.terminal = terminal;
    }

    @Override
    public synchronized void update(long objectsDone, long objectsTotal, long bytesDone, long bytesTotal) {
        long now = System.nanoTime();
        if (now - last < (terminal ? REDRAW_NANOS : LOG_NANOS)) return;
        last = now;
        show(line(objectsDone, objectsTotal, bytesDone, bytesTotal, now));
    }

    /** The last state, always shown; at a terminal it ends the redrawn line. */
    synchronized void finish(long objectsDone, long objectsTotal, long bytesDone, long bytesTotal) {
        String line = line(objectsDone, objectsTotal, bytesDone, bytesTotal, System.nanoTime());
        if (terminal) {
            show(line);
            err.println();
            err.flush();
        } else if (lastLine != null && !line.equals(lastLine)) {
            show(line);
        }
    }

    /** Ends a redrawn line without a last state (the work failed or was skipped). */
    synchronized void abandon() {
        if (terminal && lastLine != null) {
            err.println();
            err.flush();
        }
    }

    private void show(String line) {
        lastLine = line;
        if (terminal) {
            // pad over the rest of a longer previous line
            err.print("\r" + line + " ".repeat(Math.max(0, width - line.length())));
            width = line.length();
        } else {
            err.println(line);
        }
        err.flush();
    }

    private String line(long objectsDone, long objectsTotal, long bytesDone, long bytesTotal, long now) {
        double seconds = Math.max(1e-9, (now - start) / 1e9);
        double mb = 1024.0 * 1024.0;
        int percent = bytesTotal <= 0 ? 100 : (int) Math.min(100, bytesDone * 100 / bytesTotal);
        String bar = terminal ? bar(percent) + " " : "";
        return String.format(
                Locale.ROOT,
                "%s: %s%3d%% %d/%d objects, %.1f/%.1f MiB, %.1f MiB/s",
                what,
                bar,
                percent,
                objectsDone,
                objectsTotal,
                bytesDone / mb,
                bytesTotal / mb,
                bytesDone / mb / seconds);
    }

    private static String bar(int percent) {
        int filled = percent / 5;
        return "[" + "#".repeat(filled) + ".".repeat(20 - filled) + "]";
    }
}
