package dev.tandem.benchmark;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code tandem bench ...}: end-to-end benchmarks. */
@Command(name = "bench", mixinStandardHelpOptions = true, description = "Benchmarks.",
    subcommands = {DecodeBenchCommand.class, KernelBenchCommand.class, PaperBenchCommand.class,
        ServeBenchCommand.class})
public final class BenchCommand implements Runnable {
  @Override
  public void run() {
    new CommandLine(this).usage(System.out);
  }
}
