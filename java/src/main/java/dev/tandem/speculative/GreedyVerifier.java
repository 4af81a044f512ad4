package dev.tandem.speculative;

import dev.tandem.sampling.Acceptance;

/**
 * Greedy verification: the longest prefix of drafts equal to the primary's argmax at the same
 * position, then the primary's argmax after it. Emits exactly the primary's greedy continuation.
 */
public final class GreedyVerifier {
  private GreedyVerifier() {}

  /**
   * @param drafts  d_0..d_{k-1}
   * @param argmax  the primary's argmax per row of the block; row i scores the token after the
   *                block's i-th token, i.e. the position of d_i
   * @param first   index of the block's first row in {@code argmax}
   */
  public static Acceptance verify(int[] drafts, int k, int[] argmax, int first) {
    int a = 0;
    while (a < k && drafts[a] == argmax[first + a]) a++;
    return new Acceptance(a, argmax[first + a]);
  }
}
