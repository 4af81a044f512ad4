package dev.tandem.sampling;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class PhiloxTest {
  /** Known-answer vectors of Philox4x32-10 from the Random123 distribution (kat_vectors). */
  @Test
  void matchesRandom123KnownAnswers() {
    int[] out = new int[4];
    Philox.block(0, 0, 0, 0, 0, 0, out);
    assertThat(out).containsExactly(0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8);
    Philox.block(-1, -1, -1, -1, -1, -1, out);
    assertThat(out).containsExactly(0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd);
    Philox.block(0xa4093822, 0x299f31d0, 0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, out);
    assertThat(out).containsExactly(0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1);
  }

  @Test
  void uniformsAreInRangeAndKeyedByEveryArgument() {
    float a = Philox.uniform(1, 2, 3, 0);
    assertThat(a).isBetween(0f, Math.nextDown(1f));
    assertThat(Philox.uniform(1, 2, 3, 0)).isEqualTo(a);
    assertThat(Philox.uniform(2, 2, 3, 0)).isNotEqualTo(a);
    assertThat(Philox.uniform(1, 3, 3, 0)).isNotEqualTo(a);
    assertThat(Philox.uniform(1, 2, 4, 0)).isNotEqualTo(a);
    assertThat(Philox.uniform(1, 2, 3, 1)).isNotEqualTo(a);
    double mean = 0;
    int n = 100_000;
    for (int i = 0; i < n; i++) mean += Philox.uniform(7, 0, i, 0);
    mean /= n;
    assertThat(mean).isBetween(0.5 - 0.005, 0.5 + 0.005);  // sd of the mean: 0.29 / sqrt(n) = 0.0009
  }
}
