package dev.tandem.speculative;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.backend.BatchRows;
import dev.tandem.backend.cpu.CpuBackend;
import dev.tandem.model.Decoder;
import dev.tandem.model.LogitsMode;
import dev.tandem.model.ModelWeights;
import dev.tandem.secondary.TandemWeights;
import org.junit.jupiter.api.Test;

/** The tandem drafter's refresh after a primary pass, for a secondary in step and one left behind. */
class TandemDrafterTest {
  @Test
  void aSecondaryBehindThePassIsNotRefreshedAndOneInStepIs() {
    try (CpuBackend backend = CpuBackend.fast(1)) {
      ModelWeights primaryWeights = ModelWeights.random(SpeedFixtures.primaryConfig(40), 1, 0.35);
      TandemWeights weights = SpeedFixtures.tandem(primaryWeights, 2, 0.35);
      try (TandemDrafter drafter = new TandemDrafter(weights, backend, SpeedFixtures.CONTEXT, 16, 2);
          Decoder primary = new Decoder(primaryWeights, backend, SpeedFixtures.CONTEXT, 16, drafter.primaryCaptureLayers())) {
        var cache = primary.newCache(2);
        int[] tokens = {3, 1, 4, 1, 5, 9, 2, 6};
        BatchRows rows = new BatchRows(16);
        rows.addSequence(0, tokens, 0, 5, 0);
        rows.addSequence(1, tokens, 0, 5, 0);
        primary.forward(rows, cache, LogitsMode.NONE);
        drafter.afterPrimaryPass(primary, rows, new int[] {5, 5});
        assertThat(drafter.cache().length(0)).isEqualTo(5);
        // Slot 1's secondary falls behind (rounds without drafts skip the refresh): it holds 2 positions.
        drafter.cache().setLength(1, 2);
        rows.clear();
        rows.addSequence(0, tokens, 5, 3, 5);
        rows.addSequence(1, tokens, 5, 3, 5);
        primary.forward(rows, cache, LogitsMode.NONE);
        drafter.afterPrimaryPass(primary, rows, new int[] {2, 3});
        assertThat(drafter.cache().length(0)).as("in step: refreshed through the kept rows").isEqualTo(7);
        assertThat(drafter.cache().length(1)).as("behind: left to catch up, no gap written").isEqualTo(2);
        cache.close();
      }
    }
  }
}
