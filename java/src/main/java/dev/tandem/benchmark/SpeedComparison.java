package dev.tandem.benchmark;

import dev.tandem.backend.Backend;
import dev.tandem.engine.Engine;
import dev.tandem.engine.EngineBuilder;
import dev.tandem.engine.GenerationRequest;
import dev.tandem.engine.GenerationResult;
import dev.tandem.engine.TokenListener;
import dev.tandem.model.ModelWeights;
import dev.tandem.speculative.SpeedMetrics;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Runs engines (the primary alone, SPEED with a drafter) on the same requests in one process, each
 * after a short warm-up run (JIT, device modules), and compares decode rates: tokens after each
 * sequence's first, over the decode phase (from the first request's first token to the last
 * request's last; prefill excluded), for every configuration alike.
 */
public final class SpeedComparison {
  private SpeedComparison() {}

  /** Tokens per request, the decode rate and the summed counters of one configuration. */
  public record Run(List<int[]> tokens, double tokensPerSecond, SpeedMetrics metrics) {}

  private static List<GenerationRequest> warmUp(List<GenerationRequest> requests) {
    GenerationRequest first = requests.getFirst();
    return List.of(new GenerationRequest(first.prompt(), Math.min(8, first.maxTokens()), first.sampling(), -1, 0));
  }

  /** An engine of the primary alone for {@code slots} requests at once. */
  public static Engine primaryEngine(Backend backend, ModelWeights primary, int contextLength, int slots) throws IOException {
    return EngineBuilder.primary(primary, null).backend(backend).context(contextLength).slots(slots).build();
  }

  public static Run primaryAlone(Backend backend, ModelWeights primary, int contextLength, List<GenerationRequest> requests)
      throws IOException {
    try (Engine engine = primaryEngine(backend, primary, contextLength, requests.size())) {
      return run(engine, requests);
    }
  }

  /** The requests submitted together to a warmed-up engine. */
  public static Run run(Engine engine, List<GenerationRequest> requests) {
    engine.generateAll(warmUp(requests), TokenListener.NONE);
    SpeedMetrics before = copy(engine.totals());
    List<GenerationResult> results = engine.generateAll(requests, TokenListener.NONE);
    return summarise(results, engine.totals(), before);
  }

  /** The requests one at a time (batch 1): every request's tokens, summed counters, the rate over all of them. */
  public static Run runEach(Engine engine, List<GenerationRequest> requests) {
    engine.generateAll(warmUp(requests), TokenListener.NONE);
    List<int[]> tokens = new ArrayList<>();
    SpeedMetrics totals = new SpeedMetrics();
    for (GenerationRequest r : requests) {
      SpeedMetrics before = copy(engine.totals());
      Run run = summarise(engine.generateAll(List.of(r), TokenListener.NONE), engine.totals(), before);
      tokens.add(run.tokens().getFirst());
      totals.add(run.metrics());
    }
    return new Run(tokens, totals.decodeTokensPerSecond(), totals);
  }

  /** Counters of a run: the requests' own, the decode span, and the engine's times added during the run. */
  public static Run summarise(List<GenerationResult> results, SpeedMetrics engineAfter, SpeedMetrics engineBefore) {
    SpeedMetrics m = new SpeedMetrics();
    long firstToken = Long.MAX_VALUE, lastToken = 0;
    List<int[]> tokens = new ArrayList<>();
    for (GenerationResult r : results) {
      m.add(r.metrics());
      tokens.add(r.tokens());
      if (r.timing().firstTokenNanos() != 0) {
        firstToken = Math.min(firstToken, r.timing().firstTokenNanos());
        lastToken = Math.max(lastToken, r.timing().finishNanos());
      }
    }
    m.prefillNanos = engineAfter.prefillNanos - engineBefore.prefillNanos;
    m.draftNanos = engineAfter.draftNanos - engineBefore.draftNanos;
    m.verifyNanos = engineAfter.verifyNanos - engineBefore.verifyNanos;
    m.refreshNanos = engineAfter.refreshNanos - engineBefore.refreshNanos;
    m.decodeNanos = lastToken > firstToken ? lastToken - firstToken : 0;
    return new Run(tokens, m.decodeTokensPerSecond(), m);
  }

  private static SpeedMetrics copy(SpeedMetrics m) {
    SpeedMetrics c = new SpeedMetrics();
    c.add(m);
    return c;
  }

  /** The median (the mean of the middle two for an even count). */
  public static double median(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    int n = sorted.length;
    return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  }

  public static boolean identical(Run a, Run b) {
    for (int i = 0; i < a.tokens().size(); i++) {
      if (!Arrays.equals(a.tokens().get(i), b.tokens().get(i))) return false;
    }
    return true;
  }
}
