package dev.tandem.cli;

import picocli.CommandLine.Command;

/** {@code tandem train drafter}: a plain small model, from scratch, cross-entropy. */
@Command(name = "drafter", mixinStandardHelpOptions = true,
    description = "Train a plain small drafter from scratch with cross-entropy (use the primary's tokenizer)."
        + " Default shape: --hidden 128 --layers 2 --heads 2 --intermediate 384; --lr 2e-3.")
public final class TrainDrafterCommand extends PlainRecipeCommand {
  @Override
  String recipe() {
    return "drafter";
  }

  @Override
  int[] defaultShape() {
    return new int[] {128, 2, 2, 384};
  }

  @Override
  double defaultLr() {
    return 2e-3;
  }
}
