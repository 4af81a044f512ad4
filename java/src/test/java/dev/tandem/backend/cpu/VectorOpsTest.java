package dev.tandem.backend.cpu;

import static dev.tandem.testing.Close.assertBitwise;
import static dev.tandem.testing.Close.assertClose;
import static dev.tandem.testing.Close.assertWithin;
import static dev.tandem.testing.Close.random;

import java.util.SplittableRandom;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Every Vector API kernel against its scalar reference on awkward sizes. */
class VectorOpsTest {
  private static final double U = 0x1.0p-24;  // fp32 unit roundoff

  /**
   * Tolerance of a dot product of length k computed in another order: the classic bound
   * (k + 1) u sum |x_j w_j| holds for any summation order (fused multiply-adds only tighten it).
   */
  private static float[] dotBounds(float[] x, int n, int k, float[] w, int m) {
    float[] bound = new float[n * m];
    for (int i = 0; i < n; i++) {
      for (int o = 0; o < m; o++) {
        double abs = 0;
        for (int j = 0; j < k; j++) abs += Math.abs((double) x[i * k + j] * w[o * k + j]);
        bound[i * m + o] = (float) (2 * (k + 1) * U * abs + 1e-30);
      }
    }
    return bound;
  }

  @ParameterizedTest(name = "n={0} k={1} m={2}")
  @CsvSource({"1,1,1", "1,7,7", "3,33,5", "7,4097,9", "8,64,33", "9,100,13", "16,33,4", "2,8,3", "5,17,1",
      "4,40,17", "17,9,25", "6,33,17", "2,20,16", "3,12,16", "1,33,37", "1,20,64", "1,9,75"})
  void matmulMatchesReference(int n, int k, int m) {
    SplittableRandom random = new SplittableRandom(n * 31L + k * 7L + m);
    float[] x = random(random, n * k, 1), w = random(random, m * k, 1);
    float[] expected = new float[n * m], actual = new float[n * m];
    ScalarOps.matmul(x, n, k, w, m, expected);
    VectorOps.matmulPanels(x, n, k, VectorOps.packPanels(w, m, k), m, actual, 0, panels(m));
    assertWithin("matmul", expected, actual, n * m, dotBounds(x, n, k, w, m));
  }

  private static int panels(int m) {
    return (m + VectorOps.LANES - 1) / VectorOps.LANES;
  }

  @ParameterizedTest(name = "n={0} k={1} m={2}")
  @CsvSource({"8,64,33", "16,4097,7", "5,33,12", "3,7,9", "17,40,41", "6,33,17", "7,20,16", "3,33,70", "5,9,64"})
  void matmulRowIsBitwiseIndependentOfTheBlock(int n, int k, int m) {
    SplittableRandom random = new SplittableRandom(99);
    float[] x = random(random, n * k, 1), w = random(random, m * k, 1);
    float[] packed = VectorOps.packPanels(w, m, k);
    float[] block = new float[n * m];
    VectorOps.matmulPanels(x, n, k, packed, m, block, 0, panels(m));
    for (int size : new int[] {1, 2, 3, 5}) {  // the same rows in smaller blocks
      for (int i = 0; i < n; i += size) {
        int rows = Math.min(size, n - i);
        float[] part = new float[rows * k], alone = new float[rows * m], fromBlock = new float[rows * m];
        System.arraycopy(x, i * k, part, 0, rows * k);
        VectorOps.matmulPanels(part, rows, k, packed, m, alone, 0, panels(m));
        System.arraycopy(block, i * m, fromBlock, 0, rows * m);
        assertBitwise("rows " + i + ".." + (i + rows - 1) + " as a block of " + rows + " vs in a block of " + n,
            alone, fromBlock, rows * m);
      }
    }
    // Any panel split (the threads' chunks) gives the same bits too.
    float[] split = new float[n * m];
    for (int p = 0; p < panels(m); p += 3) {
      VectorOps.matmulPanels(x, n, k, packed, m, split, p, Math.min(panels(m), p + 3));
    }
    assertBitwise("panel chunks of 3", block, split, n * m);
  }

