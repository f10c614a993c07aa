package dev.caskade.cli;

import dev.caskade.Caskade;
import dev.caskade.VerifyReport;
import java.io.PrintWriter;
import java.nio.file.Files;
import picocli.CommandLine.Command;

@Command(
        name = "verify",
        description = {
            "Check the store for damage; exits with 2 when anything is damaged.",
            "Checks every entry's CRC, every hint file and the key directory against the log."
        })
final class VerifyCommand extends StoreCommand {

    @Override
    int run() {
        if (!Files.isDirectory(data)) return fail(Main.FAILED, "no store at " + data + " (use --data DIR)");
        VerifyReport report = Caskade.verify(data);
        PrintWriter out = out();
        if (json) {
            out.println(Json.object()
                    .add("ok", report.ok())
                    .add("segments", report.segments())
                    .add("entries", report.entries())
                    .add("hints", report.hints())
                    .add("keys", report.keys())
                    .addRaw(
                            "problems",
                            Json.array(
                                    report.problems().stream().map(Json::quote).toList())));
        } else {
            out.println("segments  " + report.segments());
            out.println("entries   " + report.entries());
            out.println("hints     " + report.hints());
            out.println("keys      " + report.keys());
            for (String problem : report.problems()) out.println("problem   " + problem);
            out.println(report.ok() ? "ok" : "damaged");
        }
        out.flush();
        if (report.ok()) return Main.OK;
        return fail(Main.DAMAGED, "store is damaged: " + report.problems().size() + " problem(s) in " + data);
    }
}
