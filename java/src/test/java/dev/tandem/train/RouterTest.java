package dev.tandem.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.tandem.backend.cpu.WorkerPool;
import dev.tandem.io.DType;
import dev.tandem.model.LlamaConfig;
import dev.tandem.model.ModelWeights;
import dev.tandem.secondary.PrimaryFingerprint;
import dev.tandem.secondary.TandemConfig;
import dev.tandem.secondary.TandemWeights;
import dev.tandem.train.data.PackedSequences;
import dev.tandem.secondary.RouterConfig;
import dev.tandem.secondary.RouterFeatures;
import dev.tandem.secondary.RouterWeights;
import java.io.IOException;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The router: features, the MLP's backward against finite differences, the checkpoint round trip. */
class RouterTest {
  static final WorkerPool POOL = new WorkerPool(2);

  @AfterAll
  static void close() {
    POOL.close();
  }

  @Test
  void featuresAreEntropyTopKProbabilitiesAndEmbeddings() {
    float[] logits = {0f, 2f, 1f, 2f, -1f};  // tie between ids 1 and 3: the lower id first
    int vocab = 5, d = 2, k = 3;
    float[] emb = {0, 0, 10, 11, 20, 21, 30, 31, 40, 41};
    float[] out = new float[1 + k + k * d];
    RouterFeatures.compute(logits, 0, vocab, k, emb, d, out, 0, new int[k]);
    double z = 0;
    for (float l : logits) z += Math.exp(l);
    double entropy = 0;
    for (float l : logits) entropy -= Math.exp(l) / z * (l - Math.log(z));
    assertThat((double) out[0]).isCloseTo(entropy, within(1e-5));
    assertThat((double) out[1]).isCloseTo(Math.exp(2) / z, within(1e-6));
    assertThat((double) out[2]).isCloseTo(Math.exp(2) / z, within(1e-6));
    assertThat((double) out[3]).isCloseTo(Math.exp(1) / z, within(1e-6));
    assertThat(new float[] {out[4], out[5], out[6], out[7], out[8], out[9]}).containsExactly(10, 11, 30, 31, 20, 21);
  }

  @Test
  void featuresOfALargeVocabularyMatchTheDoublePrecisionFormula() {
    // Vocabulary 2051 at offset 3: the vector lanes and the scalar tail both count.
    SplittableRandom r = new SplittableRandom(8);
    int vocab = 2051, d = 3, k = 4, at = 3;
    float[] logits = new float[at + vocab];
    for (int v = 0; v < logits.length; v++) logits[v] = (float) (4 * r.nextGaussian());
    logits[at + vocab - 1] = 15f;  // the most probable token sits in the tail
    float[] emb = new float[vocab * d];
    for (int i = 0; i < emb.length; i++) emb[i] = i;
    float[] out = new float[1 + k + k * d];
    int[] top = new int[k];
    RouterFeatures.compute(logits, at, vocab, k, emb, d, out, 0, top);
    double max = Double.NEGATIVE_INFINITY, z = 0, entropy = 0;
    for (int v = 0; v < vocab; v++) max = Math.max(max, logits[at + v]);
    for (int v = 0; v < vocab; v++) z += Math.exp(logits[at + v] - max);
    for (int v = 0; v < vocab; v++) {
      double logP = logits[at + v] - max - Math.log(z);
      entropy -= Math.exp(logP) * logP;
    }
    assertThat((double) out[0]).isCloseTo(entropy, within(1e-5));
    assertThat(top[0]).isEqualTo(vocab - 1);
    assertThat((double) out[1]).isCloseTo(Math.exp(15 - max) / z, within(1e-6));
    assertThat(out[1 + k]).isEqualTo((vocab - 1) * d);
  }

