package dev.tandem.train;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.backend.cpu.WorkerPool;
import dev.tandem.model.RopeTable;
import java.util.SplittableRandom;
import java.util.function.ToDoubleFunction;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Every backward pass, three ways on tiny awkward shapes: the double reference backward ({@link RefOps})
 * against central finite differences of the double reference forward (tolerance 1e-6 of the gradient's
 * scale: h = 1e-5 gives truncation error ~1e-10), and the fast float path against the double reference
 * (tolerance 2e-5 of the scale plus 1e-4 relative: fp32 rounding over reductions of a few dozen terms).
 */
class OpGradientTest {
  static final WorkerPool POOL = new WorkerPool(2);
  static final Gemm GEMM = new Gemm(POOL);

  @AfterAll
  static void close() {
    POOL.close();
  }

  static double[] random(SplittableRandom r, int n, double scale) {
    double[] x = new double[n];
    for (int i = 0; i < n; i++) x[i] = (float) ((r.nextDouble() * 2 - 1) * scale);  // float-representable
    return x;
  }

  static double dot(double[] a, double[] b) {
    double s = 0;
    for (int i = 0; i < a.length; i++) s += a[i] * b[i];
    return s;
  }

  /** Central differences of f at x (x is restored). */
  static double[] numericGradient(ToDoubleFunction<double[]> f, double[] x) {
    double h = 1e-5;
    double[] g = new double[x.length];
    for (int i = 0; i < x.length; i++) {
      double keep = x[i];
      x[i] = keep + h;
      double plus = f.applyAsDouble(x);
      x[i] = keep - h;
      double minus = f.applyAsDouble(x);
      x[i] = keep;
      g[i] = (plus - minus) / (2 * h);
    }
    return g;
  }

  /** |actual - expected| <= tol * (max|expected| + |expected| * 5): scale-aware closeness with a report. */
  static void assertNear(String what, double[] expected, double[] actual, double tol) {
    assertThat(actual.length).as(what + " length").isEqualTo(expected.length);
    double scale = 1e-12;
    for (double e : expected) scale = Math.max(scale, Math.abs(e));
    double worst = 0;
    int at = -1;
    for (int i = 0; i < expected.length; i++) {
      double err = Math.abs(actual[i] - expected[i]) / (scale + 5 * Math.abs(expected[i]));
      if (!(err <= worst)) {
        worst = err;
        at = i;
      }
    }
    if (!(worst <= tol)) {
      throw new AssertionError(String.format("%s: error %.3g (of scale %.3g) > %.3g at [%d]: expected %.9g, got %.9g",
          what, worst, scale, tol, at, expected[at], actual[at]));
    }
  }

  static void assertNear(String what, double[] expected, float[] actual, double tol) {
    assertNear(what, expected, RefOps.toDouble(actual), tol);
  }

  static final double FD_TOL = 1e-6;
  static final double FLOAT_TOL = 2e-5;

  @Test
  void linear() {
    SplittableRandom r = new SplittableRandom(1);
    int n = 7, in = 5, out = 9;
    double[] x = random(r, n * in, 1), w = random(r, out * in, 1), dy = random(r, n * out, 1);
    double[][] ref = RefOps.linearBackward(dy, x, n, in, w, out);
    assertNear("dx vs FD", numericGradient(xx -> dot(dy, RefOps.linear(xx, n, in, w, out)), x), ref[0], FD_TOL);
    assertNear("dW vs FD", numericGradient(ww -> dot(dy, RefOps.linear(x, n, in, ww, out)), w), ref[1], FD_TOL);
    float[] y = new float[n * out], dx = new float[n * in], dw = new float[out * in];
    GEMM.linearForward(RefOps.toFloat(x), n, in, RefOps.toFloat(w), out, y);
    GEMM.linearBackwardInput(RefOps.toFloat(dy), n, out, RefOps.toFloat(w), in, dx, false);
    GEMM.linearBackwardWeight(RefOps.toFloat(dy), n, out, RefOps.toFloat(x), in, dw);
    assertNear("fast y", RefOps.linear(x, n, in, w, out), y, FLOAT_TOL);
    assertNear("fast dx", ref[0], dx, FLOAT_TOL);
    assertNear("fast dW", ref[1], dw, FLOAT_TOL);
  }

