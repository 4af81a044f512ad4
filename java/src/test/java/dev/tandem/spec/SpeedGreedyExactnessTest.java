package dev.tandem.spec;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.backend.cpu.CpuBackend;
import dev.tandem.engine.GenerationRequest;
import dev.tandem.engine.GenerationResult;
import dev.tandem.engine.Generator;
import dev.tandem.engine.TokenListener;
import dev.tandem.model.Decoder;
import dev.tandem.model.ModelWeights;
import dev.tandem.sampling.SamplingParams;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Greedy SPEED emits exactly the primary's greedy continuation, for every drafter and batch size. */
class SpeedGreedyExactnessTest {
  static final int VOCAB = 53;
  static CpuBackend backend;

  @BeforeAll static void open() { backend = CpuBackend.fast(2); }
  @AfterAll static void close() { backend.close(); }

  private static List<GenerationRequest> prompts(long seed, int count) {
    SplittableRandom random = new SplittableRandom(seed);
    List<GenerationRequest> requests = new ArrayList<>();
    for (int r = 0; r < count; r++) {
      int[] prompt = random.ints(1 + random.nextInt(9), 0, VOCAB).toArray();
      requests.add(new GenerationRequest(prompt, 12 + random.nextInt(14), SamplingParams.greedy(), -1, r));
    }
    return requests;
  }

  private static List<int[]> primaryAlone(ModelWeights primary, List<GenerationRequest> requests) {
    try (Decoder decoder = new Decoder(primary, backend, SpeedFixtures.CONTEXT, 16)) {
      Generator generator = new Generator(decoder);
      List<int[]> out = new ArrayList<>();
      for (GenerationRequest r : requests) out.add(generator.generate(r, TokenListener.NONE).tokens());
      return out;
    }
  }

  /**
   * 20 seeds x gamma {1, 2, 3, 7} x {random plain drafter, perturbed copy of the primary, random
   * tandem secondary, perturbed tandem copy of the primary} x batch {1, 5}. The perturbed copies
   * agree with the primary often, so partial acceptance (cache truncation, catch-up, refresh of a
   * prefix of the block) is exercised, not only immediate rejection.
   */
  @ParameterizedTest(name = "gamma={0}")
  @ValueSource(ints = {1, 2, 3, 7})
  void greedySpeedEqualsPrimaryGreedy(int gamma) {
    SpeedMetrics acceptance = new SpeedMetrics();
    for (long seed = 0; seed < 20; seed++) {
      ModelWeights primary = ModelWeights.random(SpeedFixtures.primaryConfig(VOCAB), seed, 0.35);
      ModelWeights plain = ModelWeights.random(SpeedFixtures.drafterConfig(VOCAB), seed + 100, 0.35);
      Object[] drafters = {plain, SpeedFixtures.perturbed(primary, seed + 300, 0.03),
          SpeedFixtures.tandem(primary, seed + 200, 0.35), SpeedFixtures.tandemCopy(primary, seed + 400, 0.03)};
      List<GenerationRequest> batch = prompts(seed, 5);
      List<int[]> expected = primaryAlone(primary, batch);
      for (Object drafterWeights : drafters) {
        SpeculativeGenerator speed = SpeedFixtures.speed(primary, drafterWeights, BlockLengthPolicy.fixed(gamma),
            backend, 5);
        List<SpeedResult> together = speed.generate(batch, TokenListener.NONE, acceptance);
        for (int r = 0; r < batch.size(); r++) {
          String what = "seed " + seed + ", gamma " + gamma + ", " + speed.drafter().kind() + ", request " + r;
          assertThat(together.get(r).tokens()).as(what + " in a batch of 5").containsExactly(expected.get(r));
          SpeedResult alone = speed.generate(List.of(batch.get(r)), TokenListener.NONE).getFirst();
          assertThat(alone.tokens()).as(what + " alone").containsExactly(expected.get(r));
          assertThat(alone.finishReason()).isEqualTo(GenerationResult.FinishReason.LENGTH);
        }
        speed.drafter().close();
      }
    }
    // The test only means something if drafts were both accepted and rejected.
    assertThat(acceptance.acceptedTokens).isPositive();
    assertThat(acceptance.acceptedTokens).isLessThan(acceptance.draftTokens);
  }

  @Test
  void aTandemSecondaryThatIsThePrimaryGetsEveryDraftAccepted() {
    ModelWeights primary = ModelWeights.random(SpeedFixtures.primaryConfig(VOCAB), 8, 0.35);
    SpeculativeGenerator speed = SpeedFixtures.speed(primary, SpeedFixtures.tandemCopy(primary, 0, 0),
        BlockLengthPolicy.fixed(5), backend, 3);
    List<GenerationRequest> batch = prompts(4, 3);
    SpeedMetrics totals = new SpeedMetrics();
    List<SpeedResult> results = speed.generate(batch, TokenListener.NONE, totals);
    assertThat(totals.acceptedTokens).isEqualTo(totals.draftTokens).isPositive();
    List<int[]> expected = primaryAlone(primary, batch);
    for (int r = 0; r < batch.size(); r++) assertThat(results.get(r).tokens()).containsExactly(expected.get(r));
  }

  @Test
  void aDrafterIdenticalToThePrimaryGetsEveryDraftAccepted() {
    ModelWeights primary = ModelWeights.random(SpeedFixtures.primaryConfig(VOCAB), 7, 0.35);
    SpeculativeGenerator speed = SpeedFixtures.speed(primary, primary, BlockLengthPolicy.fixed(4), backend, 2);
    List<GenerationRequest> batch = prompts(3, 2);
    SpeedMetrics totals = new SpeedMetrics();
    List<SpeedResult> results = speed.generate(batch, TokenListener.NONE, totals);
    assertThat(totals.draftTokens).isPositive();
    assertThat(totals.acceptedTokens).isEqualTo(totals.draftTokens);
    assertThat(totals.meanAcceptedLength()).isGreaterThan(3.0);
    List<int[]> expected = primaryAlone(primary, batch);
    for (int r = 0; r < batch.size(); r++) assertThat(results.get(r).tokens()).containsExactly(expected.get(r));
  }

  @Test
  void stopTokenEndsTheSequenceInsideAnAcceptedBlock() {
    ModelWeights primary = ModelWeights.random(SpeedFixtures.primaryConfig(VOCAB), 11, 0.35);
    GenerationRequest plain = prompts(5, 1).getFirst();
    int[] expected = primaryAlone(primary, List.of(plain)).getFirst();
    int stop = expected[4];
    GenerationRequest stopping = new GenerationRequest(plain.prompt(), plain.maxTokens(), SamplingParams.greedy(),
        stop, 0);
    SpeculativeGenerator speed = SpeedFixtures.speed(primary, primary, BlockLengthPolicy.fixed(7), backend, 1);
    SpeedResult result = speed.generate(List.of(stopping), TokenListener.NONE).getFirst();
    int firstStop = 0;
    while (expected[firstStop] != stop) firstStop++;
    assertThat(result.tokens()).containsExactly(java.util.Arrays.copyOf(expected, firstStop + 1));
    assertThat(result.finishReason()).isEqualTo(GenerationResult.FinishReason.STOP);
  }
}
