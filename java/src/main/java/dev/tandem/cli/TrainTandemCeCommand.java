package dev.tandem.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code tandem train tandem-ce}: Tandem-CE, cross-entropy on the ground truth. */
@Command(name = "tandem-ce", mixinStandardHelpOptions = true,
    description = "Tandem secondary trained with cross-entropy on the ground truth (primary frozen)."
        + " Default shape: --hidden 128 --layers 2 --heads 2 --intermediate 384; --lr 2e-3; --block-length 2.")
public final class TrainTandemCeCommand extends TandemRecipeCommand {
  @Option(names = "--steps", required = true, description = "Updates.")
  int steps;

  @Override
  String recipe() {
    return "tandem-ce";
  }

  @Override
  public Integer call() throws Exception {
    train(2e-3, null, steps, 0, 0f);
    return 0;
  }
}
