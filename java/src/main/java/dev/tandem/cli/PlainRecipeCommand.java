package dev.tandem.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.model.LlamaConfig;
import dev.tandem.model.ModelWeights;
import dev.tandem.train.RecipeRun;
import dev.tandem.train.TrainModel;
import dev.tandem.train.Trainer;
import java.util.concurrent.Callable;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** A plain decoder trained from scratch with cross-entropy: the primary and drafter recipes. */
abstract class PlainRecipeCommand implements Callable<Integer> {
  @Mixin TrainOptions.DataOpts dataOpts;
  @Mixin TrainOptions.ShapeOpts shape;
  @Mixin TrainOptions.LoopOpts loopOpts;
  @Mixin TrainOptions.RunOpts runOpts;

  @Option(names = "--steps", required = true, description = "Updates.")
  int steps;

  @Option(names = "--init", description = "Continue from this plain model (a fresh optimizer and schedule; the shape"
      + " options are ignored), e.g. a second stage with a warm restart of the learning rate.")
  java.nio.file.Path init;

  @Spec CommandSpec spec;

  abstract String recipe();

  /** Default shape: hidden, layers, heads, intermediate; and learning rate. */
  abstract int[] defaultShape();

  abstract double defaultLr();

  @Override
  public Integer call() throws Exception {
    RecipeRun.Data data = dataOpts.data(null);
    RecipeRun.Loop loop = loopOpts.loop(defaultLr(), null);
    try (RecipeRun run = new RecipeRun(runOpts.run, runOpts.out, data, loopOpts.threads)) {
      int[] s = defaultShape();
      TrainModel model;
      if (init != null) {
        ModelWeights w = ModelWeights.load(init);
        model = TrainModel.plain(new ModelWeights(w.config().withDtype("float32"), w.tensors()));
        if (model.config.vocabSize() < run.tokenizer.vocabSize()) {
          throw new IllegalArgumentException(init + " has a vocabulary of " + model.config.vocabSize()
              + ", the tokenizer " + run.tokenizer.vocabSize());
        }
      } else {
        LlamaConfig config = shape.config(run.tokenizer.vocabSize(), data.seqLen(), s[0], s[1], s[2], s[3]);
        model = TrainModel.plain(RecipeRun.initialWeights(config, loop.seed()));
      }
      Trainer.Summary summary = run.stage("ce", model, null, 1f, 0f, loop, steps, runOpts.resume);
      ObjectNode training = run.trainingJson(recipe(), TrainOptions.invocation(spec), model);
      if (init != null) training.put("init", init.toString());
      RecipeRun.addStage(training, "ce", summary, loop, steps, 1f, 0f);
      run.savePlain(model, runOpts.out, training);
      System.err.printf("%s: validation loss %.4f after %d updates, %.0f s of training%n", recipe(), summary.valLoss(),
          summary.steps(), summary.elapsedSeconds());
    }
    return 0;
  }
}
