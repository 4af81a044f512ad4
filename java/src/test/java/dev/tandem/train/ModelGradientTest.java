package dev.tandem.train;

import static dev.tandem.train.OpGradientTest.assertNear;

import dev.tandem.backend.cpu.WorkerPool;
import dev.tandem.model.LlamaConfig;
import dev.tandem.model.ModelWeights;
import dev.tandem.model.TensorNames;
import dev.tandem.secondary.PrimaryFingerprint;
import dev.tandem.secondary.TandemConfig;
import dev.tandem.secondary.TandemWeights;
import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * The whole training forward and backward ({@link TrainModel}) against finite differences of an
 * independent double-precision model written from DESIGN.md with the {@link RefOps} forwards: plain
 * (untied and tied head), tandem (two-source attention, projections, block lengths 2 and 3), and the
 * distillation loss. Tolerance 1e-4 of each tensor's gradient scale (+5x relative): fp32 forward and
 * backward through two layers against exact double gradients.
 */
class ModelGradientTest {
  static final WorkerPool POOL = new WorkerPool(2);
  static final Gemm GEMM = new Gemm(POOL);
  static final int BATCH = 2, T = 6, DP = 6;

  @AfterAll
  static void close() {
    POOL.close();
  }

  static LlamaConfig config(boolean tied) {
    return new LlamaConfig(11, 8, 12, 2, 2, 1, 10000.0, 1e-5, 64, tied, "float32");
  }

  @Test
  void plainUntied() {
    check(config(false), false, 0f);
  }

  @Test
  void plainTiedWithDistillation() {
    check(config(true), false, 0.5f);
  }

  @Test
  void tandemWithDistillation() {
    check(config(false), true, 0.5f);
  }

  private void check(LlamaConfig c, boolean tandem, float softWeight) {
    SplittableRandom r = new SplittableRandom(tandem ? 11 : 12);
    int rows = BATCH * T;
    int[] tokens = r.ints(rows, 0, c.vocabSize()).toArray();
    int[] targets = r.ints(rows, 0, c.vocabSize()).toArray();
    targets[4] = -1;
    int[] gammas = {2, 3};
    int[] layerMap = {1, 2};
    float[][] hP = new float[3][];
    hP[1] = RefOps.toFloat(OpGradientTest.random(r, rows * DP, 2));
    hP[2] = RefOps.toFloat(OpGradientTest.random(r, rows * DP, 2));
    float[] teacher = softWeight == 0 ? null : RefOps.toFloat(OpGradientTest.random(r, rows * c.vocabSize(), 3));

    TrainModel model;
    if (tandem) {
      LlamaConfig primary = new LlamaConfig(c.vocabSize(), DP, 10, 2, 3, 3, 10000.0, 1e-5, 64, false, "float32");
      TandemConfig tc = new TandemConfig(c, layerMap, 2, PrimaryFingerprint.of(primary, ""));
      model = TrainModel.tandem(TandemWeights.random(tc, 3, 0.4));
    } else {
      model = TrainModel.plain(ModelWeights.random(c, 3, 0.4));
    }
    // Norm gains away from 1 so their gradients are exercised.
    for (Param p : model.params()) {
      if (p.rows == 1) for (int i = 0; i < p.size(); i++) p.value[i] = 0.5f + (float) r.nextDouble();
    }

    Activations a = new Activations(c, tandem, BATCH, T, true);
    System.arraycopy(tokens, 0, a.tokens, 0, rows);
    System.arraycopy(gammas, 0, a.gammas, 0, BATCH);
    model.zeroGrad();
    model.forward(GEMM, a, hP, null);
    int count = rows - 1;
    CrossEntropyOp.forwardBackward(POOL, a.logits, rows, c.vocabSize(), targets, teacher,
        1 - softWeight, softWeight, 1f / count, new float[rows], new float[rows]);
    model.backward(GEMM, a, hP);

    Map<String, double[]> w = new HashMap<>();
    for (Param p : model.params()) w.put(p.name, RefOps.toDouble(p.value));
    double[][] hPd = {null, RefOps.toDouble(hP[1]), RefOps.toDouble(hP[2])};
    double[] teacherD = teacher == null ? null : RefOps.toDouble(teacher);
    for (Param p : model.params()) {
      double[] values = w.get(p.name);
      double[] fd = OpGradientTest.numericGradient(x -> {
        w.put(p.name, x);
        return loss(c, w, tandem, layerMap, hPd, tokens, targets, gammas, teacherD, 1 - softWeight, softWeight);
      }, values);
      w.put(p.name, values);
      assertNear((tandem ? "tandem " : "plain ") + p.name, fd, p.grad, 1e-4);
    }
  }

