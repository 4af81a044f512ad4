package dev.tandem.speculative;

import dev.tandem.secondary.RouterConfig;
import dev.tandem.secondary.RouterFeatures;
import dev.tandem.secondary.RouterWeights;
import java.util.Arrays;
import java.util.Objects;

/**
 * Adaptive block length (DESIGN.md): after each draft the router reads the drafter's distribution
 * ({@link RouterFeatures}: entropy, top-k probabilities, the drafter's embeddings of those tokens)
 * and predicts the disagreement r with the primary, and drafting never goes beyond gamma_max. Two
 * stopping rules:
 * <ul>
 *   <li>{@link Rule#TOKEN} (the paper's): stop when r of the token just drafted exceeds the threshold;
 *   <li>{@link Rule#SURVIVAL}: stop when the product of (1 - r) over the round's drafts so far, an
 *       estimate of the chance that all of them are accepted, falls below the threshold. It weighs
 *       the risk already taken: a long run of confident drafts goes on, a few doubtful ones stop it.
 * </ul>
 * Either way the output is the primary's; only how many drafts a round proposes changes.
 */
public final class RouterPolicy implements BlockLengthPolicy {
  /** How the router's per-token predictions decide the block length. */
  public enum Rule { TOKEN, SURVIVAL }

  private final RouterWeights router;
  private final float[] embeddings;  // the drafter's input embeddings, [vocab][dim]
  private final int vocab;
  private final int dim;
  private final int gammaMax;
  private final Rule rule;
  private final float[] features;    // [featureSize] scratch
  private final float[] standardised;  // [featureSize] scratch of the router's forward
  private final int[] topIds;        // [topK] scratch
  private double[] survival = new double[8];  // SURVIVAL: per batch slot, the product of (1 - r) this round

  /** The router with the stop rule and threshold stored in its config. */
  public RouterPolicy(RouterWeights router, float[] drafterEmbeddings, int drafterVocab, int drafterDim, int gammaMax) {
    this(router, drafterEmbeddings, drafterVocab, drafterDim, gammaMax, storedRule(router.config()));
  }

  /** The rule a config names. */
  public static Rule storedRule(RouterConfig config) {
    return RouterConfig.SURVIVAL_RULE.equals(config.stopRule()) ? Rule.SURVIVAL : Rule.TOKEN;
  }

  public RouterPolicy(RouterWeights router, float[] drafterEmbeddings, int drafterVocab, int drafterDim, int gammaMax,
      Rule rule) {
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
    this.rule = Objects.requireNonNull(rule, "rule");
    this.features = new float[c.featureSize()];
    this.standardised = new float[c.featureSize()];
    this.topIds = new int[c.topK()];
  }

  @Override public int maxDrafts() { return gammaMax; }
  @Override public boolean needsLogits() { return true; }

  @Override
  public boolean continueDrafting(int slot, int step, float[] logits, int offset) {
    if (step + 1 >= gammaMax) return false;
    RouterFeatures.compute(logits, offset, vocab, router.config().topK(), embeddings, dim, features, 0, topIds);
    float disagreement = router.forward(features, 0, standardised);
    double threshold = router.config().threshold();
    if (rule == Rule.TOKEN) return !(disagreement > threshold);
    if (slot >= survival.length) survival = Arrays.copyOf(survival, Math.max(2 * survival.length, slot + 1));
    if (step == 0) survival[slot] = 1;
    survival[slot] *= 1 - disagreement;
    return !(survival[slot] < threshold);
  }

  @Override
  public String toString() {
    return "router(gamma-max=" + gammaMax + ", " + (rule == Rule.TOKEN ? "token" : "survival") + " rule, threshold="
        + router.config().threshold() + ")";
  }
}
