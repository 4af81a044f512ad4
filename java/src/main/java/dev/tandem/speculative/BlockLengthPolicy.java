package dev.tandem.speculative;

/** Decides how many tokens the drafter proposes in a round. */
public interface BlockLengthPolicy {
  /** Most drafts in one round (gamma, or gamma_max for the router). */
  int maxDrafts();

  /** True when {@link #continueDrafting} reads the drafter's logits (the loop then copies them to the host). */
  boolean needsLogits();

  /**
   * After the draft of step {@code step} (0-based) of a round of the sequence in batch slot
   * {@code slot}: propose another?
   *
   * @param logits the drafter's logits at that step, [vocab] at {@code offset} (null unless
   *               {@link #needsLogits()})
   */
  boolean continueDrafting(int slot, int step, float[] logits, int offset);

  /** A fixed block length gamma. */
  static BlockLengthPolicy fixed(int gamma) {
    if (gamma < 1) throw new IllegalArgumentException("gamma must be >= 1, got " + gamma);
    return new BlockLengthPolicy() {
      @Override public int maxDrafts() { return gamma; }
      @Override public boolean needsLogits() { return false; }
      @Override public boolean continueDrafting(int slot, int step, float[] logits, int offset) { return step + 1 < gamma; }
      @Override public String toString() { return "gamma=" + gamma; }
    };
  }
}
