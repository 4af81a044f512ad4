package dev.tandem.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code tandem data TASK ...}: generated text for controlled experiments. */
@Command(name = "data", mixinStandardHelpOptions = true,
    description = "Generate the text of a controlled task: recall (associative recall, tandem data recall --help).",
    subcommands = {DataRecallCommand.class})
public final class DataCommand implements Runnable {
  @Override
  public void run() {
    new CommandLine(this).usage(System.out);
  }
}
