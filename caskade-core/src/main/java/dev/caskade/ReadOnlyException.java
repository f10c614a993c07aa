package dev.caskade;

/** A write was refused because this store is a read-only follower: writes go to its primary. Nothing was written. */
public class ReadOnlyException extends CaskadeException {
    private static final long serialVersionUID = 1L;

    public ReadOnlyException(String message) {
        super(message);
    }
}
