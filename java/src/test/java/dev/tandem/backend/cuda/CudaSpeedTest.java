package dev.tandem.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.engine.GenerationRequest;
import dev.tandem.engine.GenerationResult;
import dev.tandem.engine.TokenListener;
import dev.tandem.model.Decoder;
import dev.tandem.model.ModelWeights;
import dev.tandem.sampling.SamplingParams;
import dev.tandem.speculative.BlockLengthPolicy;
import dev.tandem.engine.Engine;
import dev.tandem.speculative.SpeedFixtures;
import dev.tandem.speculative.SpeedMetrics;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Greedy SPEED on the GPU emits the primary's greedy output on the GPU: plain and tandem drafters
 * (perturbed copies of the primary, so drafts are both accepted and rejected), batches of 1 and 4.
 * Verification blocks go through the small-n kernels, which are bitwise batch invariant, so the
 * outputs must be identical; a divergence fails with the step and the primary's top-two margin.
 */
class CudaSpeedTest {
  static final int VOCAB = 97;
  static CudaBackend gpu;

  @BeforeAll
  static void open() {
    if (GpuTests.available()) gpu = GpuTests.backend();
  }

  /** Per test, not per class: without a GPU each test is reported skipped (with the reason), not absent. */
  @BeforeEach
  void assumeGpu() {
    GpuTests.assumeGpu();
  }

  @AfterAll
  static void close() {
    if (gpu != null) gpu.close();
  }

  @Test
  void greedySpeedOnTheGpuEqualsPrimaryGreedyOnTheGpu() {
    SpeedMetrics totals = new SpeedMetrics();
    for (long seed = 0; seed < 4; seed++) {
      ModelWeights primary = ModelWeights.random(SpeedFixtures.primaryConfig(VOCAB), seed, 0.35);
      SplittableRandom random = new SplittableRandom(seed);
      List<GenerationRequest> batch = new ArrayList<>();
      for (int r = 0; r < 4; r++) {
        batch.add(new GenerationRequest(random.ints(2 + r, 0, VOCAB).toArray(), 20, SamplingParams.greedy(), -1, r));
      }
      List<int[]> expected = new ArrayList<>();
      expected.addAll(SpeedFixtures.primaryAlone(primary, gpu, batch));
      Object[] drafters = {SpeedFixtures.perturbed(primary, seed + 1, 0.03), SpeedFixtures.tandemCopy(primary, seed + 2, 0.03),
          SpeedFixtures.tandem(primary, seed + 3, 0.35)};
      for (Object drafter : drafters) {
        try (Engine speed = SpeedFixtures.speed(primary, drafter, BlockLengthPolicy.fixed(3), gpu, 4)) {
          // Greedy fixed-gamma rounds keep the drafts on the device (one wait a round); the host loop,
          // which reads every draft back, must give the same tokens.
          List<GenerationResult> together = SpeedFixtures.generate(speed, batch, totals);
          speed.useDeviceRounds(false);
          List<GenerationResult> hostRounds = speed.generateAll(batch, TokenListener.NONE);
          speed.useDeviceRounds(true);
          for (int r = 0; r < batch.size(); r++) {
            String what = "seed " + seed + ", " + speed.drafter().kind() + ", request " + r;
            assertThat(together.get(r).tokens()).as(what + " in a batch of 4").containsExactly(expected.get(r));
            assertThat(hostRounds.get(r).tokens()).as(what + ", host rounds").containsExactly(expected.get(r));
            assertThat(speed.generateAll(List.of(batch.get(r)), TokenListener.NONE).getFirst().tokens())
                .as(what + " alone").containsExactly(expected.get(r));
          }
        }
      }
    }
    System.out.printf("GPU SPEED: %d rounds, %d drafts, %d accepted, mean accepted length %.2f%n", totals.rounds,
        totals.draftTokens, totals.acceptedTokens, totals.meanAcceptedLength());
    assertThat(totals.acceptedTokens).isPositive().isLessThan(totals.draftTokens);
  }

  /**
   * Sampled SPEED with the drafts and their distributions kept on the GPU (sample_f32_drafts,
   * rejection_f32; one wait a round) draws the same tokens as the host loop, which samples and runs
   * the rejection test on the CPU from the same GPU logits: both follow Sampler and RejectionSampler,
   * with sums in another order, so they could differ only where a uniform lies within about 1e-12
   * of a boundary.
   */
  @Test
  void sampledSpeedRoundsOnTheGpuDrawWhatTheHostLoopDraws() {
    SpeedMetrics totals = new SpeedMetrics();
    for (long seed = 0; seed < 3; seed++) {
      ModelWeights primary = ModelWeights.random(SpeedFixtures.primaryConfig(VOCAB), seed, 0.35);
      SplittableRandom random = new SplittableRandom(seed);
      List<GenerationRequest> batch = new ArrayList<>();
      for (int r = 0; r < 4; r++) {
        SamplingParams params = new SamplingParams(0.6f + 0.3f * r, r == 1 ? 7 : 0, r == 2 ? 0.85f : 1f, seed * 17 + r);
        batch.add(new GenerationRequest(random.ints(2 + r, 0, VOCAB).toArray(), 24, params, -1, r));
      }
      Object[] drafters = {SpeedFixtures.perturbed(primary, seed + 1, 0.03), SpeedFixtures.tandemCopy(primary, seed + 2, 0.03)};
      for (Object drafter : drafters) {
        try (Engine speed = SpeedFixtures.speed(primary, drafter, BlockLengthPolicy.fixed(3), gpu, 4)) {
          speed.useDeviceRounds(true);
          List<GenerationResult> device = SpeedFixtures.generate(speed, batch, totals);
          speed.useDeviceRounds(false);
          List<GenerationResult> host = speed.generateAll(batch, TokenListener.NONE);
          for (int r = 0; r < batch.size(); r++) {
            assertThat(device.get(r).tokens()).as("seed " + seed + ", " + speed.drafter().kind() + ", request " + r)
                .containsExactly(host.get(r).tokens());
          }
        }
      }
    }
    System.out.printf("GPU sampled SPEED: %d rounds, %d drafts, %d accepted%n", totals.rounds, totals.draftTokens,
        totals.acceptedTokens);
    assertThat(totals.acceptedTokens).isPositive().isLessThan(totals.draftTokens);
  }
}
