package dev.tandem.speculative;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.backend.cpu.CpuBackend;
import dev.tandem.engine.Engine;
import dev.tandem.engine.FinishReason;
import dev.tandem.engine.GenerationRequest;
import dev.tandem.engine.GenerationResult;
import dev.tandem.engine.TokenListener;
import dev.tandem.model.ModelWeights;
import dev.tandem.sampling.SamplingParams;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Fixed-gamma rounds with the drafts kept on the backend (the draft table, one wait per round),
 * greedy and sampled, give the same tokens and the same acceptance, round by round, as the host loop
 * that reads every draft back.
 */
class SpeedDeviceRoundsTest {
  static final int VOCAB = 53;
  static CpuBackend backend;

  @BeforeAll static void open() { backend = CpuBackend.fast(2); }
  @AfterAll static void close() { backend.close(); }

  @Test
  void greedyDeviceRoundsEqualHostRounds() {
    deviceRoundsEqualHostRounds(false);
  }

  /** Sampled rounds: drafts drawn into the draft table, rejection sampling where the logits are. */
  @Test
  void sampledDeviceRoundsEqualHostRounds() {
    deviceRoundsEqualHostRounds(true);
  }

  private void deviceRoundsEqualHostRounds(boolean sampled) {
    for (long seed = 0; seed < 6; seed++) {
      ModelWeights primary = ModelWeights.random(SpeedFixtures.primaryConfig(VOCAB), seed, 0.35);
      Object[] drafters = {ModelWeights.random(SpeedFixtures.drafterConfig(VOCAB), seed + 100, 0.35),
          SpeedFixtures.perturbed(primary, seed + 300, 0.03), SpeedFixtures.tandemCopy(primary, seed + 400, 0.03)};
      SplittableRandom random = new SplittableRandom(seed);
      List<GenerationRequest> batch = new ArrayList<>();
      for (int r = 0; r < 4; r++) {  // ragged: prompts and lengths differ, one request stops after one token
        int[] prompt = random.ints(1 + random.nextInt(9), 0, VOCAB).toArray();
        SamplingParams params = !sampled ? SamplingParams.greedy()
            : new SamplingParams(0.7f + 0.2f * r, r == 1 ? 5 : 0, r == 2 ? 0.8f : 1f, seed * 31 + r);
        batch.add(new GenerationRequest(prompt, r == 3 ? 1 : 9 + random.nextInt(14), params, -1, r));
      }
      for (int gamma : new int[] {1, 3, 5}) {
        for (int k = 0; k < drafters.length; k++) {
          Engine speed = SpeedFixtures.speed(primary, drafters[k], BlockLengthPolicy.fixed(gamma),
              backend, 4);
          SpeedMetrics onHost = new SpeedMetrics(), onDevice = new SpeedMetrics();
          speed.useDeviceRounds(false);
          List<GenerationResult> host = SpeedFixtures.generate(speed, batch, onHost);
          speed.useDeviceRounds(true);
          List<GenerationResult> device = SpeedFixtures.generate(speed, batch, onDevice);
          String what = "seed " + seed + ", gamma " + gamma + ", " + speed.drafter().kind();
          for (int r = 0; r < batch.size(); r++) {
            assertThat(device.get(r).tokens()).as(what + ", request " + r).containsExactly(host.get(r).tokens());
            assertThat(device.get(r).finishReason()).isEqualTo(host.get(r).finishReason());
            assertThat(device.get(r).metrics().acceptedTokens).as(what).isEqualTo(host.get(r).metrics().acceptedTokens);
            assertThat(device.get(r).metrics().draftTokens).as(what).isEqualTo(host.get(r).metrics().draftTokens);
          }
          assertThat(onDevice.primaryRuns).as(what + ": primary passes").isEqualTo(onHost.primaryRuns);
          assertThat(onDevice.drafterRuns).as(what + ": drafter passes").isEqualTo(onHost.drafterRuns);
          if (k > 0) assertThat(onDevice.acceptedTokens).as(what + ": a near copy's drafts are accepted").isGreaterThan(0);
          speed.close();
        }
      }
    }
  }
}
