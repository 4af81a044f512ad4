package dev.tandem.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.model.LlamaConfig;
import dev.tandem.model.ModelWeights;
import dev.tandem.train.RecipeRun;
import dev.tandem.train.TrainModel;
import dev.tandem.train.Trainer;
import java.nio.file.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code tandem train drafter-distil}: a plain small model, then distillation against the primary
 * ({@code (1 - w) CE(ground truth) + w CE(primary soft targets)}, w = --soft-weight, default 0.5).
 * Stage 1 is the drafter recipe (cross-entropy, --stage1-steps), or an existing drafter (--init).
 */
@Command(name = "drafter-distil", mixinStandardHelpOptions = true,
    description = "Plain small drafter: cross-entropy stage (or --init DRAFTER), then distillation against the primary.")
public final class TrainDrafterDistilCommand extends SecondaryRecipeCommand {
  @Mixin TrainOptions.ShapeOpts shape;

  @Option(names = "--init", description = "Start stage 2 from this plain drafter (skips stage 1).")
  Path init;

  @Option(names = "--stage1-steps", defaultValue = "0", description = "Cross-entropy updates before distillation.")
  int stage1Steps;

  @Option(names = "--steps", required = true, description = "Distillation updates.")
  int steps;

  @Option(names = "--soft-weight", defaultValue = "0.5", description = "Weight of the primary's soft targets (default: 0.5).")
  float softWeight;

  @Override
  String recipe() {
    return "drafter-distil";
  }

  @Override
  public Integer call() throws Exception {
    if (init == null && stage1Steps < 1) throw new IllegalArgumentException("give --init DRAFTER or --stage1-steps N");
    RecipeRun.Loop loop = loopOpts.loop(2e-3, null);
    try (RecipeRun run = open(2e-3, null)) {
      TrainModel model;
      ObjectNode training;
      if (init != null) {
        model = TrainModel.plain(ModelWeights.load(init));
        training = run.trainingJson(recipe(), commandLine(), model);
        training.put("init", init.toString());
      } else {
        LlamaConfig c = shape.config(primaryWeights.config().vocabSize(), dataOpts.seqLen, 128, 2, 2, 384);
        model = TrainModel.plain(RecipeRun.initialWeights(c, loop.seed()));
        training = run.trainingJson(recipe(), commandLine(), model);
        Trainer.Summary s1 = run.stage("ce", model, null, 1f, 0f, loop, stage1Steps, runOpts.resume);
        RecipeRun.addStage(training, "ce", s1, loop, stage1Steps, 1f, 0f);
      }
      if (model.config.vocabSize() != primaryWeights.config().vocabSize()) {
        throw new IllegalArgumentException("the drafter's vocabulary differs from the primary's");
      }
      Trainer.Summary s2 = run.stage("distil", model, primary, 1 - softWeight, softWeight, loop, steps, runOpts.resume);
      RecipeRun.addStage(training, "distil", s2, loop, steps, 1 - softWeight, softWeight);
      run.savePlain(model, runOpts.out, training);
      System.err.printf("drafter-distil: validation loss %.4f%n", s2.valLoss());
    }
    return 0;
  }
}
