package dev.caskade;

import java.time.Duration;

/** When a commit's bytes reach the disk. */
public sealed interface Durability {

    /** A commit returns after its bytes are fsynced; concurrent committers share one fsync (group commit). */
    Durability SYNC = new Sync();

    /** A commit returns once the OS has its bytes; nothing is fsynced except on close. */
    Durability NONE = new None();

    /** A commit returns once the OS has its bytes; a background fsync runs every {@code period}. */
    static Durability interval(Duration period) {
        return new Interval(period);
    }

    /** Parses {@code sync}, {@code none} or {@code interval:<millis>}. */
    static Durability parse(String text) {
        String t = text.trim().toLowerCase(java.util.Locale.ROOT);
        if (t.equals("sync")) return SYNC;
        if (t.equals("none")) return NONE;
        if (t.startsWith("interval:")) {
            try {
                return interval(Duration.ofMillis(Long.parseLong(t.substring("interval:".length()))));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("bad durability interval: " + text, e);
            }
        }
        throw new IllegalArgumentException("unknown durability: " + text + " (sync, none or interval:<ms>)");
    }

    /** fsync before every commit returns. */
    record Sync() implements Durability {
        @Override
        public String toString() {
            return "sync";
        }
    }

    /** No fsync until close. */
    record None() implements Durability {
        @Override
        public String toString() {
            return "none";
        }
    }

    /**
     * Periodic fsync.
     *
     * @param period time between two fsyncs; at most this much acknowledged work is lost on power loss
     */
    record Interval(Duration period) implements Durability {
        /** Validates the period. */
        public Interval {
            if (period == null || period.isNegative() || period.isZero()) {
                throw new IllegalArgumentException("durability interval must be positive: " + period);
            }
        }

        @Override
        public String toString() {
            return "interval:" + period.toMillis();
        }
    }
}
