package dev.tandem.speculative;

import static dev.tandem.testing.Close.assertClose;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.backend.BatchRows;
import dev.tandem.backend.cpu.CpuBackend;
import dev.tandem.engine.Engine;
import dev.tandem.engine.EngineBuilder;
import dev.tandem.engine.GenerationRequest;
import dev.tandem.engine.TokenListener;
import dev.tandem.model.Decoder;
import dev.tandem.model.LogitsMode;
import dev.tandem.model.ModelWeights;
import dev.tandem.sampling.Sampler;
import dev.tandem.sampling.SamplingParams;
import dev.tandem.secondary.TandemWeights;
import dev.tandem.secondary.TwoSourceTrainingForm;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Pins the drafter side of SPEED: greedy SPEED's output is the primary's whatever the drafter
 * proposes, so a drafter fed wrong states would pass every exactness test. Here the tandem
 * secondary's logits at every draft step of an engine run equal the training-form forward
 * (DESIGN.md's two-source attention written directly with the scalar kernels), on the same tokens,
 * with the boundary where the primary stopped: at draft step i of a round that starts with n
 * committed tokens, the query stands at n - 1 + i and attends to the primary's states before n - 1
 * and to its own from n - 1 on.
 */
class DraftStepLogitsTest {
  private static final int VOCAB = 48;
  private static final int DRAFTS = 3;

  /** Drafts three a round and records the drafter's logits of every step it sees. */
  private static final class Recording implements BlockLengthPolicy {
    final List<float[]> logits = new ArrayList<>();
    final List<Integer> steps = new ArrayList<>();
    @Override public int maxDrafts() { return 8; }
    @Override public boolean needsLogits() { return true; }
    @Override public boolean continueDrafting(int slot, int step, float[] all, int offset) {
      logits.add(Arrays.copyOfRange(all, offset, offset + VOCAB));
      steps.add(step);
      return step + 1 < DRAFTS;
    }
  }

  @Test
  void everyDraftStepEqualsTheTrainingForm() {
    ModelWeights primary = ModelWeights.random(SpeedFixtures.primaryConfig(VOCAB), 21, 0.35);
    TandemWeights secondary = SpeedFixtures.tandemCopy(primary, 22, 0.02);  // agrees often: partial acceptance
    int[] prompt = {5, 17, 2, 40, 33, 8, 11};
    Recording recording = new Recording();
    int[] out;
    try (CpuBackend backend = CpuBackend.reference();
        Engine engine = SpeedFixtures.build(EngineBuilder.primary(primary, null).backend(backend)
            .context(SpeedFixtures.CONTEXT).tandem(secondary, "copy").blockLengths(recording).fixedSpeculation())) {
      out = engine.generateAll(List.of(new GenerationRequest(prompt, 40, SamplingParams.greedy(), -1, 0)),
          TokenListener.NONE).getFirst().tokens();
    }
    int[] all = new int[prompt.length + out.length];
    System.arraycopy(prompt, 0, all, 0, prompt.length);
    System.arraycopy(out, 0, all, prompt.length, out.length);

    // The primary's residual streams at every committed position, from one pass (rows are computed
    // independently of the pass they are in, so these are the states the verification passes had).
    int[] read = secondary.config().primaryLayersRead();
    float[][] hidden = new float[read.length][];
    try (CpuBackend backend = CpuBackend.reference();
        Decoder decoder = new Decoder(primary, backend, SpeedFixtures.CONTEXT, all.length, read)) {
      BatchRows rows = new BatchRows(all.length);
      rows.addSequence(0, all, 0, all.length, 0);
      decoder.forward(rows, decoder.newCache(1), LogitsMode.NONE);
      for (int i = 0; i < read.length; i++) {
        hidden[i] = new float[(all.length + DRAFTS) * primary.config().hiddenSize()];
        backend.download(decoder.captured(i), all.length, hidden[i]);
      }
    }

    // Replay the rounds: a round starts at step 0; its drafts are the argmaxes of its steps; the
    // output says how many stood. Only whole rounds (all three steps seen) are compared: near the end
    // a round is cut short by the tokens left and its last step is not shown to the policy.
    int n = prompt.length + 1;  // the prefill gave the first token
    int compared = 0, accepted = 0, rounds = 0;
    for (int r = 0; r + DRAFTS <= recording.steps.size() && recording.steps.get(r) == 0; r += DRAFTS) {
      if (recording.steps.get(r + DRAFTS - 1) != DRAFTS - 1) break;
      int[] drafts = new int[DRAFTS];
      for (int i = 0; i < DRAFTS; i++) {
        float[] logits = recording.logits.get(r + i);
        drafts[i] = Sampler.argmax(logits, 0, VOCAB);
        // The sequence the secondary saw: committed tokens, then drafts 0..i-1; query at n - 1 + i.
        int p = n - 1 + i;
        int[] tokens = Arrays.copyOf(all, p + 1);
        for (int j = 0; j < i; j++) tokens[n + j] = drafts[j];
        int[] boundary = new int[p + 1];
        Arrays.fill(boundary, n - 1);
        float[] training = TwoSourceTrainingForm.logits(secondary, tokens, boundary, read, hidden);
        assertClose("round at n=" + n + ", draft step " + i, Arrays.copyOfRange(training, p * VOCAB, (p + 1) * VOCAB),
            logits, VOCAB, 1e-4, 1e-4);
        compared++;
      }
      int a = 0;
      while (a < DRAFTS && n + a < all.length && drafts[a] == all[n + a]) a++;
      accepted += a;
      rounds++;
      n += a + 1;
    }
    assertThat(compared).as("draft steps compared").isGreaterThan(15);
    assertThat(accepted).as("some drafts accepted").isPositive().isLessThan(rounds * DRAFTS);
  }
}