  @Test
  void rmsNorm() {
    SplittableRandom r = new SplittableRandom(2);
    int n = 37, d = 11;  // 37 rows: two chunks of the gain-gradient sum
    double eps = 1e-5;
    double[] x = random(r, n * d, 2), g = random(r, d, 1.5), dy = random(r, n * d, 1);
    double[][] ref = RefOps.rmsNormBackward(dy, x, g, eps, n, d);
    assertNear("dx vs FD", numericGradient(xx -> dot(dy, RefOps.rmsNorm(xx, g, eps, n, d)), x), ref[0], FD_TOL);
    assertNear("dg vs FD", numericGradient(gg -> dot(dy, RefOps.rmsNorm(x, gg, eps, n, d)), g), ref[1], FD_TOL);
    float[] y = new float[n * d], inv = new float[n], dx = new float[n * d], dg = new float[d];
    float[] xf = RefOps.toFloat(x), gf = RefOps.toFloat(g);
    RmsNormOp.forward(POOL, xf, gf, (float) eps, n, d, y, inv);
    RmsNormOp.backward(POOL, RefOps.toFloat(dy), xf, gf, inv, n, d, dx, dg, new float[RmsNormOp.scratchSize(n, d)]);
    assertNear("fast y", RefOps.rmsNorm(x, g, eps, n, d), y, FLOAT_TOL);
    assertNear("fast dx", ref[0], dx, FLOAT_TOL);
    assertNear("fast dg", ref[1], dg, FLOAT_TOL);
  }

  @Test
  void rope() {
    SplittableRandom r = new SplittableRandom(3);
    int seqLen = 5, n = 2 * seqLen, heads = 3, hd = 6;
    double theta = 10000;
    double[] x = random(r, n * heads * hd, 1), dy = random(r, n * heads * hd, 1);
    // Backward of a rotation is the opposite rotation.
    double[] ref = RefOps.rope(dy, n, seqLen, heads, hd, theta, true);
    assertNear("dx vs FD", numericGradient(xx -> dot(dy, RefOps.rope(xx, n, seqLen, heads, hd, theta, false)), x), ref,
        FD_TOL);
    float[] table = RopeTable.build(seqLen, hd, RopeTable.inverseFrequencies(hd, theta));
    float[] y = RefOps.toFloat(x), dx = RefOps.toFloat(dy);
    RopeOp.apply(POOL, y, n, seqLen, heads, hd, table, false);
    RopeOp.apply(POOL, dx, n, seqLen, heads, hd, table, true);
    assertNear("fast y", RefOps.rope(x, n, seqLen, heads, hd, theta, false), y, FLOAT_TOL);
    assertNear("fast dx", ref, dx, FLOAT_TOL);
  }

  @Test
  void swiglu() {
    SplittableRandom r = new SplittableRandom(4);
    int n = 29;
    double[] gate = random(r, n, 4), up = random(r, n, 2), dy = random(r, n, 1);
    double[][] ref = RefOps.swigluBackward(dy, gate, up);
    assertNear("dGate vs FD", numericGradient(gg -> dot(dy, RefOps.swiglu(gg, up)), gate), ref[0], FD_TOL);
    assertNear("dUp vs FD", numericGradient(uu -> dot(dy, RefOps.swiglu(gate, uu)), up), ref[1], FD_TOL);
    float[] h = new float[n], dg = new float[n], du = new float[n];
    SwiGluOp.forward(POOL, RefOps.toFloat(gate), RefOps.toFloat(up), n, h);
    SwiGluOp.backward(POOL, RefOps.toFloat(dy), RefOps.toFloat(gate), RefOps.toFloat(up), n, dg, du);
    assertNear("fast h", RefOps.swiglu(gate, up), h, FLOAT_TOL);
    assertNear("fast dGate", ref[0], dg, FLOAT_TOL);
    assertNear("fast dUp", ref[1], du, FLOAT_TOL);
  }