  @Test
  void backendMatmulIsIndependentOfThreadCount() {
    SplittableRandom random = new SplittableRandom(5);
    int n = 5, k = 97, m = 301;
    float[] x = random(random, n * k, 1), w = random(random, m * k, 1);
    float[] one, two;
    try (CpuBackend single = CpuBackend.fast(1); CpuBackend dual = CpuBackend.fast(3)) {
      one = run(single, x, w, n, k, m);
      two = run(dual, x, w, n, k, m);
    }
    assertBitwise("1 thread vs 3 threads", one, two, n * m);
  }

  private static float[] run(CpuBackend b, float[] x, float[] w, int n, int k, int m) {
    var xt = b.table("x", x.clone(), n, k);
    var wt = b.weights("w", w.clone(), m, k);
    var out = b.allocate("out", n, m);
    b.matmul(xt, wt, n, out);
    float[] result = new float[n * m];
    b.download(out, n, result);
    return result;
  }

  @ParameterizedTest(name = "d={0}")
  @CsvSource({"1", "7", "33", "4097", "64"})
  void rmsNormMatchesReference(int d) {
    SplittableRandom random = new SplittableRandom(d);
    float[] x = random(random, d, 3), gain = random(random, d, 2);
    float[] expected = new float[d], actual = new float[d];
    ScalarOps.rmsNorm(x, 0, gain, 1e-5f, d, expected, 0);
    VectorOps.rmsNorm(x, 0, gain, 1e-5f, d, actual, 0);
    // The sum of squares is a length-d reduction in another order: relative error up to ~d u in the
    // mean, which moves the result by half of that; the final products add a few u.
    assertClose("rmsNorm", expected, actual, d, 1e-7, (d + 4) * U);
  }

  @ParameterizedTest(name = "heads={0} headDim={1}")
  @CsvSource({"1,2", "3,6", "5,64", "7,34", "2,128"})
  void ropeMatchesReference(int heads, int headDim) {
    SplittableRandom random = new SplittableRandom(heads * 100L + headDim);
    float[] x = random(random, heads * headDim, 2), cosSin = new float[headDim];
    for (int i = 0; i < headDim / 2; i++) {
      double angle = random.nextDouble() * 6.3;
      cosSin[i] = (float) Math.cos(angle);
      cosSin[headDim / 2 + i] = (float) Math.sin(angle);
    }
    float[] expected = x.clone(), actual = x.clone();
    ScalarOps.rope(expected, 0, heads, headDim, cosSin, 0);
    VectorOps.rope(actual, 0, heads, headDim, cosSin, 0);
    assertBitwise("rope (same operations in the same order)", expected, actual, x.length);
  }

  @ParameterizedTest(name = "heads={0} kvHeads={1} headDim={2} length={3}")
  @CsvSource({"1,1,8,1", "2,1,6,7", "4,2,64,33", "8,2,16,97", "3,3,10,5", "5,5,64,4097", "4,1,33,17", "2,1,40,6",
      "1,1,128,3"})
  void attentionMatchesReference(int heads, int kvHeads, int headDim, int length) {
    SplittableRandom random = new SplittableRandom(heads + kvHeads * 10L + headDim * 100L + length);
    int kvDim = kvHeads * headDim;
    float[] q = random(random, heads * headDim, 1), keys = random(random, length * kvDim, 1);
    float[] values = random(random, length * kvDim, 1);
    float[] expected = new float[heads * headDim], actual = new float[heads * headDim];
    ScalarOps.attention(q, 0, keys, values, 0, length, heads, kvHeads, headDim, expected, 0, new float[length]);
    float scale = (float) (1 / Math.sqrt(headDim));
    for (int h = 0; h < heads; h++) {
      int kvBase = (h / (heads / kvHeads)) * headDim;
      VectorOps.attendHead(q, h * headDim, keys, values, kvBase, kvDim, length, headDim, scale, actual, h * headDim,
          new float[length]);
    }
    // Outputs are convex combinations of values in [-1, 1]. A score's dot product (headDim terms of
    // magnitude <= 1, scaled) is off by at most (headDim + 1) u headDim scale, which moves the output
    // by at most twice that; the normalisation and the weighted sum (length terms each) add up to
    // about 2 length u each.
    double scoreError = (headDim + 1) * U * headDim / Math.sqrt(headDim);
    assertClose("attention", expected, actual, expected.length, 2 * scoreError + (4 * length + 16) * U, 0);
  }

