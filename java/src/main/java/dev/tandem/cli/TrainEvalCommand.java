package dev.tandem.cli;

import dev.tandem.model.ModelWeights;
import dev.tandem.secondary.PrimaryFingerprint;
import dev.tandem.train.LanguageModelStep;
import dev.tandem.train.RecipeRun;
import dev.tandem.train.SecondaryEval;
import dev.tandem.train.TrainModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code tandem train eval}: Table 1's metrics for small models on held-out text, in training form. */
@Command(name = "eval", mixinStandardHelpOptions = true,
    description = "Held-out accuracy, cross-entropy, relative accuracy (agreement with the primary's argmax) and TV"
        + " distance of small models against the primary, in training form, on the draft positions p >= b(p).")
public final class TrainEvalCommand implements Callable<Integer> {
  @Mixin TrainOptions.DataOpts dataOpts;

  @Option(names = "--primary", required = true, description = "The primary's model directory.")
  Path primaryDir;

  @Option(names = "--secondary", required = true, description = "Small models (tandem or plain); repeatable.")
  List<Path> secondaries;

  @Option(names = "--block-length", split = ",", defaultValue = "2",
      description = "gamma of the draft positions (default: 2); a list gives one table per gamma.")
  int[] blockLengths;

  @Option(names = "--sequences", defaultValue = "64", description = "Held-out sequences (default: 64).")
  int sequences;

  @Option(names = "--batch", defaultValue = "8", description = "Sequences per forward pass (default: 8).")
  int batch;

  @Option(names = "--run", required = true, description = "Directory for the token cache.")
  Path run;

  @Option(names = "--threads", defaultValue = "0", description = "CPU threads (default: all cores).",
      converter = ThreadCount.class)
  int threads;

  @Override
  public Integer call() throws Exception {
    ModelWeights pw = ModelWeights.load(primaryDir);
    Path tok = primaryDir.resolve("tokenizer.json");
    try (RecipeRun r = new RecipeRun(run, dataOpts.data(Files.isRegularFile(tok) ? tok : null), threads)) {
      PrimaryFingerprint fp = PrimaryFingerprint.of(pw.config(), PrimaryFingerprint.vocabularyHash(r.tokenizer));
      TrainModel primary = TrainModel.plain(pw);
      LanguageModelStep alone = new LanguageModelStep(r.gemm, primary, null, 1f, 0f, batch, dataOpts.seqLen, false);
      System.out.printf(Locale.ROOT, "primary %s: held-out cross-entropy %.4f over all positions of %d sequences%n",
          primaryDir.getFileName(), dev.tandem.train.Trainer.evaluate(alone, r.validationSequences(), sequences, 2),
          Math.min(sequences, r.validationSequences().count()));
      List<TrainModel> models = new java.util.ArrayList<>();
      for (Path s : secondaries) models.add(SecondaryLoader.load(s, fp));
      SecondaryEval.Metrics[][] m = SecondaryEval.evaluateAll(r.gemm, primary, models, r.validationSequences(),
          sequences, batch, blockLengths);
      for (int g = 0; g < blockLengths.length; g++) {
        System.out.printf(Locale.ROOT, "%nHeld-out draft positions p >= b(p), gamma %d (%d positions); primary: accuracy"
            + " %.2f%%, cross-entropy %.4f%n%n", blockLengths[g], m[g][0].positions(), 100 * m[g][0].primaryAccuracy(),
            m[g][0].primaryCrossEntropy());
        System.out.printf(Locale.ROOT, "| model | accuracy | cross-entropy | relative accuracy | TV distance |%n");
        System.out.printf(Locale.ROOT, "|---|---|---|---|---|%n");
        for (int s = 0; s < models.size(); s++) {
          SecondaryEval.Metrics x = m[g][s];
          System.out.printf(Locale.ROOT, "| %s | %.2f%% | %.4f | %.2f%% | %.4f |%n", secondaries.get(s).getFileName(),
              100 * x.accuracy(), x.crossEntropy(), 100 * x.relativeAccuracy(), x.tvDistance());
        }
      }
    }
    return 0;
  }
}
