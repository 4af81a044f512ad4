package dev.tandem.tandem;

/**
 * The router's input at one draft step, from the secondary's logits there and its input embedding
 * table: {@code [entropy, p_1 .. p_K, E[t_1] .. E[t_K]]} where p = softmax(logits), t_1..t_K the K most
 * probable tokens (descending probability; ties to the lower id), entropy in nats, E the secondary's
 * {@code model.embed_tokens.weight} [V][D]. Training and inference compute it with this one method.
 */
public final class RouterFeatures {
  private RouterFeatures() {}

  /**
   * @param logits     [vocab] at {@code at}
   * @param embeddings [V][D] the secondary's input embedding table
   * @param out        [1 + K + K*D] at {@code outAt}
   * @param topIds     scratch [K]
   */
  public static void compute(float[] logits, int at, int vocab, int k, float[] embeddings, int d, float[] out,
      int outAt, int[] topIds) {
    float max = Float.NEGATIVE_INFINITY;
    for (int v = 0; v < vocab; v++) max = Math.max(max, logits[at + v]);
    double sum = 0;
    for (int v = 0; v < vocab; v++) sum += Math.exp(logits[at + v] - max);
    double logSum = Math.log(sum);
    double entropy = 0;
    for (int v = 0; v < vocab; v++) {
      double logP = logits[at + v] - max - logSum;
      entropy -= Math.exp(logP) * logP;
    }
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
