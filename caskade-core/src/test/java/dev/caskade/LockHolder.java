package dev.caskade;

import java.io.IOException;
import java.nio.file.Path;

/**
 * The child process of {@link LockTest}. {@code hold <dir>}: opens the store, writes its pid under the key
 * {@code holder}, prints {@code HOLDING <pid>} and keeps the store open until it is killed (or its parent dies).
 * {@code probe <dir>}: tries to open the store once and prints {@code LOCKED <holderPid>}, {@code OPENED} or
 * {@code ERROR <exception>}.
 */
final class LockHolder {
    private LockHolder() {}

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[1]);
        long pid = ProcessHandle.current().pid();
        switch (args[0]) {
            case "hold" -> {
                try (Caskade db = Caskade.open(dir)) {
                    db.put("holder", Long.toString(pid));
                    say("HOLDING " + pid);
                    // bounded: a holder nobody kills goes away after two minutes
                    Thread.ofPlatform().daemon().start(() -> {
                        try {
                            Thread.sleep(120_000);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                        Runtime.getRuntime().halt(4);
                    });
                    awaitParentDeath();
                }
            }
            case "probe" -> {
                try (Caskade db = Caskade.open(dir)) {
                    say("OPENED at revision " + db.revision());
                } catch (LockedException e) {
                    say("LOCKED " + e.holderPid());
                } catch (RuntimeException e) {
                    say("ERROR " + e.toString().replace('\n', ' '));
                    e.printStackTrace();
                }
            }
            default -> throw new IllegalArgumentException("mode must be hold or probe: " + args[0]);
        }
        System.exit(0);
    }

    private static void say(String line) {
        System.out.println(line);
        System.out.flush();
    }

    /** The parent keeps our stdin open and never writes to it: EOF means it is gone. */
    private static void awaitParentDeath() {
        try {
            while (System.in.read() != -1) {
                // nothing is ever sent
            }
        } catch (IOException e) {
            // same as EOF
        }
    }
}
