package dev.tandem.sampling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class SamplerTest {
  @Test
  void greedyTakesTheLowestIdAmongTies() {
    float[] logits = {0f, 3f, 1f, 3f};
    assertThat(Sampler.argmax(logits, 0, 4)).isEqualTo(1);
    assertThat(new Sampler(4).sample(logits, 0, SamplingParams.greedy(), 0, 0)).isEqualTo(1);
  }

  @Test
  void distributionIsSoftmaxOfScaledLogits() {
    float[] logits = {1f, 2f, 3f};
    float[] p = new float[3];
    new Sampler(3).distribution(logits, 0, new SamplingParams(2f, 0, 1f, 0), p);
    double z = Math.exp(0.5) + Math.exp(1) + Math.exp(1.5);
    assertThat((double) p[0]).isCloseTo(Math.exp(0.5) / z, org.assertj.core.data.Offset.offset(1e-6));
    assertThat((double) p[2]).isCloseTo(Math.exp(1.5) / z, org.assertj.core.data.Offset.offset(1e-6));
  }

  @Test
  void topKKeepsTheKLargestWithLowerIdsWinningTies() {
    float[] logits = {5f, 1f, 5f, 4f, 5f};
    float[] p = new float[5];
    new Sampler(5).distribution(logits, 0, new SamplingParams(1f, 2, 1f, 0), p);
    assertThat(p[0]).isEqualTo(0.5f);
    assertThat(p[2]).isEqualTo(0.5f);
    assertThat(p[1]).isZero();
    assertThat(p[3]).isZero();
    assertThat(p[4]).isZero();
  }

  @Test
  void topPKeepsTheSmallestPrefixReachingTheMass() {
    // probabilities 0.5, 0.3, 0.15, 0.05 (log-space logits)
    float[] logits = {(float) Math.log(0.5), (float) Math.log(0.3), (float) Math.log(0.15), (float) Math.log(0.05)};
    float[] p = new float[4];
    new Sampler(4).distribution(logits, 0, new SamplingParams(1f, 0, 0.75f, 0), p);
    assertThat((double) p[0]).isCloseTo(0.5 / 0.8, org.assertj.core.data.Offset.offset(1e-6));
    assertThat((double) p[1]).isCloseTo(0.3 / 0.8, org.assertj.core.data.Offset.offset(1e-6));
    assertThat(p[2]).isZero();
    assertThat(p[3]).isZero();
    new Sampler(4).distribution(logits, 0, new SamplingParams(1f, 0, 0.81f, 0), p);
    assertThat(p[2]).isPositive();
  }

  @Test
  void drawWalksIdsInOrder() {
    float[] p = {0.25f, 0f, 0.5f, 0.25f};
    assertThat(Sampler.draw(p, 0f)).isEqualTo(0);
    assertThat(Sampler.draw(p, 0.2499f)).isEqualTo(0);
    assertThat(Sampler.draw(p, 0.25f)).isEqualTo(2);
    assertThat(Sampler.draw(p, 0.9999f)).isEqualTo(3);
  }

  /** Frequencies of 20,000 draws against the distribution: Pearson chi-square, 4 degrees of freedom. */
  @Test
  void samplesFollowTheDistribution() {
    float[] logits = {0f, 1f, 2f, -1f, 0.5f};
    SamplingParams params = new SamplingParams(1f, 0, 1f, 1234);
    Sampler sampler = new Sampler(5);
    float[] p = new float[5];
    sampler.distribution(logits, 0, params, p);
    int n = 20_000;
    int[] counts = new int[5];
    for (int i = 0; i < n; i++) counts[sampler.sample(logits, 0, params, 3, i)]++;
    double chi2 = 0;
    for (int i = 0; i < 5; i++) chi2 += Math.pow(counts[i] - n * p[i], 2) / (n * p[i]);
    assertThat(chi2).as("chi-square with 4 degrees of freedom (p = 0.001 at 18.47)").isLessThan(18.47);
  }

  @Test
  void rejectsInvalidParameters() {
    assertThatThrownBy(() -> new SamplingParams(-1f, 0, 1f, 0)).hasMessageContaining("temperature");
    assertThatThrownBy(() -> new SamplingParams(Float.NaN, 0, 1f, 0)).hasMessageContaining("temperature");
    assertThatThrownBy(() -> new SamplingParams(1f, -3, 1f, 0)).hasMessageContaining("top-k");
    assertThatThrownBy(() -> new SamplingParams(1f, 0, 0f, 0)).hasMessageContaining("top-p");
    assertThatThrownBy(() -> new SamplingParams(1f, 0, 1.5f, 0)).hasMessageContaining("top-p");
  }
}
