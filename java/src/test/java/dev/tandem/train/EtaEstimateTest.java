package dev.tandem.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.data.Offset.offset;

import org.junit.jupiter.api.Test;

/** Issue 18, item 9: the first progress lines of a 50 s run said 32 minutes (the warm-up update counted). */
class EtaEstimateTest {
  @Test
  void theWarmUpUpdateDoesNotCountAndValidationsToComeDo() {
    // 100 updates: the first takes 19 s (JIT, first touches), the rest 0.4 s; validation every 25 (2 s each)
    EtaEstimate eta = new EtaEstimate(100, 25);
    eta.update(19);
    assertThat(eta.seconds(1)).as("unknown after one update").isNaN();
    eta.update(0.4);
    // 98 updates of 0.4 s and validations at 25, 50, 75, 100 (none timed yet)
    assertThat(eta.seconds(2)).isCloseTo(98 * 0.4, offset(1e-9));
    for (int i = 3; i <= 25; i++) eta.update(0.4);
    eta.validation(2);
    assertThat(eta.seconds(25)).isCloseTo(75 * 0.4 + 3 * 2, offset(1e-9));
    assertThat(eta.seconds(100)).isZero();
    // the whole stage takes about 19 + 99 * 0.4 + 8 = 67 s; at update 2 the estimate must not be minutes off
    assertThat(eta.seconds(2)).isLessThan(67);
  }

  @Test
  void aFinalValidationOffTheIntervalIsCounted() {
    EtaEstimate eta = new EtaEstimate(10, 4); // validations after 4, 8 and the last (10)
    eta.update(1);
    eta.update(1);
    eta.validation(5);
    assertThat(eta.seconds(2)).isCloseTo(8 + 3 * 5, offset(1e-9));
    assertThat(eta.seconds(9)).isCloseTo(1 + 5, offset(1e-9));
  }
}