  /** A router whose prediction is sigmoid(feature 0): features [logit(r), 0, 0] predict r exactly. */
  static RouterWeights echo() {
    RouterConfig c = new RouterConfig(1, 1, 1, 0.5, 4);
    float[] std = {1, 1, 1};
    return new RouterWeights(c, new float[3], std, new float[] {1, 0, 0}, new float[] {20}, new float[] {1}, -20f);
  }

  /** Rounds of {@code length} drafts with the given TV labels, the router told each label exactly. */
  static RouterTrainer.Dataset rounds(int length, float[]... labelsPerRound) {
    int n = length * labelsPerRound.length;
    float[] features = new float[n * 3], labels = new float[n];
    int[] offsets = new int[n];
    for (int r = 0; r < labelsPerRound.length; r++) {
      for (int j = 0; j < length; j++) {
        int i = r * length + j;
        labels[i] = labelsPerRound[r][j];
        features[i * 3] = (float) Math.log(labels[i] / (1 - labels[i]));
        offsets[i] = j;
      }
    }
    return new RouterTrainer.Dataset(features, labels, n, 3, offsets, null);
  }

  @Test
  void survivalThresholdReplaysRoundsAndMatchesTheBestFixedGammaWhenEveryDraftLooksAlike() {
    float[] same = new float[15];
    java.util.Arrays.fill(same, 0.2f);
    RouterTrainer.StopChoice choice = RouterTrainer.chooseSurvivalThreshold(echo(), rounds(15, same, same),
        RoundCost.linear(0.04, 0.06), RouterTrainer.Acceptance.SAMPLING);
    // Expected tokens of k drafts: 1 + sum_{i<=k} 0.8^i; cost 1 + 0.1 k.
    int bestK = 0;
    double best = 0;
    for (int k = 1; k <= 15; k++) {
      double tokens = 1;
      for (int i = 1; i <= k; i++) tokens += Math.pow(0.8, i);
      if (tokens / (1 + 0.1 * k) > best) {
        best = tokens / (1 + 0.1 * k);
        bestK = k;
      }
    }
    assertThat(choice.bestFixedGamma()).isEqualTo(bestK);
    // 1e-5: the labels are floats (1 - 0.2f is not 0.8 exactly), the expectation uses 0.8.
    assertThat(choice.bestFixedThroughput()).isCloseTo(best, within(1e-5));
    assertThat(choice.throughput()).isCloseTo(best, within(1e-5));
    assertThat(choice.meanDrafts()).isEqualTo(bestK);
    assertThat(choice.rounds()).isEqualTo(2);
    // Knowing the rounds in advance does not help when they are all alike.
    assertThat(choice.clairvoyantThroughput()).isCloseTo(best, within(1e-5));
  }

  @Test
  void survivalThresholdBeatsEveryFixedGammaWhenThePredictionsSeparateEasyFromHardRounds() {
    float[] easy = new float[12], hard = new float[12];
    java.util.Arrays.fill(easy, 0.02f);
    java.util.Arrays.fill(hard, 0.9f);
    RouterTrainer.StopChoice choice = RouterTrainer.chooseSurvivalThreshold(echo(), rounds(12, easy, hard, easy, hard),
        RoundCost.linear(0.05, 0.1), RouterTrainer.Acceptance.SAMPLING);
    // The easy rounds draft all 12, the hard ones stop after their first draft.
    assertThat(choice.meanDrafts()).isEqualTo(6.5);
    assertThat(choice.throughput()).isGreaterThan(1.2 * choice.bestFixedThroughput());
    assertThatThrownBy(() -> RouterTrainer.chooseSurvivalThreshold(echo(), rounds(12, easy), RoundCost.linear(0, 0.1),
        RouterTrainer.Acceptance.SAMPLING)).isInstanceOf(IllegalArgumentException.class);
  }