  /**
   * attendHead runs four keys' dot products and four output vectors side by side; each must still be
   * the chain it is alone: bitwise equal to one key and one output vector at a time.
   */
  @ParameterizedTest(name = "headDim={0} length={1}")
  @CsvSource({"8,1", "64,3", "64,4", "64,33", "40,6", "33,9", "128,17", "6,5"})
  void attentionIsBitwiseTheOneChainAtATimeForm(int headDim, int length) {
    SplittableRandom random = new SplittableRandom(headDim * 1000L + length);
    int kvDim = 2 * headDim, kvBase = headDim;  // the second of two key/value heads
    float[] q = random(random, headDim, 1), keys = random(random, length * kvDim, 1);
    float[] values = random(random, length * kvDim, 1);
    float scale = (float) (1 / Math.sqrt(headDim));
    float[] expected = new float[headDim], actual = new float[headDim];
    oneChainAtATime(q, keys, values, kvBase, kvDim, length, headDim, scale, expected);
    VectorOps.attendHead(q, 0, keys, values, kvBase, kvDim, length, headDim, scale, actual, 0, new float[length]);
    assertBitwise("attention", expected, actual, headDim);
  }

  private static void oneChainAtATime(float[] q, float[] keys, float[] values, int kvBase, int kvDim, int length,
      int headDim, float scale, float[] out) {
    float[] scores = new float[length];
    float max = Float.NEGATIVE_INFINITY;
    for (int t = 0; t < length; t++) {
      scores[t] = VectorOps.dot(q, 0, keys, kvBase + t * kvDim, headDim) * scale;
      max = Math.max(max, scores[t]);
    }
    float sum = 0f;
    for (int t = 0; t < length; t++) {
      scores[t] = (float) Math.exp(scores[t] - max);
      sum += scores[t];
    }
    int lanes = VectorOps.LANES, dVec = VectorOps.SPECIES.loopBound(headDim);
    for (int j = 0; j < dVec; j += lanes) {
      FloatVector acc = FloatVector.zero(VectorOps.SPECIES);
      for (int t = 0; t < length; t++) {
        acc = FloatVector.fromArray(VectorOps.SPECIES, values, kvBase + t * kvDim + j)
            .fma(FloatVector.broadcast(VectorOps.SPECIES, scores[t]), acc);
      }
      acc.mul(1f / sum).intoArray(out, j);
    }
    for (int j = dVec; j < headDim; j++) {
      float acc = 0f;
      for (int t = 0; t < length; t++) acc = Math.fma(values[kvBase + t * kvDim + j], scores[t], acc);
      out[j] = acc * (1f / sum);
    }
  }

  @ParameterizedTest(name = "n={0}")
  @CsvSource({"1", "7", "33", "4097"})
  void swigluAndAddMatchReference(int n) {
    SplittableRandom random = new SplittableRandom(n);
    float[] gate = random(random, n, 6), up = random(random, n, 2);
    float[] expected = new float[n], actual = new float[n];
    ScalarOps.swiglu(gate, up, expected, 0, n);
    VectorOps.swiglu(gate, up, actual, 0, n);
    assertBitwise("swiglu", expected, actual, n);
    float[] a = random(random, n, 1), b = random(random, n, 1), c = a.clone();
    ScalarOps.add(a, b, 0, n);
    VectorOps.add(c, b, 0, n);
    assertBitwise("add", a, c, n);
  }
}
