package dev.caskade;

import java.nio.file.Path;

/** Stored bytes failed a check (CRC, magic, length). The data is never served. */
public class CorruptionException extends CaskadeException {
    private static final long serialVersionUID = 1L;
    private final transient Path file;
    private final long offset;

    /** Damage found in {@code file} at byte {@code offset}. */
    public CorruptionException(String what, Path file, long offset) {
        super(what + ": file=" + file + " offset=" + offset);
        this.file = file;
        this.offset = offset;
    }

    /** The damaged file. */
    public Path file() {
        return file;
    }

    /** The byte offset of the damaged record in {@link #file()}. */
    public long offset() {
        return offset;
    }
}
