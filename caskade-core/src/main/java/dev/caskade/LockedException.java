package dev.caskade;

import java.nio.file.Path;

/** Another process or another open instance in this process already holds the store. */
public class LockedException extends CaskadeException {
    private static final long serialVersionUID = 1L;
    private final long holderPid;

    /** The store at {@code dir} is held by process {@code holderPid} (-1 when unknown). */
    public LockedException(Path dir, long holderPid) {
        super("store is locked: dir=" + dir + " holder pid=" + (holderPid < 0 ? "unknown" : holderPid));
        this.holderPid = holderPid;
    }

    /** The process id of the holder, or -1 when it could not be read. */
    public long holderPid() {
        return holderPid;
    }
}
