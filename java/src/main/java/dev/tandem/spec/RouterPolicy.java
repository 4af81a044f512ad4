package dev.tandem.spec;

/**
 * Adaptive block length: after each draft the router predicts the disagreement with the primary;
 * drafting continues while the predicted agreement {@code 1 - disagreement} is at least the
 * threshold, and never beyond gamma_max.
 */
public final class RouterPolicy implements BlockLengthPolicy {
  private final Router router;
  private final float[] embeddings;  // the drafter's input embeddings, [vocab][embeddingDim]
  private final int gammaMax;
  private final float threshold;

  public RouterPolicy(Router router, float[] drafterEmbeddings, int drafterVocab, int drafterDim, int gammaMax) {
    Router.Config c = router.config();
    if (c.vocabSize() != drafterVocab || c.embeddingDim() != drafterDim) {
      throw new IllegalArgumentException("the router was trained for a drafter with a vocabulary of " + c.vocabSize()
          + " and width " + c.embeddingDim() + "; this drafter has " + drafterVocab + " and " + drafterDim);
    }
    if (gammaMax < 1) throw new IllegalArgumentException("gamma-max must be >= 1, got " + gammaMax);
    this.router = router;
    this.embeddings = drafterEmbeddings;
    this.gammaMax = gammaMax;
    this.threshold = c.threshold();
  }

  @Override public int maxDrafts() { return gammaMax; }
  @Override public boolean needsDistribution() { return true; }

  @Override
  public boolean continueDrafting(int step, float[] probabilities) {
    if (step + 1 >= gammaMax) return false;
    return 1 - router.predictDisagreement(probabilities, embeddings) >= threshold;
  }

  @Override
  public String toString() {
    return "router(gamma-max=" + gammaMax + ", threshold=" + threshold + ")";
  }
}
