package dev.tandem.secondary;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The router's input at one draft step, from the secondary's logits there and its input embedding
 * table: {@code [entropy, p_1 .. p_K, E[t_1] .. E[t_K]]} where p = softmax(logits), t_1..t_K the K most
 * probable tokens (descending probability; ties to the lower id), entropy in nats, E the secondary's
 * {@code model.embed_tokens.weight} [V][D]. Training and inference compute it with this one method.
 */
public final class RouterFeatures {
  private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;

  private RouterFeatures() {}

  /**
   * @param logits     [vocab] at {@code at}
   * @param embeddings [V][D] the secondary's input embedding table
   * @param out        [1 + K + K*D] at {@code outAt}
   * @param topIds     scratch [K]
   */
  public static void compute(float[] logits, int at, int vocab, int k, float[] embeddings, int d, float[] out,
      int outAt, int[] topIds) {
    // Softmax statistics in one exponential per entry: with e_v = exp(l_v - max), S = sum e_v and
    // T = sum e_v (l_v - max), the entropy is log S - T / S. Lanes of the preferred width, the tail scalar.
    int vectorEnd = at + SPECIES.loopBound(vocab);
    FloatVector maxLanes = FloatVector.broadcast(SPECIES, Float.NEGATIVE_INFINITY);
    for (int v = at; v < vectorEnd; v += SPECIES.length()) {
      maxLanes = maxLanes.max(FloatVector.fromArray(SPECIES, logits, v));
    }
    float max = maxLanes.reduceLanes(VectorOperators.MAX);
    for (int v = vectorEnd; v < at + vocab; v++) max = Math.max(max, logits[v]);
    FloatVector sumLanes = FloatVector.zero(SPECIES), weightedLanes = FloatVector.zero(SPECIES);
    for (int v = at; v < vectorEnd; v += SPECIES.length()) {
      FloatVector shifted = FloatVector.fromArray(SPECIES, logits, v).sub(max);
      FloatVector e = shifted.lanewise(VectorOperators.EXP);
      sumLanes = sumLanes.add(e);
      weightedLanes = e.fma(shifted, weightedLanes);
    }
    double sum = sumLanes.reduceLanes(VectorOperators.ADD), weighted = weightedLanes.reduceLanes(VectorOperators.ADD);
    for (int v = vectorEnd; v < at + vocab; v++) {
      double shifted = logits[v] - max, e = Math.exp(shifted);
      sum += e;
      weighted += e * shifted;
    }
    double logSum = Math.log(sum);
    double entropy = logSum - weighted / sum;
    // Top k by a partial selection (k is small).
    for (int i = 0; i < k; i++) topIds[i] = -1;
    for (int v = 0; v < vocab; v++) {
      float x = logits[at + v];
      int pos = k;
      while (pos > 0 && (topIds[pos - 1] < 0 || logits[at + topIds[pos - 1]] < x)) pos--;
      if (pos < k) {
        System.arraycopy(topIds, pos, topIds, pos + 1, k - pos - 1);
        topIds[pos] = v;
      }
    }
    out[outAt] = (float) entropy;
    for (int i = 0; i < k; i++) {
      out[outAt + 1 + i] = (float) Math.exp(logits[at + topIds[i]] - max - logSum);
      System.arraycopy(embeddings, topIds[i] * d, out, outAt + 1 + k + i * d, d);
    }
  }
}
