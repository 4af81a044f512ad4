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
      float[] training = TrainingForm.logits(tandem, tokens, gamma, read, hidden);

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

  /** The whole-sequence two-source forward, written directly from DESIGN.md with the scalar kernels. */
  static final class TrainingForm {
    static float[] logits(TandemWeights w, int[] tokens, int gamma, int[] read, float[][] hidden) {
      LlamaConfig c = w.config().secondary();
      int n = tokens.length, d = c.hiddenSize(), kv = c.kvDim(), hd = c.headDim(), dP = w.config().primary().hiddenSize();
      float eps = (float) c.rmsNormEps();
      ModelWeights m = w.decoder();
      float[] rope = RopeTable.build(64, hd, RopeTable.inverseFrequencies(hd, c.ropeTheta()));
      float[] x = new float[n * d];
      for (int p = 0; p < n; p++) System.arraycopy(m.get(TensorNames.EMBEDDING), tokens[p] * d, x, p * d, d);
      int[] map = w.config().layerMap();
      for (int j = 0; j < c.numHiddenLayers(); j++) {
        float[] gain = m.get(TensorNames.attentionNorm(j));
        // Own keys/values and queries from the layer input y_j = x.
        float[] normed = normRows(x, n, d, gain, eps);
        float[] q = mul(normed, n, d, m.get(TensorNames.query(j)), d);
        float[] kOwn = mul(normed, n, d, m.get(TensorNames.key(j)), kv);
        float[] vOwn = mul(normed, n, d, m.get(TensorNames.value(j)), kv);
        // Primary-derived keys/values: u_r = T_j hP[l(j)][r], through the same norm and projections.
        float[] h = hidden[java.util.Arrays.binarySearch(read, map[j])];
        float[] u = mul(h, n, dP, w.projections()[j], d);
        float[] uNormed = normRows(u, n, d, gain, eps);
        float[] kPri = mul(uNormed, n, d, m.get(TensorNames.key(j)), kv);
        float[] vPri = mul(uNormed, n, d, m.get(TensorNames.value(j)), kv);
        for (int p = 0; p < n; p++) {
          ScalarOps.rope(q, p * d, c.numAttentionHeads(), hd, rope, p * hd);
          ScalarOps.rope(kOwn, p * kv, c.numKeyValueHeads(), hd, rope, p * hd);
          ScalarOps.rope(kPri, p * kv, c.numKeyValueHeads(), hd, rope, p * hd);
        }
        float[] attended = new float[n * d];
        for (int p = 0; p < n; p++) {
          int b = (p + 1) / gamma * gamma;
          float[] keys = new float[(p + 1) * kv], values = new float[(p + 1) * kv];
          for (int r = 0; r <= p; r++) {
            boolean fromPrimary = r < b;
            System.arraycopy(fromPrimary ? kPri : kOwn, r * kv, keys, r * kv, kv);
            System.arraycopy(fromPrimary ? vPri : vOwn, r * kv, values, r * kv, kv);
          }
          ScalarOps.attention(q, p * d, keys, values, 0, p + 1, c.numAttentionHeads(), c.numKeyValueHeads(), hd,
              attended, p * d, new float[p + 1]);
        }
        add(x, mul(attended, n, d, m.get(TensorNames.output(j)), d));
        float[] normed2 = normRows(x, n, d, m.get(TensorNames.mlpNorm(j)), eps);
        int f = c.intermediateSize();
        float[] gate = mul(normed2, n, d, m.get(TensorNames.gate(j)), f);
        float[] up = mul(normed2, n, d, m.get(TensorNames.up(j)), f);
        float[] act = new float[n * f];
        ScalarOps.swiglu(gate, up, act, 0, n * f);
        add(x, mul(act, n, f, m.get(TensorNames.down(j)), d));
      }
      float[] normed = normRows(x, n, d, m.get(TensorNames.FINAL_NORM), eps);
      return mul(normed, n, d, m.lmHead(), c.vocabSize());
    }

    private static float[] normRows(float[] x, int n, int d, float[] gain, float eps) {
      float[] out = new float[n * d];
      for (int p = 0; p < n; p++) ScalarOps.rmsNorm(x, p * d, gain, eps, d, out, p * d);
      return out;
    }

    private static float[] mul(float[] x, int n, int k, float[] w, int m) {
      float[] out = new float[n * m];
      ScalarOps.matmul(x, n, k, w, m, out);
      return out;
    }

    private static void add(float[] x, float[] delta) {
      ScalarOps.add(x, delta, 0, x.length);
    }
  }
}
