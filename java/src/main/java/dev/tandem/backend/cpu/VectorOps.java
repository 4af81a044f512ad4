package dev.tandem.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The fast CPU kernels (Vector API). Each names its reference in {@link ScalarOps}; tests compare
 * them on awkward sizes.
 *
 * <p><b>Batch invariance.</b> Every dot product is computed the same way whatever tile it belongs
 * to: one vector accumulator chain of fused multiply-adds over k in order, its lanes summed in lane
 * order, then the scalar tail with fused multiply-adds. Tiling only changes which products are in
 * flight together, never the arithmetic of one, so a row's output is bitwise independent of the
 * other rows of the block (and of the number of threads). Lane sums avoid
 * {@code reduceLanes(ADD)}, whose order the Vector API leaves open and which could differ between
 * the interpreter and compiled code.
 */
public final class VectorOps {
  private VectorOps() {}

  static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
  static final int LANES = SPECIES.length();

  /** Sum of the lanes of v in lane order (deterministic in every execution tier). */
  static float sumLanes(FloatVector v) {
    float sum = 0f;
    for (int i = 0; i < LANES; i++) sum += v.lane(i);
    return sum;
  }

  /** The end of one dot product: lane sum of its vector chain plus the scalar tail [kVec, k). */
  private static float finish(FloatVector acc, float[] x, int xBase, float[] w, int wBase, int kVec, int k) {
    float sum = sumLanes(acc);
    for (int j = kVec; j < k; j++) sum = Math.fma(x[xBase + j], w[wBase + j], sum);
    return sum;
  }

  /** One dot product of length k (the 1x1 tile; also used for attention scores). */
  static float dot(float[] x, int xBase, float[] w, int wBase, int k) {
    int kVec = SPECIES.loopBound(k);
    FloatVector acc = FloatVector.zero(SPECIES);
    for (int j = 0; j < kVec; j += LANES) {
      acc = FloatVector.fromArray(SPECIES, x, xBase + j).fma(FloatVector.fromArray(SPECIES, w, wBase + j), acc);
    }
    return finish(acc, x, xBase, w, wBase, kVec, k);
  }

