package dev.tandem.spec;

import dev.tandem.tandem.RouterConfig;
import dev.tandem.tandem.RouterFeatures;
import dev.tandem.tandem.RouterWeights;

/**
 * Adaptive block length (DESIGN.md): after each draft the router reads the drafter's distribution
 * ({@link RouterFeatures}: entropy, top-k probabilities, the drafter's embeddings of those tokens)
 * and predicts the disagreement with the primary; drafting stops when the prediction exceeds the
 * router's threshold, and never goes beyond gamma_max.
 */
public final class RouterPolicy implements BlockLengthPolicy {
  private final RouterWeights router;
  private final float[] embeddings;  // the drafter's input embeddings, [vocab][dim]
  private final int vocab;
  private final int dim;
  private final int gammaMax;
  private final float[] features;    // [featureSize] scratch
  private final int[] topIds;        // [topK] scratch

  public RouterPolicy(RouterWeights router, float[] drafterEmbeddings, int drafterVocab, int drafterDim, int gammaMax) {
    RouterConfig c = router.config();
    if (c.secondaryVocabSize() != drafterVocab || c.embeddingDim() != drafterDim) {
      throw new IllegalArgumentException("the router was trained for a drafter with a vocabulary of "
          + c.secondaryVocabSize() + " and width " + c.embeddingDim() + "; this drafter has " + drafterVocab + " and "
          + drafterDim);
    }
    if (gammaMax < 1) throw new IllegalArgumentException("gamma-max must be >= 1, got " + gammaMax);
    this.router = router;
    this.embeddings = drafterEmbeddings;
    this.vocab = drafterVocab;
    this.dim = drafterDim;
    this.gammaMax = gammaMax;
    this.features = new float[c.featureSize()];
    this.topIds = new int[c.topK()];
  }

  @Override public int maxDrafts() { return gammaMax; }
  @Override public boolean needsLogits() { return true; }

  @Override
  public boolean continueDrafting(int step, float[] logits, int offset) {
    if (step + 1 >= gammaMax) return false;
    RouterFeatures.compute(logits, offset, vocab, router.config().topK(), embeddings, dim, features, 0, topIds);
    return !router.stop(features, 0);
  }

  @Override
  public String toString() {
    return "router(gamma-max=" + gammaMax + ", threshold=" + router.config().threshold() + ")";
  }
}
