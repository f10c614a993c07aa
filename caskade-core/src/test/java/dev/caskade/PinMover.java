package dev.caskade;

import java.nio.file.Path;

/**
 * The child process of {@link PinTest}: {@code <dir> <name> <revision>} opens (creating if need be) the pin of the
 * store in {@code dir}, whose lock another process holds, moves it and prints {@code MOVED <revision>}.
 */
final class PinMover {
    private PinMover() {}

    public static void main(String[] args) {
        Pin pin = Pin.open(Path.of(args[0]), args[1]);
        pin.moveTo(Long.parseLong(args[2]));
        System.out.println("MOVED " + pin.revision());
        System.exit(0);
    }
}
