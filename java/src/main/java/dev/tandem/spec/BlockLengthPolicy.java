package dev.tandem.spec;

/** Decides how many tokens the drafter proposes in a round. */
public interface BlockLengthPolicy {
  /** Most drafts in one round (gamma, or gamma_max for the router). */
  int maxDrafts();

  /** True when {@link #continueDrafting} reads the drafter's distribution (the loop then computes it). */
  boolean needsDistribution();

  /**
   * After the draft of step {@code step} (0-based) of a round: propose another?
   *
   * @param probabilities the drafter's distribution at that step, [vocab] (null unless
   *                      {@link #needsDistribution()})
   */
  boolean continueDrafting(int step, float[] probabilities);

  /** A fixed block length gamma. */
  static BlockLengthPolicy fixed(int gamma) {
    if (gamma < 1) throw new IllegalArgumentException("gamma must be >= 1, got " + gamma);
    return new BlockLengthPolicy() {
      @Override public int maxDrafts() { return gamma; }
      @Override public boolean needsDistribution() { return false; }
      @Override public boolean continueDrafting(int step, float[] probabilities) { return step + 1 < gamma; }
      @Override public String toString() { return "gamma=" + gamma; }
    };
  }
}
