package dev.tandem.cli;

import dev.tandem.model.ModelWeights;
import dev.tandem.secondary.PrimaryFingerprint;
import dev.tandem.secondary.TandemConfig;
import dev.tandem.secondary.TandemWeights;
import dev.tandem.train.TrainModel;
import java.io.IOException;
import java.nio.file.Path;

/** Loads a small model for training-side use: a tandem secondary (checked against the primary) or a plain drafter. */
final class SecondaryLoader {
  private SecondaryLoader() {}

  static TrainModel load(Path dir, PrimaryFingerprint primary) throws IOException {
    if (TandemConfig.isTandem(dir.resolve(ModelWeights.CONFIG_FILE))) {
      TandemWeights w = TandemWeights.load(dir);
      w.config().primary().requireMatches(primary, "the secondary " + dir);
      return TrainModel.tandem(w);
    }
    ModelWeights w = ModelWeights.load(dir);
    if (w.config().vocabSize() != primary.vocabSize()) {
      throw new IllegalArgumentException("the drafter " + dir + " has a vocabulary of " + w.config().vocabSize()
          + ", the primary " + primary.vocabSize());
    }
    return TrainModel.plain(w);
  }
}
