package dev.caskade.server;

import java.util.Arrays;

/** Redis glob patterns ({@code * ? [abc] [^a-z] \x}) over raw key bytes. */
final class RespGlob {
    private final byte[] pattern;

    RespGlob(byte[] pattern) {
        this.pattern = pattern;
    }

    /** The literal bytes before the first special character, to narrow a scan to a prefix. */
    byte[] literalPrefix() {
        int i = 0;
        while (i < pattern.length && "*?[\\".indexOf(pattern[i]) < 0) i++;
        return Arrays.copyOf(pattern, i);
    }

    boolean matchesAll() {
        return pattern.length == 1 && pattern[0] == '*';
    }

    /**
     * Greedy matching with one backtrack point (the last star): linear-ish, so a hostile pattern cannot make it
     * exponential.
     */
    boolean matches(byte[] s) {
        int p = 0, i = 0, starP = -1, starI = -1;
        while (i < s.length) {
            if (p < pattern.length && pattern[p] == '*') {
                while (p < pattern.length && pattern[p] == '*') p++;
                if (p == pattern.length) return true;
                starP = p;
                starI = i;
                continue;
            }
            int next = p < pattern.length ? single(p, s[i]) : -1;
            if (next >= 0) {
                p = next;
                i++;
            } else if (starP >= 0) {
                p = starP;
                i = ++starI;
            } else {
                return false;
            }
        }
        while (p < pattern.length && pattern[p] == '*') p++;
        return p == pattern.length;
    }

    /** Matches one byte at pattern position p; returns the next pattern position, or -1. */
    private int single(int p, byte c) {
        byte b = pattern[p];
        if (b == '?') return p + 1;
        if (b == '\\' && p + 1 < pattern.length) return pattern[p + 1] == c ? p + 2 : -1;
        if (b != '[') return b == c ? p + 1 : -1;
        int q = p + 1;
        boolean negate = q < pattern.length && pattern[q] == '^';
        if (negate) q++;
        boolean hit = false;
        while (q < pattern.length && pattern[q] != ']') {
            if (pattern[q] == '\\' && q + 1 < pattern.length) {
                if (pattern[q + 1] == c) hit = true;
                q += 2;
            } else if (q + 2 < pattern.length && pattern[q + 1] == '-' && pattern[q + 2] != ']') {
                int lo = pattern[q] & 0xff, hi = pattern[q + 2] & 0xff, x = c & 0xff;
                if (lo > hi) {
                    int t = lo;
                    lo = hi;
                    hi = t;
                }
                if (x >= lo && x <= hi) hit = true;
                q += 3;
            } else {
                if (pattern[q] == c) hit = true;
                q++;
            }
        }
        // an unclosed class ends at the pattern's end, as in Redis
        int after = q < pattern.length ? q + 1 : q;
        return hit != negate ? after : -1;
    }
}
