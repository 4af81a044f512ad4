package dev.tandem.cli;

import dev.tandem.backend.Backend;
import dev.tandem.engine.GenerationRequest;
import dev.tandem.engine.GenerationResult;
import dev.tandem.engine.Generator;
import dev.tandem.engine.TokenListener;
import dev.tandem.model.Decoder;
import dev.tandem.model.ModelWeights;
import dev.tandem.spec.SpeculativeGenerator;
import dev.tandem.spec.SpeedMetrics;
import dev.tandem.spec.SpeedResult;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Runs the primary alone and SPEED on the same requests in one process, each after a short warm-up
 * run (JIT, device modules), and compares decode rates: tokens after each sequence's first, over
 * the decode phase (prefill excluded), for both.
 */
final class SpeedComparison {
  private SpeedComparison() {}

  /** Tokens per request and the decode rate of one configuration. */
  record Run(List<int[]> tokens, double tokensPerSecond, SpeedMetrics metrics) {}

  private static List<GenerationRequest> warmUp(List<GenerationRequest> requests) {
    GenerationRequest first = requests.getFirst();
    return List.of(new GenerationRequest(first.prompt(), Math.min(8, first.maxTokens()), first.sampling(), -1, 0));
  }

  static Run primaryAlone(Backend backend, ModelWeights primary, int contextLength, List<GenerationRequest> requests) {
    try (Decoder decoder = new Decoder(primary, backend, contextLength, 256)) {
      Generator generator = new Generator(decoder);
      generator.generate(warmUp(requests), TokenListener.NONE);
      List<GenerationResult> results = generator.generate(requests, TokenListener.NONE);
      long nanos = 0, tokens = 0;
      List<int[]> out = new ArrayList<>();
      for (GenerationResult g : results) {
        nanos = Math.max(nanos, g.decodeNanos());
        tokens += Math.max(0, g.tokens().length - 1);
        out.add(g.tokens());
      }
      return new Run(out, nanos == 0 ? 0 : tokens * 1e9 / nanos, null);
    }
  }

  static Run speed(SpeculativeGenerator speed, List<GenerationRequest> requests) {
    speed.generate(warmUp(requests), TokenListener.NONE);
    SpeedMetrics totals = new SpeedMetrics();
    List<int[]> out = new ArrayList<>();
    for (SpeedResult r : speed.generate(requests, TokenListener.NONE, totals)) out.add(r.tokens());
    return new Run(out, totals.decodeTokensPerSecond(), totals);
  }

  /**
   * The primary alone over the requests one at a time (batch 1): every request's tokens, and the decode
   * rate over all of them (their tokens over their summed decode times).
   */
  static Run primaryAloneEach(Backend backend, ModelWeights primary, int contextLength,
      List<GenerationRequest> requests) {
    List<int[]> tokens = new ArrayList<>();
    double generated = 0, seconds = 0;
    for (GenerationRequest r : requests) {
      Run run = primaryAlone(backend, primary, contextLength, List.of(r));
      int[] t = run.tokens().getFirst();
      tokens.add(t);
      generated += t.length - 1;
      seconds += (t.length - 1) / run.tokensPerSecond();
    }
    return new Run(tokens, generated / seconds, new SpeedMetrics());
  }

  /** SPEED over the requests one at a time (batch 1): every request's tokens, summed metrics, their rate. */
  static Run speedEach(SpeculativeGenerator speed, List<GenerationRequest> requests) {
    List<int[]> tokens = new ArrayList<>();
    SpeedMetrics totals = new SpeedMetrics();
    for (GenerationRequest r : requests) {
      Run run = speed(speed, List.of(r));
      tokens.add(run.tokens().getFirst());
      totals.add(run.metrics());
    }
    return new Run(tokens, totals.decodeTokensPerSecond(), totals);
  }

  /** The median (the mean of the middle two for an even count). */
  static double median(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    int n = sorted.length;
    return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  }

  static boolean identical(Run a, Run b) {
    for (int i = 0; i < a.tokens().size(); i++) {
      if (!Arrays.equals(a.tokens().get(i), b.tokens().get(i))) return false;
    }
    return true;
  }
}
