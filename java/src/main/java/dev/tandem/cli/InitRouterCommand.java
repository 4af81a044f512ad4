package dev.tandem.cli;

import dev.tandem.model.ModelWeights;
import dev.tandem.secondary.RouterConfig;
import dev.tandem.secondary.RouterWeights;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code tandem init-router}: a router with random weights for a drafter (it runs; it is not trained). */
@Command(name = "init-router", mixinStandardHelpOptions = true,
    description = "Write a router with random weights for a drafter (tests and benchmarks).")
public final class InitRouterCommand implements Callable<Integer> {
  @Option(names = "--drafter", required = true, description = "The drafter (secondary) directory it serves.")
  Path drafter;

  @Option(names = "--out", required = true, description = "Output router directory.")
  Path out;

  @Option(names = "--top-k", defaultValue = "8", description = "Top-k probabilities and embeddings as features.")
  int topK;

  @Option(names = "--hidden", defaultValue = "64", description = "Hidden width of the MLP.")
  int hidden;

  @Option(names = "--threshold", defaultValue = "0.5", description = "Stop drafting above this predicted disagreement (default: 0.5).")
  float threshold;

  @Option(names = "--seed", defaultValue = "0", description = "Random seed.")
  long seed;

  @Override
  public Integer call() throws Exception {
    var config = ModelWeights.load(drafter).config();
    RouterWeights.random(new RouterConfig(topK, config.hiddenSize(), hidden, threshold, config.vocabSize()), seed)
        .save(out);
    System.out.println("wrote " + out + ": a router with RANDOM weights for " + drafter);
    return 0;
  }
}