  /**
   * Columns [o0, o1) of out = x * w^T for all n rows. x: [n][k], w: [m][k], out: [n][m] at
   * outOffset with row stride m. Tiles of 2 rows x 4 columns keep 8 accumulators in registers, so a
   * weight vector loaded once serves two rows; a block of 8 rows reads each weight row from memory
   * once (the other row pairs find it in L1).
   */
  public static void matmulColumns(float[] x, int n, int k, float[] w, int m, float[] out, int o0, int o1) {
    int kVec = SPECIES.loopBound(k);
    int o = o0;
    for (; o + 4 <= o1; o += 4) {
      int w0 = o * k, w1 = w0 + k, w2 = w1 + k, w3 = w2 + k;
      int i = 0;
      for (; i + 2 <= n; i += 2) {
        int xa = i * k, xb = xa + k;
        FloatVector a0 = FloatVector.zero(SPECIES), a1 = a0, a2 = a0, a3 = a0;
        FloatVector b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        for (int j = 0; j < kVec; j += LANES) {
          FloatVector va = FloatVector.fromArray(SPECIES, x, xa + j);
          FloatVector vb = FloatVector.fromArray(SPECIES, x, xb + j);
          FloatVector v = FloatVector.fromArray(SPECIES, w, w0 + j);
          a0 = va.fma(v, a0);
          b0 = vb.fma(v, b0);
          v = FloatVector.fromArray(SPECIES, w, w1 + j);
          a1 = va.fma(v, a1);
          b1 = vb.fma(v, b1);
          v = FloatVector.fromArray(SPECIES, w, w2 + j);
          a2 = va.fma(v, a2);
          b2 = vb.fma(v, b2);
          v = FloatVector.fromArray(SPECIES, w, w3 + j);
          a3 = va.fma(v, a3);
          b3 = vb.fma(v, b3);
        }
        int ra = i * m + o, rb = ra + m;
        out[ra] = finish(a0, x, xa, w, w0, kVec, k);
        out[ra + 1] = finish(a1, x, xa, w, w1, kVec, k);
        out[ra + 2] = finish(a2, x, xa, w, w2, kVec, k);
        out[ra + 3] = finish(a3, x, xa, w, w3, kVec, k);
        out[rb] = finish(b0, x, xb, w, w0, kVec, k);
        out[rb + 1] = finish(b1, x, xb, w, w1, kVec, k);
        out[rb + 2] = finish(b2, x, xb, w, w2, kVec, k);
        out[rb + 3] = finish(b3, x, xb, w, w3, kVec, k);
      }
      for (; i < n; i++) {
        int xa = i * k;
        FloatVector a0 = FloatVector.zero(SPECIES), a1 = a0, a2 = a0, a3 = a0;
        for (int j = 0; j < kVec; j += LANES) {
          FloatVector va = FloatVector.fromArray(SPECIES, x, xa + j);
          a0 = va.fma(FloatVector.fromArray(SPECIES, w, w0 + j), a0);
          a1 = va.fma(FloatVector.fromArray(SPECIES, w, w1 + j), a1);
          a2 = va.fma(FloatVector.fromArray(SPECIES, w, w2 + j), a2);
          a3 = va.fma(FloatVector.fromArray(SPECIES, w, w3 + j), a3);
        }
        int ra = i * m + o;
        out[ra] = finish(a0, x, xa, w, w0, kVec, k);
        out[ra + 1] = finish(a1, x, xa, w, w1, kVec, k);
        out[ra + 2] = finish(a2, x, xa, w, w2, kVec, k);
        out[ra + 3] = finish(a3, x, xa, w, w3, kVec, k);
      }
    }
    for (; o < o1; o++) {
      for (int i = 0; i < n; i++) out[i * m + o] = dot(x, i * k, w, o * k, k);
    }
  }

  /** One row of RMSNorm; reference {@link ScalarOps#rmsNorm}. */
  public static void rmsNorm(float[] x, int xOffset, float[] gain, float eps, int d, float[] out, int outOffset) {
    int dVec = SPECIES.loopBound(d);
    FloatVector acc = FloatVector.zero(SPECIES);
    for (int j = 0; j < dVec; j += LANES) {
      FloatVector v = FloatVector.fromArray(SPECIES, x, xOffset + j);
      acc = v.fma(v, acc);
    }
    float sumSquares = sumLanes(acc);
    for (int j = dVec; j < d; j++) sumSquares = Math.fma(x[xOffset + j], x[xOffset + j], sumSquares);
    float inverseRms = (float) (1.0 / Math.sqrt(sumSquares / d + eps));
    for (int j = 0; j < dVec; j += LANES) {
      FloatVector.fromArray(SPECIES, x, xOffset + j).mul(inverseRms)
          .mul(FloatVector.fromArray(SPECIES, gain, j)).intoArray(out, outOffset + j);
    }
    for (int j = dVec; j < d; j++) out[outOffset + j] = x[xOffset + j] * inverseRms * gain[j];
  }

  /** Rotary embedding of one row in place; reference {@link ScalarOps#rope}. */
  public static void rope(float[] x, int xOffset, int heads, int headDim, float[] cosSin, int cosSinOffset) {
    int half = headDim / 2;
    int halfVec = SPECIES.loopBound(half);
    for (int h = 0; h < heads; h++) {
      int base = xOffset + h * headDim;
      for (int i = 0; i < halfVec; i += LANES) {
        FloatVector cos = FloatVector.fromArray(SPECIES, cosSin, cosSinOffset + i);
        FloatVector sin = FloatVector.fromArray(SPECIES, cosSin, cosSinOffset + half + i);
        FloatVector a = FloatVector.fromArray(SPECIES, x, base + i);
        FloatVector b = FloatVector.fromArray(SPECIES, x, base + half + i);
        a.mul(cos).sub(b.mul(sin)).intoArray(x, base + i);
        b.mul(cos).add(a.mul(sin)).intoArray(x, base + half + i);
      }
      for (int i = halfVec; i < half; i++) {
        float cos = cosSin[cosSinOffset + i];
        float sin = cosSin[cosSinOffset + half + i];
        float a = x[base + i];
        float b = x[base + half + i];
        x[base + i] = a * cos - b * sin;
        x[base + half + i] = b * cos + a * sin;
      }
    }
  }