  /** Two rounds of 12 drafts, each with a TV distance of 0.2 (the router echoes it) and every argmax agreeing. */
  private static RouterTrainer.Dataset twoAgreeingRounds() {
    float[] middling = new float[12];
    java.util.Arrays.fill(middling, 0.2f);
    RouterTrainer.Dataset tv = rounds(12, middling, middling);
    boolean[] agrees = new boolean[tv.n()];
    java.util.Arrays.fill(agrees, true);
    return new RouterTrainer.Dataset(tv.features(), tv.labels(), tv.n(), tv.featureSize(), tv.offsets(), agrees);
  }

  @Test
  void greedyReplayAcceptsTheDraftsWhoseArgmaxAgrees() {
    RouterTrainer.Dataset data = twoAgreeingRounds();
    boolean[] agrees = data.argmaxAgrees();
    RouterTrainer.Dataset tv = new RouterTrainer.Dataset(data.features(), data.labels(), data.n(), data.featureSize(),
        data.offsets(), null);
    // Every argmax agrees: greedy SPEED accepts all 12 drafts, so drafting all of them is best (1 + k tokens for
    // 1 + 0.15 k); with acceptance 1 - TV = 0.8 about five drafts are best.
    RouterTrainer.StopChoice greedy = RouterTrainer.chooseSurvivalThreshold(echo(), data, RoundCost.linear(0.05, 0.1),
        RouterTrainer.Acceptance.GREEDY);
    assertThat(greedy.bestFixedGamma()).isEqualTo(12);
    assertThat(greedy.bestFixedThroughput()).isCloseTo(13 / 2.8, within(1e-5));
    assertThat(greedy.meanDrafts()).isEqualTo(12);
    RouterTrainer.StopChoice sampling = RouterTrainer.chooseSurvivalThreshold(echo(), data, RoundCost.linear(0.05, 0.1),
        RouterTrainer.Acceptance.SAMPLING);
    assertThat(sampling.bestFixedGamma()).isLessThan(6);
    // The first draft of the second round disagrees: that round yields one token whatever its length.
    agrees[12] = false;
    RouterTrainer.StopChoice oneMiss = RouterTrainer.chooseSurvivalThreshold(echo(), data, RoundCost.linear(0.05, 0.1),
        RouterTrainer.Acceptance.GREEDY);
    assertThat(oneMiss.bestFixedThroughput()).isCloseTo((13 + 1) / (2 + 2 * 12 * 0.15), within(1e-5));
    // Knowing the rounds, the first drafts all 12 and the second stops after one: 14 tokens for 2.8 + 1.15.
    assertThat(oneMiss.clairvoyantThroughput()).isCloseTo(14 / (2.8 + 1.15), within(1e-9));
    assertThat(oneMiss.clairvoyantThroughput()).isGreaterThanOrEqualTo(oneMiss.throughput());
    assertThatThrownBy(() -> RouterTrainer.chooseSurvivalThreshold(echo(), tv, RoundCost.linear(0.05, 0.1),
        RouterTrainer.Acceptance.GREEDY)).hasMessageContaining("argmax");
  }

  @Test
  void aMeasuredPassCostCurveMovesTheBestFixedGammaToItsKnee() {
    RouterTrainer.Dataset data = twoAgreeingRounds();
    // Every draft is accepted: k drafts give 1 + k tokens. With a linear pass cost all 12 drafts pay (see
    // above); with passes of up to 4 positions nearly free and dear after that, 3 drafts are best.
    RoundCost knee = RoundCost.measured(0.05, new double[] {2, 2.04, 2.08, 2.12, 3.2, 4.4});
    RouterTrainer.StopChoice choice = RouterTrainer.chooseSurvivalThreshold(echo(), data, knee,
        RouterTrainer.Acceptance.GREEDY);
    assertThat(choice.bestFixedGamma()).isEqualTo(3);
    assertThat(choice.bestFixedThroughput()).isCloseTo(4 / (3 * 0.05 + 1.06), within(1e-9));
    assertThat(choice.clairvoyantThroughput()).isCloseTo(choice.bestFixedThroughput(), within(1e-9));
  }