  @Test
  void embedding() {
    SplittableRandom r = new SplittableRandom(5);
    int vocab = 6, d = 3, n = 9;
    int[] tokens = r.ints(n, 0, vocab).toArray();
    tokens[3] = tokens[7];  // a repeated token accumulates
    double[] table = random(r, vocab * d, 1), dy = random(r, n * d, 1);
    ToDoubleFunction<double[]> f = t -> {
      double s = 0;
      for (int i = 0; i < n; i++) for (int j = 0; j < d; j++) s += dy[i * d + j] * t[tokens[i] * d + j];
      return s;
    };
    double[] fd = numericGradient(f, table);
    float[] out = new float[n * d], dTable = new float[vocab * d];
    EmbeddingOp.forward(RefOps.toFloat(table), vocab, d, tokens, n, out);
    EmbeddingOp.backward(RefOps.toFloat(dy), d, tokens, n, dTable);
    for (int i = 0; i < n; i++) for (int j = 0; j < d; j++) assertThat((double) out[i * d + j]).isEqualTo(table[tokens[i] * d + j]);
    assertNear("fast dTable vs FD", fd, dTable, FLOAT_TOL);
  }

  @Test
  void causalAttentionWithGroupedHeads() {
    checkAttention(false, new int[] {0, 0});
  }

  @Test
  void tandemTwoSourceAttention() {
    checkAttention(true, new int[] {2, 3});
  }

  @Test
  void tandemAttentionWithBlockLengthOne() {
    checkAttention(true, new int[] {1, 4});
  }

  private void checkAttention(boolean tandem, int[] gammas) {
    SplittableRandom r = new SplittableRandom(tandem ? 6 : 7);
    int batch = 2, T = 7, H = 4, KV = 2, hd = 6;
    int n = batch * T;
    double[] q = random(r, n * H * hd, 1), k = random(r, n * KV * hd, 1), v = random(r, n * KV * hd, 1);
    double[] kP = tandem ? random(r, n * KV * hd, 1) : null, vP = tandem ? random(r, n * KV * hd, 1) : null;
    double[] dy = random(r, n * H * hd, 1);
    double[][] ref = RefOps.attentionBackward(dy, q, k, v, kP, vP, batch, T, H, KV, hd, gammas);
    assertNear("dq vs FD", numericGradient(x -> dot(dy, RefOps.attention(x, k, v, kP, vP, batch, T, H, KV, hd, gammas)), q),
        ref[0], FD_TOL);
    assertNear("dk vs FD", numericGradient(x -> dot(dy, RefOps.attention(q, x, v, kP, vP, batch, T, H, KV, hd, gammas)), k),
        ref[1], FD_TOL);
    assertNear("dv vs FD", numericGradient(x -> dot(dy, RefOps.attention(q, k, x, kP, vP, batch, T, H, KV, hd, gammas)), v),
        ref[2], FD_TOL);
    if (tandem) {
      assertNear("dkP vs FD", numericGradient(
          x -> dot(dy, RefOps.attention(q, k, v, x, vP, batch, T, H, KV, hd, gammas)), kP), ref[3], FD_TOL);
      assertNear("dvP vs FD", numericGradient(
          x -> dot(dy, RefOps.attention(q, k, v, kP, x, batch, T, H, KV, hd, gammas)), vP), ref[4], FD_TOL);
    }
    AttentionOp op = new AttentionOp(GEMM, T, H, KV, hd);
    float[] out = new float[n * H * hd], probs = new float[op.probsSize(batch)];
    float[] qf = RefOps.toFloat(q), kf = RefOps.toFloat(k), vf = RefOps.toFloat(v);
    float[] kPf = tandem ? RefOps.toFloat(kP) : null, vPf = tandem ? RefOps.toFloat(vP) : null;
    op.forward(batch, qf, kf, vf, kPf, vPf, gammas, out, probs);
    assertNear("fast out", RefOps.attention(q, k, v, kP, vP, batch, T, H, KV, hd, gammas), out, FLOAT_TOL);
    float[] dq = new float[q.length], dk = new float[k.length], dv = new float[v.length];
    float[] dkP = tandem ? new float[k.length] : null, dvP = tandem ? new float[v.length] : null;
    op.backward(batch, qf, kf, vf, kPf, vPf, gammas, probs, RefOps.toFloat(dy), dq, dk, dv, dkP, dvP);
    assertNear("fast dq", ref[0], dq, FLOAT_TOL);
    assertNear("fast dk", ref[1], dk, FLOAT_TOL);
    assertNear("fast dv", ref[2], dv, FLOAT_TOL);
    if (tandem) {
      assertNear("fast dkP", ref[3], dkP, FLOAT_TOL);
      assertNear("fast dvP", ref[4], dvP, FLOAT_TOL);
    }
  }

