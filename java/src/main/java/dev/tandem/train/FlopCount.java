package dev.tandem.train;

import dev.tandem.model.LlamaConfig;

/**
 * Floating-point operations (a multiply-add counts 2) of a Llama-style decoder, for the throughput
 * figures and for the primary/secondary cost ratio.
 */
public final class FlopCount {
  private FlopCount() {}

  /** Matrix products per token: the layers' projections and MLP, and the LM head. */
  public static long matmulPerToken(LlamaConfig c) {
    long d = c.hiddenSize(), f = c.intermediateSize(), kv = c.kvDim();
    long perLayer = 2 * (2 * d * d + 2 * d * kv + 3 * d * f);
    return c.numHiddenLayers() * perLayer + 2 * d * c.vocabSize();
  }

  /**
   * One decoding step at {@code context} positions: matrix products (LM head included) plus attention
   * (scores and weighted values over the context). Tandem secondaries add nothing per drafted token (the
   * projections run when the cache is refreshed, once per primary-verified position): pass
   * {@code primaryHidden > 0} to count that refresh too (projection plus K/V of the refreshed row).
   */
  public static long inferencePerToken(LlamaConfig c, int context, int primaryHidden) {
    long d = c.hiddenSize(), kv = c.kvDim();
    long attention = c.numHiddenLayers() * 2L * 2 * context * d;
    long refresh = primaryHidden > 0 ? c.numHiddenLayers() * 2L * (d * primaryHidden + 2 * d * kv) : 0;
    return matmulPerToken(c) + attention + refresh;
  }

  /**
   * One training token, as this trainer computes it: forward and backward matrix products (3x the
   * forward's), attention over full [T][T] score matrices per sequence (forward 2 products, backward 4),
   * and for a tandem model the projections and the second source's K/V, scores and values.
   */
  public static long trainingPerToken(LlamaConfig c, int seqLen, int primaryHidden) {
    long d = c.hiddenSize(), kv = c.kvDim(), L = c.numHiddenLayers();
    long matmul = 3 * matmulPerToken(c);
    long attention = L * 6 * 2L * seqLen * d;
    if (primaryHidden > 0) {
      matmul += 3 * L * 2 * (d * primaryHidden + 2 * d * kv);
      attention *= 2;
    }
    return matmul + attention;
  }

  /** A forward pass without gradients (the frozen primary in a secondary's training step). */
  public static long forwardPerToken(LlamaConfig c, int seqLen) {
    return matmulPerToken(c) + c.numHiddenLayers() * 2L * 2 * seqLen * c.hiddenSize();
  }
}
