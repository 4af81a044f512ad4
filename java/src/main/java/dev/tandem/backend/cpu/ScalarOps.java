package dev.tandem.backend.cpu;

/**
 * The scalar reference of every CPU operation: plain loops, fp32 arithmetic, written to be read.
 * The fast paths ({@link VectorOps}) and the CUDA kernels are tested against these.
 *
 * <p>All matrices are row-major float arrays; offsets are in floats.
 */
public final class ScalarOps {
  private ScalarOps() {}

  /** out[i][o] = sum_k x[i][k] * w[o][k]. x: [n][k], w: [m][k], out: [n][m]. */
  public static void matmul(float[] x, int n, int k, float[] w, int m, float[] out) {
    for (int i = 0; i < n; i++) {
      for (int o = 0; o < m; o++) {
        float sum = 0f;
        for (int j = 0; j < k; j++) {
          sum += x[i * k + j] * w[o * k + j];
        }
        out[i * m + o] = sum;
      }
    }
  }

  /** out = x / sqrt(mean(x^2) + eps) * gain over one row of width d. */
  public static void rmsNorm(float[] x, int xOffset, float[] gain, float eps, int d, float[] out, int outOffset) {
    float sumSquares = 0f;
    for (int j = 0; j < d; j++) {
      float v = x[xOffset + j];
      sumSquares += v * v;
    }
    float inverseRms = (float) (1.0 / Math.sqrt(sumSquares / d + eps));
    for (int j = 0; j < d; j++) {
      out[outOffset + j] = x[xOffset + j] * inverseRms * gain[j];
    }
  }

  /**
   * Rotary embedding of one row in place ("rotate half"): for each head and i < headDim/2,
   * (a, b) = (x[i], x[i + half]) becomes (a cos - b sin, b cos + a sin).
   * cosSin: [headDim] for this position, cos in [0, half) and sin in [half, headDim).
   */
  public static void rope(float[] x, int xOffset, int heads, int headDim, float[] cosSin, int cosSinOffset) {
    int half = headDim / 2;
    for (int h = 0; h < heads; h++) {
      int base = xOffset + h * headDim;
      for (int i = 0; i < half; i++) {
        float cos = cosSin[cosSinOffset + i];
        float sin = cosSin[cosSinOffset + half + i];
        float a = x[base + i];
        float b = x[base + half + i];
        x[base + i] = a * cos - b * sin;
        x[base + half + i] = b * cos + a * sin;
      }
    }
  }

  /** Softmax in place over x[offset, offset + n). */
  public static void softmax(float[] x, int offset, int n) {
    float max = Float.NEGATIVE_INFINITY;
    for (int i = 0; i < n; i++) max = Math.max(max, x[offset + i]);
    float sum = 0f;
    for (int i = 0; i < n; i++) {
      float e = (float) Math.exp(x[offset + i] - max);
      x[offset + i] = e;
      sum += e;
    }
    for (int i = 0; i < n; i++) x[offset + i] /= sum;
  }

  /**
   * Attention of one query row over {@code length} cached positions, all heads.
   *
   * @param q        [heads*headDim] at qOffset
   * @param keys     [length][kvHeads*headDim] at kvOffset (the slot's cache)
   * @param values   same layout as keys
   * @param out      [heads*headDim] at outOffset
   * @param scores   scratch of at least {@code length} floats
   */
  public static void attention(float[] q, int qOffset, float[] keys, float[] values, int kvOffset, int length,
      int heads, int kvHeads, int headDim, float[] out, int outOffset, float[] scores) {
    int kvDim = kvHeads * headDim;
    int group = heads / kvHeads;
    float scale = (float) (1.0 / Math.sqrt(headDim));
    for (int h = 0; h < heads; h++) {
      int kvHead = h / group;
      for (int t = 0; t < length; t++) {
        float dot = 0f;
        for (int j = 0; j < headDim; j++) {
          dot += q[qOffset + h * headDim + j] * keys[kvOffset + t * kvDim + kvHead * headDim + j];
        }
        scores[t] = dot * scale;
      }
      softmax(scores, 0, length);
      for (int j = 0; j < headDim; j++) {
        float sum = 0f;
        for (int t = 0; t < length; t++) {
          sum += scores[t] * values[kvOffset + t * kvDim + kvHead * headDim + j];
        }
        out[outOffset + h * headDim + j] = sum;
      }
    }
  }

  /** silu(g) = g * sigmoid(g). */
  public static float silu(float g) {
    return (float) (g / (1.0 + Math.exp(-g)));
  }

  /** out = silu(gate) * up over [offset, offset + n). */
  public static void swiglu(float[] gate, float[] up, float[] out, int offset, int n) {
    for (int i = offset; i < offset + n; i++) out[i] = silu(gate[i]) * up[i];
  }

  /** x += delta over [offset, offset + n). */
  public static void add(float[] x, float[] delta, int offset, int n) {
    for (int i = offset; i < offset + n; i++) x[i] += delta[i];
  }

  /** x[xOffset + j] += bias[j] for j in [0, d): one row plus a bias row. */
  public static void addBias(float[] x, int xOffset, float[] bias, int d) {
    for (int j = 0; j < d; j++) x[xOffset + j] += bias[j];
  }
}
