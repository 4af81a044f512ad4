package dev.tandem.cli;

import dev.tandem.sampling.SamplingParams;
import picocli.CommandLine.Option;

/** --greedy, or --temperature/--top-k/--top-p/--seed. */
public final class SamplingOptions {
  @Option(names = "--greedy", description = "Greedy decoding (the default unless --temperature is given).")
  boolean greedy;

  @Option(names = "--temperature", description = "Sampling temperature (> 0 samples; 0 = greedy).")
  Float temperature;

  @Option(names = "--top-k", description = "Keep the k most likely tokens (0 = off).", defaultValue = "0")
  int topK;

  @Option(names = "--top-p", description = "Nucleus sampling mass in (0, 1] (1 = off).", defaultValue = "1")
  float topP;

  @Option(names = "--seed", description = "Random seed for sampling.", defaultValue = "0")
  long seed;

  SamplingParams params() {
    if (greedy && temperature != null && temperature != 0f) {
      throw new IllegalArgumentException("--greedy and --temperature " + temperature + " contradict each other");
    }
    if (greedy || temperature == null) {
      if (topK != 0 || topP != 1f) {
        throw new IllegalArgumentException("--top-k/--top-p need sampling: give --temperature > 0");
      }
      return SamplingParams.greedy();
    }
    return new SamplingParams(temperature, topK, topP, seed);
  }
}
