package dev.tandem.secondary;

import dev.tandem.backend.cpu.ScalarOps;
import dev.tandem.model.LlamaConfig;
import dev.tandem.model.ModelWeights;
import dev.tandem.model.RopeTable;
import dev.tandem.model.TensorNames;

/** The whole-sequence two-source forward, written directly from DESIGN.md with the scalar kernels. */
public final class TwoSourceTrainingForm {
  private TwoSourceTrainingForm() {}

  /** Blocks of gamma: position p's boundary is floor((p+1)/gamma)*gamma. */
  public static float[] logits(TandemWeights w, int[] tokens, int gamma, int[] read, float[][] hidden) {
    int[] boundary = new int[tokens.length];
    for (int p = 0; p < boundary.length; p++) boundary[p] = (p + 1) / gamma * gamma;
    return logits(w, tokens, boundary, read, hidden);
  }

  /**
   * Position p attends to the primary's projected states at positions r &lt; boundary[p] and to the
   * secondary's own at boundary[p] &lt;= r &lt;= p. hidden: [read layer][position][d_P], the
   * primary's residual streams. Returns [position][vocab].
   */
  public static float[] logits(TandemWeights w, int[] tokens, int[] boundary, int[] read, float[][] hidden) {
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
        int b = boundary[p];
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
