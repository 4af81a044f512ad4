package dev.tandem.sampling;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Issue 18, item 11: temperature together with top-k and top-p. Every filtered case of {@link SamplerTest}
 * ran at temperature 1, so a sampler that ignored the temperature whenever a filter was on passed. Here
 * the distribution and the drawn tokens at T != 1 are compared with {@link ReferenceSampling}.
 */
class FilteredTemperatureTest {
  private static final int VOCAB = 37;

  @Test
  void filteredDistributionsAtTemperaturesOtherThanOneMatchTheReference() {
    SplittableRandom random = new SplittableRandom(5);
    Sampler sampler = new Sampler(VOCAB);
    float[] p = new float[VOCAB];
    for (float t : new float[] {0.3f, 0.7f, 1.6f, 3f}) {
      for (int topK : new int[] {0, 1, 5, 20}) {
        for (float topP : new float[] {1f, 0.9f, 0.5f}) {
          if (topK == 0 && topP == 1f) continue; // unfiltered: SamplerTest covers it
          float[] logits = new float[VOCAB];
          for (int i = 0; i < VOCAB; i++) logits[i] = (float) (random.nextGaussian() * 2);
          sampler.distribution(logits, 0, new SamplingParams(t, topK, topP, 1), p);
          double[] expected = ReferenceSampling.distribution(logits, 0, VOCAB, t, topK, topP);
          for (int i = 0; i < VOCAB; i++) {
            assertThat((double) p[i]).as("T=%s top-k=%d top-p=%s id %d", t, topK, topP, i)
                .isCloseTo(expected[i], org.assertj.core.data.Offset.offset(2e-6));
          }
        }
      }
    }
  }

  /** The token drawn equals the reference's draw with the same random number, position by position. */
  @Test
  void sampledTokensAtTemperaturesOtherThanOneMatchTheReference() {
    SplittableRandom random = new SplittableRandom(6);
    Sampler sampler = new Sampler(VOCAB);
    int differing = 0, n = 0;
    for (float t : new float[] {0.5f, 2f}) {
      for (int[] filter : new int[][] {{8, 100}, {0, 80}, {12, 60}}) {
        SamplingParams params = new SamplingParams(t, filter[0], filter[1] / 100f, 77);
        float[] logits = new float[VOCAB];
        for (int i = 0; i < VOCAB; i++) logits[i] = (float) (random.nextGaussian() * 1.5);
        double[] expected = ReferenceSampling.distribution(logits, 0, VOCAB, t, params.topK(), params.topP());
        for (int position = 0; position < 2000; position++, n++) {
          float u = Philox.uniform(77, 3, position, Philox.STREAM_SAMPLE);
          if (sampler.sample(logits, 0, params, 3, position) != ReferenceSampling.draw(expected, u)) differing++;
        }
      }
    }
    // float against double sums may part only where u lies within ~1e-6 of a boundary
    assertThat(differing).as("draws differing from the reference of %d", n).isLessThanOrEqualTo(1);
  }
}