  @Test
  void boundaryRule() {
    // b(p) = floor((p+1)/gamma) * gamma (DESIGN.md): gamma 2 gives 0, 2, 2, 4, 4, 6 for p = 0..5.
    int[] expected2 = {0, 2, 2, 4, 4, 6};
    int[] expected3 = {0, 0, 3, 3, 3, 6};
    for (int p = 0; p < 6; p++) {
      assertThat(AttentionOp.boundary(p, 2)).as("b(%d), gamma 2", p).isEqualTo(expected2[p]);
      assertThat(AttentionOp.boundary(p, 3)).as("b(%d), gamma 3", p).isEqualTo(expected3[p]);
    }
  }

  @Test
  void eachKeyComesFromExactlyOneSource() {
    // Perturb the own keys/values at r < b(p) and the primary ones at r >= b(p): the query at p must not move.
    SplittableRandom r = new SplittableRandom(8);
    int T = 9, H = 2, KV = 1, hd = 4, gamma = 3;
    int n = T;
    float[] q = RefOps.toFloat(random(r, n * H * hd, 1)), k = RefOps.toFloat(random(r, n * KV * hd, 1));
    float[] v = RefOps.toFloat(random(r, n * KV * hd, 1)), kP = RefOps.toFloat(random(r, n * KV * hd, 1));
    float[] vP = RefOps.toFloat(random(r, n * KV * hd, 1));
    AttentionOp op = new AttentionOp(GEMM, T, H, KV, hd);
    float[] probs = new float[op.probsSize(1)];
    float[] base = new float[n * H * hd];
    op.forward(1, q, k, v, kP, vP, new int[] {gamma}, base, probs);
    for (int p = 0; p < T; p++) {
      int b = AttentionOp.boundary(p, gamma);
      float[] k2 = k.clone(), v2 = v.clone(), kP2 = kP.clone(), vP2 = vP.clone();
      for (int rr = 0; rr < T; rr++) {
        for (int j = 0; j < hd; j++) {
          if (rr < b) {
            k2[rr * hd + j] += 5;
            v2[rr * hd + j] += 5;
          } else {
            kP2[rr * hd + j] += 5;
            vP2[rr * hd + j] += 5;
          }
        }
      }
      float[] out = new float[n * H * hd];
      op.forward(1, q, k2, v2, kP2, vP2, new int[] {gamma}, out, probs);
      for (int j = 0; j < H * hd; j++) {
        assertThat(out[p * H * hd + j]).as("query %d unaffected by the unused source", p)
            .isEqualTo(base[p * H * hd + j]);
      }
    }
  }

  @Test
  void crossEntropyHardAndSoft() {
    SplittableRandom r = new SplittableRandom(9);
    int n = 5, V = 13;
    double[] z = random(r, n * V, 3), teacher = random(r, n * V, 3);
    int[] targets = r.ints(n, 0, V).toArray();
    targets[2] = -1;  // skipped row
    for (double[] weights : new double[][] {{1, 0}, {0.5, 0.5}, {0, 1}}) {
      double hw = weights[0], sw = weights[1];
      double[] t = sw == 0 ? null : teacher;
      double[] ref = RefOps.crossEntropyBackward(z, n, V, targets, t, hw, sw);
      assertNear("dz vs FD " + hw + "/" + sw, numericGradient(zz -> RefOps.crossEntropy(zz, n, V, targets, t, hw, sw), z),
          ref, FD_TOL);
      float[] zf = RefOps.toFloat(z), hard = new float[n], soft = new float[n];
      CrossEntropyOp.forwardBackward(POOL, zf, n, V, targets, t == null ? null : RefOps.toFloat(t), (float) hw,
          (float) sw, 1f / (n - 1), hard, soft);
      assertNear("fast dz " + hw + "/" + sw, ref, zf, FLOAT_TOL);
      double loss = 0;
      for (int i = 0; i < n; i++) loss += hw * hard[i] + sw * soft[i];
      assertThat(loss / (n - 1)).isCloseTo(RefOps.crossEntropy(z, n, V, targets, t, hw, sw),
          org.assertj.core.data.Offset.offset(1e-5));
    }
  }
}
