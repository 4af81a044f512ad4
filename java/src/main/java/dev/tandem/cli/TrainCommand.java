package dev.tandem.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code tandem train RECIPE ...}: the training recipes (DESIGN.md section 1). */
@Command(name = "train", mixinStandardHelpOptions = true,
    description = "Train models: tokenizer, primary, drafter, drafter-distil, tandem-ce, tandem-distil, router,"
        + " eval (held-out metrics of a secondary in training form) and bench (training throughput).",
    subcommands = {TrainTokenizerCommand.class, TrainPrimaryCommand.class, TrainDrafterCommand.class,
        TrainDrafterDistilCommand.class, TrainTandemCeCommand.class, TrainTandemDistilCommand.class,
        TrainRouterCommand.class, TrainEvalCommand.class, TrainBenchCommand.class})
public final class TrainCommand implements Runnable {
  @Override
  public void run() {
    new CommandLine(this).usage(System.out);
  }
}
