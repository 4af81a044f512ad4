package dev.tandem.cli;

import dev.tandem.model.ModelWeights;
import dev.tandem.tandem.PrimaryFingerprint;
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

  @Option(names = "--block-length", defaultValue = "2", description = "gamma of the draft positions (default: 2).")
  int blockLength;

  @Option(names = "--sequences", defaultValue = "64", description = "Held-out sequences (default: 64).")
  int sequences;

  @Option(names = "--batch", defaultValue = "8", description = "Sequences per forward pass (default: 8).")
  int batch;

  @Option(names = "--run", required = true, description = "Directory for the token cache.")
  Path run;

  @Option(names = "--threads", defaultValue = "0", description = "CPU threads (default: all cores).")
  int threads;

  @Override
  public Integer call() throws Exception {
    ModelWeights pw = ModelWeights.load(primaryDir);
    Path tok = primaryDir.resolve("tokenizer.json");
    try (RecipeRun r = new RecipeRun(run, dataOpts.data(Files.isRegularFile(tok) ? tok : null), threads)) {
      PrimaryFingerprint fp = PrimaryFingerprint.of(pw.config(), PrimaryFingerprint.vocabularyHash(r.tokenizer));
      TrainModel primary = TrainModel.plain(pw);
      System.out.printf(Locale.ROOT, "| model | accuracy | cross-entropy | relative accuracy | TV distance |%n");
      System.out.printf(Locale.ROOT, "|---|---|---|---|---|%n");
      SecondaryEval.Metrics last = null;
      for (Path s : secondaries) {
        TrainModel model = SecondaryLoader.load(s, fp);
        LanguageModelStep step = new LanguageModelStep(r.gemm, model, primary, 1f, 0f, batch, dataOpts.seqLen, false);
        SecondaryEval.Metrics m = SecondaryEval.evaluate(step, r.validationSequences(), sequences, blockLength);
        System.out.printf(Locale.ROOT, "| %s | %.2f%% | %.4f | %.2f%% | %.4f |%n", s.getFileName(), 100 * m.accuracy(),
            m.crossEntropy(), 100 * m.relativeAccuracy(), m.tvDistance());
        last = m;
      }
      if (last != null) {
        System.out.printf(Locale.ROOT, "%nprimary on the same %d positions (gamma %d): accuracy %.2f%%, cross-entropy"
            + " %.4f%n", last.positions(), blockLength, 100 * last.primaryAccuracy(), last.primaryCrossEntropy());
      }
    }
    return 0;
  }
}
