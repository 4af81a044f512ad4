package dev.tandem.speculative;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.backend.BatchRows;
import dev.tandem.backend.KvCache;
import dev.tandem.backend.cpu.CpuBackend;
import dev.tandem.engine.Engine;
import dev.tandem.engine.FinishReason;
import dev.tandem.engine.GenerationRequest;
import dev.tandem.engine.GenerationResult;
import dev.tandem.engine.TokenListener;
import dev.tandem.model.Decoder;
import dev.tandem.model.LlamaConfig;
import dev.tandem.model.LogitsMode;
import dev.tandem.model.ModelWeights;
import dev.tandem.sampling.ReferenceSampling;
import dev.tandem.sampling.SamplingParams;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Sampled SPEED emits exactly the primary's distribution: on a 10-token vocabulary, the empirical
 * joint distribution of the first three tokens over many runs is compared with the exact one,
 * computed from the primary's conditional distributions of every prefix.
 */
class SpeedSamplingDistributionTest {
  static final int VOCAB = 10;
  static final int RUNS = 12_000;
  static final int[] PROMPT = {3, 1, 4};

  @ParameterizedTest(name = "drafter={0}")
  @ValueSource(strings = {"draft-model", "tandem"})
  void firstThreeTokensFollowThePrimaryDistribution(String kind) {
    LlamaConfig pc = new LlamaConfig(VOCAB, 32, 48, 2, 4, 2, 10000.0, 1e-5, SpeedFixtures.CONTEXT, false, "float32");
    ModelWeights primary = ModelWeights.random(pc, 5, 0.3);
    // Drafters that sometimes agree with the primary (perturbed copies; about 20% of drafts are
    // accepted), so both branches of the rejection rule shape the output. Checked: replacing the
    // residual max(0, p - q) by p, or the test u q < p by u < p, fails this test.
    Object drafter = kind.equals("tandem") ? SpeedFixtures.tandemCopy(primary, 6, 0.2)
        : SpeedFixtures.perturbed(primary, 6, 0.2);
    // Temperature 0.8 with top-k 8 and top-p 0.95, so the filtered distributions are what both sides compare;
    // the exact side computes them with ReferenceSampling, not with the Sampler under test.
    SamplingParams params = new SamplingParams(0.8f, 8, 0.95f, 2024);
    double[] exact = exactJoint(primary, params);

    int batch = 8;
    long[] counts = new long[VOCAB * VOCAB * VOCAB];
    SpeedMetrics metrics = new SpeedMetrics();
    try (CpuBackend backend = CpuBackend.fast(2)) {
      Engine speed = SpeedFixtures.speed(primary, drafter, BlockLengthPolicy.fixed(2), backend, batch);
      for (int run = 0; run < RUNS; run += batch) {
        List<GenerationRequest> requests = new ArrayList<>();
        for (int i = 0; i < batch; i++) requests.add(new GenerationRequest(PROMPT, 3, params, -1, run + i));
        for (GenerationResult r : SpeedFixtures.generate(speed, requests, metrics)) {
          int[] t = r.tokens();
          counts[(t[0] * VOCAB + t[1]) * VOCAB + t[2]]++;
        }
      }
      speed.drafter().close();
    }
    // Both outcomes of the accept test must occur, or the test proves little.
    assertThat(metrics.acceptedTokens).isPositive().isLessThan(metrics.draftTokens);

    // Pearson chi-square over the cells with expected count >= 5 (the rest pooled into one cell).
    double chi2 = 0, pooledExpected = 0, pooledObserved = 0;
    int cells = 0;
    for (int c = 0; c < counts.length; c++) {
      double expected = exact[c] * RUNS;
      if (expected >= 5) {
        chi2 += Math.pow(counts[c] - expected, 2) / expected;
        cells++;
      } else {
        pooledExpected += expected;
        pooledObserved += counts[c];
      }
    }
    if (pooledExpected > 0) {
      chi2 += Math.pow(pooledObserved - pooledExpected, 2) / pooledExpected;
      cells++;
    }
    int df = cells - 1;
    double critical = chiSquareQuantile999(df);
    assertThat(chi2).as("chi-square with %d degrees of freedom; the 0.999 quantile %.1f is the threshold, so a"
        + " correct sampler fails with probability 0.001 (and, with fixed seeds, never flakes)", df, critical)
        .isLessThan(critical);
  }

  /** Wilson-Hilferty approximation of the chi-square 0.999 quantile (z = 3.0902). */
  static double chiSquareQuantile999(int df) {
    double z = 3.0902, a = 2.0 / (9 * df);
    return df * Math.pow(1 - a + z * Math.sqrt(a), 3);
  }

  /** P(t1, t2, t3) = p(t1 | prompt) p(t2 | prompt t1) p(t3 | prompt t1 t2), under the sampling filters. */
  static double[] exactJoint(ModelWeights primary, SamplingParams params) {
    double[] joint = new double[VOCAB * VOCAB * VOCAB];
    try (CpuBackend backend = CpuBackend.reference(); Decoder decoder = new Decoder(primary, backend, 64, 8)) {
      double[] p1 = conditional(decoder, params, PROMPT);
      for (int a = 0; a < VOCAB; a++) {
        if (p1[a] == 0) continue;
        double[] p2 = conditional(decoder, params, PROMPT[0], PROMPT[1], PROMPT[2], a);
        for (int b = 0; b < VOCAB; b++) {
          if (p2[b] == 0) continue;
          double[] p3 = conditional(decoder, params, PROMPT[0], PROMPT[1], PROMPT[2], a, b);
          for (int c = 0; c < VOCAB; c++) joint[(a * VOCAB + b) * VOCAB + c] = p1[a] * p2[b] * p3[c];
        }
      }
    }
    return joint;
  }

  static double[] conditional(Decoder decoder, SamplingParams params, int... prefix) {
    KvCache cache = decoder.newCache(1);
    BatchRows rows = new BatchRows(8);
    rows.addSequence(0, prefix, 0, prefix.length, 0);
    decoder.forward(rows, cache, LogitsMode.LAST);
    float[] logits = new float[8 * VOCAB];
    decoder.downloadLogits(logits);
    return ReferenceSampling.distribution(logits, 0, VOCAB, params.temperature(), params.topK(), params.topP());
  }
}
