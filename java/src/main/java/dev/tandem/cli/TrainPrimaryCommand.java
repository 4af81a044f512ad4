package dev.tandem.cli;

import picocli.CommandLine.Command;

/** {@code tandem train primary}: the large model, from scratch, cross-entropy. */
@Command(name = "primary", mixinStandardHelpOptions = true,
    description = "Train a primary (plain decoder) from scratch with cross-entropy."
        + " Default shape: --hidden 384 --layers 8 --heads 6 --intermediate 1024; --lr 1e-3.")
public final class TrainPrimaryCommand extends PlainRecipeCommand {
  @Override
  String recipe() {
    return "primary";
  }

  @Override
  int[] defaultShape() {
    return new int[] {384, 8, 6, 1024};
  }

  @Override
  double defaultLr() {
    return 1e-3;
  }
}
