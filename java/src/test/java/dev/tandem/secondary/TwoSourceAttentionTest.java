package dev.tandem.secondary;

import static dev.tandem.testing.Close.assertClose;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.backend.BatchRows;
import dev.tandem.backend.KvCache;
import dev.tandem.backend.cpu.CpuBackend;
import dev.tandem.backend.cpu.ScalarOps;
import dev.tandem.model.Decoder;
import dev.tandem.model.LlamaConfig;
import dev.tandem.model.LogitsMode;
import dev.tandem.model.ModelWeights;
import dev.tandem.model.RopeTable;
import dev.tandem.model.TensorNames;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The two-source attention in training form (the whole sequence at once, boundary b(p) =
 * floor((p+1)/gamma)*gamma, DESIGN.md) equals the inference form (a secondary cache refreshed from
 * the primary's states up to b, then the secondary's own steps).
 *
 * <p>Only positions with b(p) <= p are compared: at p = b - 1 the training form gives the query
 * primary-derived keys at its own position, a state inference never produces (the primary's own
 * logits decide that position's successor: the "free token"), so there is no inference form of it.
 */
class TwoSourceAttentionTest {
  static final LlamaConfig PRIMARY = new LlamaConfig(41, 24, 40, 4, 4, 2, 10000.0, 1e-5, 64, false, "float32");
  static final LlamaConfig SECONDARY = new LlamaConfig(41, 12, 20, 3, 3, 1, 10000.0, 1e-5, 64, false, "float32");

  @ParameterizedTest(name = "gamma={0}")
  @ValueSource(ints = {2, 3, 5})  // gamma = 1 gives b(p) = p + 1 everywhere: nothing to compare
  void trainingFormEqualsInferenceForm(int gamma) {
    ModelWeights primaryWeights = ModelWeights.random(PRIMARY, 1, 0.4);
    TandemConfig config = new TandemConfig(SECONDARY, TandemConfig.defaultLayerMap(3, 4), gamma,
        PrimaryFingerprint.of(PRIMARY, ""));
    TandemWeights tandem = TandemWeights.random(config, 2, 0.4);
    int length = 23;
    int[] tokens = new SplittableRandom(gamma).ints(length, 0, 41).toArray();

    try (CpuBackend backend = CpuBackend.reference();
        Decoder primary = new Decoder(primaryWeights, backend, 64, 32, config.primaryLayersRead());
        TandemSecondary secondary = new TandemSecondary(tandem, backend, 64, 32)) {
      // The primary's residual streams at every position, from one pass.
      BatchRows all = new BatchRows(32);
      all.addSequence(0, tokens, 0, length, 0);
      primary.forward(all, primary.newCache(1), LogitsMode.NONE);
      int[] read = config.primaryLayersRead();
      float[][] hidden = new float[read.length][length * PRIMARY.hiddenSize()];
      for (int i = 0; i < read.length; i++) backend.download(primary.captured(i), length, hidden[i]);
      float[] training = TwoSourceTrainingForm.logits(tandem, tokens, gamma, read, hidden);

      // Inference: for each boundary b, refresh [0, b) and run the secondary on [b, b + gamma - 1).
      KvCache cache = secondary.decoder().newCache(1);
      BatchRows own = new BatchRows(32);
      float[] logits = new float[32 * 41];
      int compared = 0;
      for (int b = 0; b < length; b += gamma) {
        cache.setLength(0, 0);
        if (b > 0) secondary.refresh(primary, all, new int[] {b}, cache);
        assertThat(cache.length(0)).isEqualTo(b);
        int count = Math.min(gamma - 1, length - b);  // positions p in [b, b + gamma - 1) have b(p) = b
        if (count <= 0) continue;
        own.clear();
        own.addSequence(0, tokens, b, count, b);
        secondary.decoder().forward(own, cache, LogitsMode.ALL);
        secondary.decoder().downloadLogits(logits);
        float[] expected = java.util.Arrays.copyOfRange(training, b * 41, (b + count) * 41);
        // Same scalar kernels in the same order on both sides; only the assembly of the inputs
        // differs, so differences stay at rounding level of the logits (|logits| ~ 1).
        assertClose("positions " + b + ".." + (b + count - 1) + " (gamma " + gamma + ")", expected, logits,
            count * 41, 1e-5, 1e-5);
        compared += count;
      }
      assertThat(compared).isGreaterThan(length / 3);
    }
  }
}