  /** The reference loss: DESIGN.md section 1 in double precision. */
  static double loss(LlamaConfig c, Map<String, double[]> w, boolean tandem, int[] layerMap, double[][] hP,
      int[] tokens, int[] targets, int[] gammas, double[] teacher, double hw, double sw) {
    int rows = BATCH * T, d = c.hiddenSize(), f = c.intermediateSize(), kv = c.kvDim(), V = c.vocabSize();
    int H = c.numAttentionHeads(), KV = c.numKeyValueHeads(), hd = c.headDim();
    double eps = c.rmsNormEps(), theta = c.ropeTheta();
    double[] embed = w.get(TensorNames.EMBEDDING);
    double[] x = new double[rows * d];
    for (int i = 0; i < rows; i++) System.arraycopy(embed, tokens[i] * d, x, i * d, d);
    for (int l = 0; l < c.numHiddenLayers(); l++) {
      double[] g1 = w.get(TensorNames.attentionNorm(l));
      double[] xn = RefOps.rmsNorm(x, g1, eps, rows, d);
      double[] q = RefOps.rope(RefOps.linear(xn, rows, d, w.get(TensorNames.query(l)), d), rows, T, H, hd, theta, false);
      double[] k = RefOps.rope(RefOps.linear(xn, rows, d, w.get(TensorNames.key(l)), kv), rows, T, KV, hd, theta, false);
      double[] v = RefOps.linear(xn, rows, d, w.get(TensorNames.value(l)), kv);
      double[] kP = null, vP = null;
      if (tandem) {
        double[] u = RefOps.linear(hP[layerMap[l]], rows, DP, w.get(TandemConfig.projectionName(l)), d);
        double[] un = RefOps.rmsNorm(u, g1, eps, rows, d);
        kP = RefOps.rope(RefOps.linear(un, rows, d, w.get(TensorNames.key(l)), kv), rows, T, KV, hd, theta, false);
        vP = RefOps.linear(un, rows, d, w.get(TensorNames.value(l)), kv);
      }
      double[] att = RefOps.attention(q, k, v, kP, vP, BATCH, T, H, KV, hd, gammas);
      double[] o = RefOps.linear(att, rows, d, w.get(TensorNames.output(l)), d);
      for (int i = 0; i < x.length; i++) x[i] += o[i];
      double[] xn2 = RefOps.rmsNorm(x, w.get(TensorNames.mlpNorm(l)), eps, rows, d);
      double[] h = RefOps.swiglu(RefOps.linear(xn2, rows, d, w.get(TensorNames.gate(l)), f),
          RefOps.linear(xn2, rows, d, w.get(TensorNames.up(l)), f));
      double[] down = RefOps.linear(h, rows, f, w.get(TensorNames.down(l)), d);
      for (int i = 0; i < x.length; i++) x[i] += down[i];
    }
    double[] xn = RefOps.rmsNorm(x, w.get(TensorNames.FINAL_NORM), eps, rows, d);
    double[] head = c.tieWordEmbeddings() ? embed : w.get(TensorNames.LM_HEAD);
    double[] logits = RefOps.linear(xn, rows, d, head, V);
    return RefOps.crossEntropy(logits, rows, V, targets, teacher, hw, sw);
  }
}
