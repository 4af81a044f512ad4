package dev.tandem.sampling;

import java.util.Arrays;

/**
 * Turns a row of logits into a token, and into the filtered distribution that speculative
 * verification compares. The procedure, which the GPU kernels follow too:
 * <ol>
 *   <li>greedy: the argmax, lowest id on ties;
 *   <li>otherwise z = logits / temperature; top-k keeps the k largest z (ties: lower id first);
 *       p = softmax over the kept tokens; top-p keeps the smallest prefix of the kept tokens, by
 *       descending p (ties: lower id first), whose mass reaches topP; p is renormalised;
 *   <li>the draw: u = uniform(seed, sequence, position, stream); the token is the first id, in id
 *       order, at which the running sum of p exceeds u (the last id with p > 0 if rounding leaves
 *       the sum short of u).
 * </ol>
 * Holds scratch buffers for one vocabulary size: one sampler per thread.
 */
public final class Sampler {
  private final int vocabSize;
  private final float[] probabilities;  // [vocab]
  private final long[] order;           // [vocab]: sort keys (value, id) for top-k / top-p

  public Sampler(int vocabSize) {
    this.vocabSize = vocabSize;
    this.probabilities = new float[vocabSize];
    this.order = new long[vocabSize];
  }

  public int vocabSize() {
    return vocabSize;
  }

  /** The lowest id among the largest logits of logits[offset, offset + vocab). */
  public static int argmax(float[] logits, int offset, int vocab) {
    int best = 0;
    float bestValue = logits[offset];
    for (int i = 1; i < vocab; i++) {
      float value = logits[offset + i];
      if (value > bestValue) {
        bestValue = value;
        best = i;
      }
    }
    return best;
  }

  /** Picks the token for row {@code offset} of logits, for (sequence, position). */
  public int sample(float[] logits, int offset, SamplingParams params, long sequence, long position) {
    checkFinite(logits, offset);
    if (params.isGreedy()) return argmax(logits, offset, vocabSize);
    distribution(logits, offset, params, probabilities);
    return draw(probabilities, Philox.uniform(params.seed(), sequence, position, Philox.STREAM_SAMPLE));
  }

  /**
   * The filtered, normalised distribution of a row of logits under {@code params} (sampling only),
   * written to {@code out} ([vocab]; zero for filtered-out ids).
   */
  public void distribution(float[] logits, int offset, SamplingParams params, float[] out) {
    if (params.isGreedy()) throw new IllegalArgumentException("greedy decoding has no sampling distribution");
    float inverseTemperature = 1f / params.temperature();
    boolean filtered = (params.topK() > 0 && params.topK() < vocabSize) || params.topP() < 1f;
    if (!filtered) {
      float max = Float.NEGATIVE_INFINITY;
      for (int i = 0; i < vocabSize; i++) max = Math.max(max, logits[offset + i] * inverseTemperature);
      double sum = 0;
      for (int i = 0; i < vocabSize; i++) {
        float e = (float) Math.exp(logits[offset + i] * inverseTemperature - max);
        out[i] = e;
        sum += e;
      }
      float inverseSum = (float) (1.0 / sum);
      for (int i = 0; i < vocabSize; i++) out[i] *= inverseSum;
      return;
    }
    // Sort ids by (z descending, id ascending): keys hold z's order-preserving bits and the id's complement.
    for (int i = 0; i < vocabSize; i++) {
      int bits = Float.floatToIntBits(logits[offset + i] * inverseTemperature);
      int sortable = bits ^ ((bits >> 31) & 0x7FFFFFFF);
      order[i] = ((long) sortable << 32) | (~i & 0xFFFFFFFFL);
    }
    Arrays.sort(order, 0, vocabSize);
    int kept = params.topK() > 0 ? Math.min(params.topK(), vocabSize) : vocabSize;
    float max = logits[offset + idAt(vocabSize - 1)] * inverseTemperature;
    Arrays.fill(out, 0f);
    double sum = 0;
    for (int r = 0; r < kept; r++) {
      int id = idAt(vocabSize - 1 - r);
      float e = (float) Math.exp(logits[offset + id] * inverseTemperature - max);
      out[id] = e;
      sum += e;
    }
    if (params.topP() < 1f) {
      double target = params.topP() * sum;
      double mass = 0;
      int nucleus = 0;
      while (nucleus < kept && mass < target) {
        mass += out[idAt(vocabSize - 1 - nucleus)];
        nucleus++;
      }
      for (int r = nucleus; r < kept; r++) out[idAt(vocabSize - 1 - r)] = 0f;
      sum = mass;
    }
    float inverseSum = (float) (1.0 / sum);
    for (int i = 0; i < vocabSize; i++) out[i] *= inverseSum;
  }

  private int idAt(int sortedIndex) {
    return ~(int) order[sortedIndex];
  }

  /** The first id at which the running sum of {@code p} (in id order) exceeds {@code u}. */
  public static int draw(float[] p, float u) {
    double running = 0;
    int lastPositive = -1;
    for (int i = 0; i < p.length; i++) {
      if (p[i] > 0f) {
        running += p[i];
        lastPositive = i;
        if (running > u) return i;
      }
    }
    if (lastPositive < 0) throw new IllegalArgumentException("distribution has no positive probability");
    return lastPositive;
  }

  private void checkFinite(float[] logits, int offset) {
    for (int i = 0; i < vocabSize; i++) {
      if (Float.isNaN(logits[offset + i])) {
        throw new IllegalStateException("logits contain NaN (id " + i + "): the model produced invalid numbers");
      }
    }
  }
}
