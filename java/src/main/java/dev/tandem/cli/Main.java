package dev.tandem.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point of the {@code tandem} command line. Only this package exits the JVM. */
@Command(name = "tandem", mixinStandardHelpOptions = true, version = "tandem 0.1.0",
    description = "Inference engine and trainer for Tandem Transformers and Tandem + SPEED.",
    subcommands = {})
public final class Main implements Runnable {
  public static void main(String[] args) {
    System.exit(new CommandLine(new Main()).execute(args));
  }

  @Override
  public void run() {
    new CommandLine(this).usage(System.out);
  }
}
