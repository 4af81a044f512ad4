package dev.tandem.cli;

import java.nio.file.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code tandem train tandem-distil}: Tandem-Distil. Stage 1 cross-entropy (--stage1-steps, or an
 * existing Tandem-CE secondary with --init), stage 2 {@code 0.5 CE(ground truth) + 0.5 CE(primary)}.
 */
@Command(name = "tandem-distil", mixinStandardHelpOptions = true,
    description = "Tandem secondary: stage 1 cross-entropy (or --init TANDEM_CE), stage 2 0.5 ground truth +"
        + " 0.5 primary soft targets.")
public final class TrainTandemDistilCommand extends TandemRecipeCommand {
  @Option(names = "--init", description = "Start stage 2 from this tandem secondary (skips stage 1).")
  Path init;

  @Option(names = "--stage1-steps", defaultValue = "0", description = "Cross-entropy updates (stage 1).")
  int stage1Steps;

  @Option(names = "--steps", required = true, description = "Distillation updates (stage 2).")
  int steps;

  @Option(names = "--soft-weight", defaultValue = "0.5", description = "Weight of the primary's soft targets (default: 0.5).")
  float softWeight;

  @Override
  String recipe() {
    return "tandem-distil";
  }

  @Override
  public Integer call() throws Exception {
    if (init == null && stage1Steps < 1) throw new IllegalArgumentException("give --init TANDEM_CE or --stage1-steps N");
    train(2e-3, init, init == null ? stage1Steps : 0, steps, softWeight);
    return 0;
  }
}
