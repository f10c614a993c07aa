package dev.caskade.bench;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What every benchmark class shares: one JVM setup for all engines (same heap, GC and module flags), the dev run
 * lengths (bench/run.sh overrides them on the command line), and opening/removing the engine's data directory.
 * JMH applies these class annotations to the subclasses.
 */
@Fork(
        value = 1,
        jvmArgsAppend = {
            "-Xms3g",
            "-Xmx3g",
            "-XX:+AlwaysPreTouch",
            "--enable-native-access=ALL-UNNAMED",
            "--sun-misc-unsafe-memory-access=allow",
            // lmdbjava reaches into direct ByteBuffers
            "--add-opens=java.base/java.nio=ALL-UNNAMED",
            // Chronicle Map's usual set
            "--add-exports=java.base/jdk.internal.ref=ALL-UNNAMED",
            "--add-exports=java.base/sun.nio.ch=ALL-UNNAMED",
            "--add-exports=jdk.unsupported/sun.misc=ALL-UNNAMED",
            "--add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
            "--add-opens=jdk.compiler/com.sun.tools.javac=ALL-UNNAMED",
            "--add-opens=java.base/java.lang=ALL-UNNAMED",
            "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
            "--add-opens=java.base/java.io=ALL-UNNAMED",
            "--add-opens=java.base/java.util=ALL-UNNAMED",
            "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
            "-Dchronicle.analytics.disable=true",
            "-Dchronicle.disk.monitor.disable=true"
        })
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
@OutputTimeUnit(TimeUnit.SECONDS)
public abstract class EngineBench {
    protected Workload workload;
    protected Engine store;
    private Path dir;

    protected final void open(String name, boolean durable) throws IOException {
        workload = Workload.standard();
        dir = BenchDir.create(name);
        store = Engine.open(name, dir, durable, workload);
    }

    protected final void close() {
        try {
            if (store != null) store.close();
        } finally {
            store = null;
            BenchDir.delete(dir);
        }
    }
}