  @Test
  void roundCostCurvesAreNormalisedMonotoneAndExtendedByTheirLastStep() {
    RoundCost curve = RoundCost.measured(0.1, new double[] {2, 1.8, 2.4, 2.8});
    assertThat(curve.pass(1)).isEqualTo(1);
    assertThat(curve.pass(2)).isEqualTo(1);  // timing noise: a longer pass never costs less
    assertThat(curve.pass(3)).isCloseTo(1.2, within(1e-12));
    assertThat(curve.pass(4)).isCloseTo(1.4, within(1e-12));
    assertThat(curve.pass(6)).isCloseTo(1.8, within(1e-12));
    assertThat(curve.round(3)).isCloseTo(0.3 + 1.4, within(1e-12));
    RoundCost linear = RoundCost.linear(0.06, 0.13);
    assertThat(linear.round(4)).isCloseTo(0.24 + 1 + 4 * 0.13, within(1e-12));
    assertThatThrownBy(() -> RoundCost.measured(0.1, new double[] {1})).hasMessageContaining("at least 1 and 2");
    assertThatThrownBy(() -> RoundCost.measured(0.1, new double[] {1, 0})).hasMessageContaining("positive");
    assertThatThrownBy(() -> RoundCost.linear(0.1, -1)).hasMessageContaining("row cost");
    assertThatThrownBy(() -> curve.pass(0)).isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void collectTakesEverySequenceOfTextInOrderThoughFewerThanOneForwardBatch() {
    LlamaConfig primaryConfig = new LlamaConfig(24, 12, 20, 2, 2, 2, 10000.0, 1e-5, 64, false, "float32");
    TrainModel secondary = TrainModel.tandem(TandemWeights.random(new TandemConfig(TrainerTest.TINY,
        new int[] {1, 2}, 2, PrimaryFingerprint.of(primaryConfig, "")), 3, 0.02));
    TrainModel primary = TrainModel.plain(ModelWeights.random(primaryConfig, 4, 0.3));
    LanguageModelStep step = new LanguageModelStep(TrainerTest.GEMM, secondary, primary, 1f, 0f, 4, 16, false);
    PackedSequences three = new PackedSequences(TrainerTest.corpus(3 * 16 + 1, 5), 16, 1);
    // Blocks of 2 from position 4 on: the first position of each block is a draft, 6 per sequence.
    RouterTrainer.Dataset data = RouterTrainer.collect(step, three, 2, 2, 1000, 1, false, 4);
    assertThat(data.n()).isEqualTo(3 * 6);
    for (int i = 0; i < data.n(); i++) assertThat(data.offsets()[i]).isZero();
    // The same positions as one sequence at a time: the padding slots of the batch add nothing (sequence 0
    // sits in slot 0 of the same step both times, so its labels are bitwise the same).
    PackedSequences first = new PackedSequences(java.util.Arrays.copyOf(TrainerTest.corpus(3 * 16 + 1, 5), 17), 16, 1);
    RouterTrainer.Dataset one = RouterTrainer.collect(step, first, 2, 2, 1000, 1, false, 4);
    assertThat(one.n()).isEqualTo(6);
    for (int i = 0; i < 6; i++) assertThat(one.labels()[i]).isEqualTo(data.labels()[i]);
  }

  @Test
  void mlpBackwardMatchesFiniteDifferences() {
    SplittableRandom r = new SplittableRandom(3);
    int n = 7, f = 9, h = 5;
    float[] x = new float[n * f], y = new float[n];
    for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
    for (int i = 0; i < n; i++) y[i] = (float) r.nextDouble();
    RouterTrainer.Mlp mlp = new RouterTrainer.Mlp(f, h, new float[f], new float[f], 5);
    for (int j = 0; j < h; j++) mlp.b1.value[j] = (float) (0.3 * r.nextGaussian());
    mlp.b2.value[0] = 0.2f;
    Gemm gemm = new Gemm(POOL);
    for (Param p : mlp.params()) p.zeroGrad();
    mlp.run(gemm, x.clone(), n, y, new float[n], new float[n * h]);
    for (Param p : mlp.params()) {
      double[] values = RefOps.toDouble(p.value);
      double[] fd = OpGradientTest.numericGradient(v -> {
        double[] w1 = p == mlp.w1 ? v : RefOps.toDouble(mlp.w1.value), b1 = p == mlp.b1 ? v : RefOps.toDouble(mlp.b1.value);
        double[] w2 = p == mlp.w2 ? v : RefOps.toDouble(mlp.w2.value), b2 = p == mlp.b2 ? v : RefOps.toDouble(mlp.b2.value);
        double loss = 0;
        for (int i = 0; i < n; i++) {
          double z = b2[0];
          for (int j = 0; j < h; j++) {
            double a = b1[j];
            for (int k = 0; k < f; k++) a += w1[j * f + k] * x[i * f + k];
            z += w2[j] * Math.max(0, a);
          }
          double s = 1 / (1 + Math.exp(-z));
          loss -= y[i] * Math.log(s) + (1 - y[i]) * Math.log(1 - s);
        }
        return loss / n;
      }, values);
      OpGradientTest.assertNear("router " + p.name, fd, p.grad, 1e-4);
    }
  }

  @Test
  void checkpointRoundTripAndForward(@TempDir Path dir) throws IOException {
    SplittableRandom r = new SplittableRandom(4);
    RouterConfig c = new RouterConfig(2, 3, 4, 0.8, 10);
    int f = c.featureSize(), h = c.hiddenSize();
    float[] mean = new float[f], std = new float[f], w1 = new float[h * f], b1 = new float[h], w2 = new float[h];
    for (int i = 0; i < f; i++) {
      mean[i] = (float) r.nextGaussian();
      std[i] = 0.5f + (float) r.nextDouble();
    }
    for (int i = 0; i < w1.length; i++) w1[i] = (float) r.nextGaussian();
    for (int i = 0; i < h; i++) {
      b1[i] = (float) r.nextGaussian();
      w2[i] = (float) r.nextGaussian();
    }
    RouterWeights w = new RouterWeights(c, mean, std, w1, b1, w2, 0.1f);
    w.save(dir.resolve("f32"));
    RouterWeights back = RouterWeights.load(dir.resolve("f32"));
    float[] x = new float[f];
    for (int i = 0; i < f; i++) x[i] = (float) r.nextGaussian();
    assertThat(back.forward(x, 0)).isEqualTo(w.forward(x, 0));
    assertThat(back.config()).isEqualTo(c);
    assertThat(c.stopRule()).isEqualTo(RouterConfig.TOKEN_RULE);
    w.withStop(RouterConfig.SURVIVAL_RULE, 0.3).save(dir.resolve("survival"));
    assertThat(RouterWeights.load(dir.resolve("survival")).config())
        .isEqualTo(c.withStop(RouterConfig.SURVIVAL_RULE, 0.3));
    assertThatThrownBy(() -> c.withStop("sometimes", 0.3)).hasMessageContaining("stop_rule");
    w.save(dir.resolve("bf16"), DType.BF16);
    assertThat((double) RouterWeights.load(dir.resolve("bf16")).forward(x, 0)).isCloseTo(w.forward(x, 0), within(2e-2));
    // The forward is sigmoid(w2 . relu(W1 (x - mean) / std + b1) + b2).
    double z = 0.1;
    for (int j = 0; j < h; j++) {
      double a = b1[j];
      for (int i = 0; i < f; i++) a += w1[j * f + i] * ((x[i] - mean[i]) / std[i]);
      z += w2[j] * Math.max(0, a);
    }
    assertThat((double) w.forward(x, 0)).isCloseTo(1 / (1 + Math.exp(-z)), within(1e-5));
  }
}