  /**
   * Attention of one query head over {@code length} cached positions; reference
   * {@link ScalarOps#attention} (which does all heads of a row).
   *
   * @param q       query head at qBase, [headDim]
   * @param keys    the slot's keys, [length][kvDim], this head's key/value head at kvBase + t * kvDim
   * @param out     [headDim] at outBase
   * @param scores  scratch, at least {@code length}
   */
  public static void attendHead(float[] q, int qBase, float[] keys, float[] values, int kvBase, int kvDim,
      int length, int headDim, float scale, float[] out, int outBase, float[] scores) {
    float max = Float.NEGATIVE_INFINITY;
    for (int t = 0; t < length; t++) {
      float s = dot(q, qBase, keys, kvBase + t * kvDim, headDim) * scale;
      scores[t] = s;
      max = Math.max(max, s);
    }
    float sum = 0f;
    for (int t = 0; t < length; t++) {
      float e = (float) Math.exp(scores[t] - max);
      scores[t] = e;
      sum += e;
    }
    float inverseSum = 1f / sum;
    int dVec = SPECIES.loopBound(headDim);
    for (int j = 0; j < dVec; j += LANES) {
      FloatVector acc = FloatVector.zero(SPECIES);
      for (int t = 0; t < length; t++) {
        acc = FloatVector.fromArray(SPECIES, values, kvBase + t * kvDim + j).fma(FloatVector.broadcast(SPECIES, scores[t]), acc);
      }
      acc.mul(inverseSum).intoArray(out, outBase + j);
    }
    for (int j = dVec; j < headDim; j++) {
      float acc = 0f;
      for (int t = 0; t < length; t++) acc = Math.fma(values[kvBase + t * kvDim + j], scores[t], acc);
      out[outBase + j] = acc * inverseSum;
    }
  }

  /**
   * out = silu(gate) * up over [offset, offset + n); reference {@link ScalarOps#swiglu}. Scalar on
   * purpose: the Vector API's lanewise EXP may round differently from {@link Math#exp} (and between
   * execution tiers), which would break batch invariance; the exponentials are a small part of a
   * layer's cost.
   */
  public static void swiglu(float[] gate, float[] up, float[] out, int offset, int n) {
    for (int i = offset; i < offset + n; i++) out[i] = ScalarOps.silu(gate[i]) * up[i];
  }

  /** x += delta over [offset, offset + n). */
  public static void add(float[] x, float[] delta, int offset, int n) {
    int end = offset + n;
    int i = offset;
    for (int vecEnd = offset + SPECIES.loopBound(n); i < vecEnd; i += LANES) {
      FloatVector.fromArray(SPECIES, x, i).add(FloatVector.fromArray(SPECIES, delta, i)).intoArray(x, i);
    }
    for (; i < end; i++) x[i] += delta[i];
  }

  /** x[xOffset + j] += bias[j] for j in [0, d); reference {@link ScalarOps#addBias}. */
  public static void addBias(float[] x, int xOffset, float[] bias, int d) {
    int j = 0;
    for (int vecEnd = SPECIES.loopBound(d); j < vecEnd; j += LANES) {
      FloatVector.fromArray(SPECIES, x, xOffset + j).add(FloatVector.fromArray(SPECIES, bias, j))
          .intoArray(x, xOffset + j);
    }
    for (; j < d; j++) x[xOffset + j] += bias[j];
  }
}
