package dev.tandem.cli;

import dev.tandem.model.ModelWeights;
import dev.tandem.secondary.PrimaryFingerprint;
import dev.tandem.train.RecipeRun;
import dev.tandem.train.TrainModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** A small model trained against a frozen primary (its states, its logits or both). */
abstract class SecondaryRecipeCommand implements Callable<Integer> {
  @Mixin TrainOptions.DataOpts dataOpts;
  @Mixin TrainOptions.LoopOpts loopOpts;
  @Mixin TrainOptions.RunOpts runOpts;

  @Option(names = "--primary", required = true, description = "The primary's model directory (frozen).")
  Path primaryDir;

  @Spec CommandSpec spec;

  ModelWeights primaryWeights;
  TrainModel primary;

  abstract String recipe();

  /** Loads the primary; the tokenizer defaults to the primary's tokenizer.json. */
  RecipeRun open(double defaultLr, int[] blockLengths) throws Exception {
    primaryWeights = ModelWeights.load(primaryDir);
    primary = TrainModel.plain(primaryWeights);
    Path tok = primaryDir.resolve("tokenizer.json");
    RecipeRun run = new RecipeRun(runOpts.run, runOpts.out, dataOpts.data(Files.isRegularFile(tok) ? tok : null),
        loopOpts.threads);
    if (run.tokenizer.vocabSize() > primaryWeights.config().vocabSize()) {
      run.close();
      throw new IllegalArgumentException("the tokenizer has " + run.tokenizer.vocabSize() + " tokens, the primary only "
          + primaryWeights.config().vocabSize());
    }
    return run;
  }

  String vocabularyHash(RecipeRun run) {
    return PrimaryFingerprint.vocabularyHash(run.tokenizer);
  }

  String commandLine() {
    return TrainOptions.invocation(spec);
  }
}
