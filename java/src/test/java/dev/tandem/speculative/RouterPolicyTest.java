package dev.tandem.speculative;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.secondary.RouterConfig;
import dev.tandem.secondary.RouterWeights;
import org.junit.jupiter.api.Test;

/** The two stopping rules of the router, on a router whose prediction is a constant r. */
class RouterPolicyTest {
  static final int VOCAB = 12, DIM = 4, TOP_K = 3;

  /** A router that predicts r whatever the features: all weights zero, output bias logit(r). */
  static RouterWeights constant(double r, double threshold) {
    RouterConfig c = new RouterConfig(TOP_K, DIM, 5, threshold, VOCAB);
    int f = c.featureSize(), h = c.hiddenSize();
    float[] std = new float[f];
    java.util.Arrays.fill(std, 1f);
    return new RouterWeights(c, new float[f], std, new float[h * f], new float[h], new float[h],
        (float) Math.log(r / (1 - r)));
  }

  /** Drafts a round proposes for one slot: 1 + the steps after which the policy continues. */
  static int draftsPerRound(RouterPolicy policy, int slot, float[] logits) {
    int drafts = 1;
    while (policy.continueDrafting(slot, drafts - 1, logits, 0)) drafts++;
    return drafts;
  }

  @Test
  void tokenRuleStopsWhenOneTokensDisagreementExceedsTheThreshold() {
    float[] logits = new float[VOCAB];
    float[] embeddings = new float[VOCAB * DIM];
    assertThat(draftsPerRound(new RouterPolicy(constant(0.3, 0.4), embeddings, VOCAB, DIM, 9), 0, logits))
        .as("r 0.3 <= 0.4: never stops before gamma-max").isEqualTo(9);
    assertThat(draftsPerRound(new RouterPolicy(constant(0.5, 0.4), embeddings, VOCAB, DIM, 9), 0, logits))
        .as("r 0.5 > 0.4: stops after the first draft").isEqualTo(1);
  }

  @Test
  void survivalRuleStopsWhenTheProductOfAgreementsFallsBelowTheThreshold() {
    float[] logits = new float[VOCAB];
    float[] embeddings = new float[VOCAB * DIM];
    RouterPolicy policy = new RouterPolicy(constant(0.3, 0.4), embeddings, VOCAB, DIM, 9, RouterPolicy.Rule.SURVIVAL);
    // 0.7 and 0.49 stay above 0.4; 0.343 falls below it after the third draft.
    assertThat(draftsPerRound(policy, 0, logits)).isEqualTo(3);
    assertThat(draftsPerRound(policy, 0, logits)).as("a new round starts again at 1").isEqualTo(3);
    // Slots keep their own products: interleave two sequences (slot 5 grows the per-slot array).
    assertThat(policy.continueDrafting(0, 0, logits, 0)).isTrue();
    assertThat(policy.continueDrafting(5, 0, logits, 0)).isTrue();
    assertThat(policy.continueDrafting(0, 1, logits, 0)).isTrue();
    assertThat(policy.continueDrafting(5, 1, logits, 0)).isTrue();
    assertThat(policy.continueDrafting(0, 2, logits, 0)).isFalse();
    assertThat(policy.continueDrafting(5, 2, logits, 0)).isFalse();
    assertThat(draftsPerRound(new RouterPolicy(constant(0.3, 0.4), embeddings, VOCAB, DIM, 2,
        RouterPolicy.Rule.SURVIVAL), 0, logits)).as("gamma-max caps it").isEqualTo(2);
  }
}
