package dev.tandem.testing;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The command line in a child JVM (the test's class path), for tests that kill it with SIGKILL. */
public final class CliProcess {
  private CliProcess() {}

  /** Starts {@code tandem ARGS}; its output goes to {@code log}. */
  public static Process start(Path log, String... args) throws IOException {
    List<String> cmd = new ArrayList<>();
    cmd.add(ProcessHandle.current().info().command().orElse("java"));
    cmd.addAll(List.of("--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx2g",
        "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"), "dev.tandem.cli.Main"));
    cmd.addAll(List.of(args));
    return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
  }

  /** Kills {@code p} as kill -9 does (no shutdown hooks, no finally blocks) and waits for it. */
  public static void kill9(Process p) throws InterruptedException {
    p.destroyForcibly(); // SIGKILL on Linux
    p.waitFor();
  }
}
