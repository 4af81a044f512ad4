package dev.tandem.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tandem.backend.cpu.CpuBackend;
import dev.tandem.engine.GenerationRequest;
import dev.tandem.engine.TokenListener;
import dev.tandem.model.Decoder;
import dev.tandem.model.LlamaConfig;
import dev.tandem.model.ModelWeights;
import dev.tandem.sampling.SamplingParams;
import dev.tandem.train.data.PackedSequences;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** The router's text: prompts from the source, continued by the primary's own greedy tokens. */
class PrimaryContinuationsTest {
  static final LlamaConfig CONFIG = new LlamaConfig(40, 16, 32, 2, 2, 1, 10000.0, 1e-5, 64, false, "float32");

  @Test
  void eachSequenceIsASourcePromptAndThePrimarysGreedyContinuation() {
    ModelWeights primary = ModelWeights.random(CONFIG, 7);
    int[] stream = new int[12 * 20 + 1];
    for (int i = 0; i < stream.length; i++) stream[i] = (i * 13 + i / 7) % 40;
    PackedSequences source = new PackedSequences(stream, 12, 3);
    int count = 11;  // more than one batch of the generator, the last one partial
    PackedSequences text = PrimaryContinuations.generate(primary, source, count, 4, 2, TrainerTest.quiet());
    assertThat(text.count()).isEqualTo(count);
    assertThat(text.seqLen()).isEqualTo(12);
    int[] inputs = new int[12], targets = new int[12], sourceInputs = new int[12];
    try (CpuBackend backend = CpuBackend.fast(1)) {
      for (int i = 0; i < count; i++) {
        text.copy(i, inputs, targets, 0);
        source.copy(source.sequenceAt(i), sourceInputs, new int[12], 0);
        int[] prompt = Arrays.copyOf(sourceInputs, 4);
        assertThat(Arrays.copyOf(inputs, 4)).as("prompt of sequence %d", i).containsExactly(prompt);
        int[] greedy = dev.tandem.testing.Generate.alone(primary, backend, 16, 8,
            new GenerationRequest(prompt, 8, SamplingParams.greedy(), -1, 0)).tokens();
        assertThat(Arrays.copyOfRange(inputs, 4, 12)).as("continuation of sequence %d", i).containsExactly(greedy);
        // Inside the sequence each target is the next input: the primary's argmax after the prompt.
        assertThat(Arrays.copyOfRange(targets, 3, 11)).containsExactly(greedy);
      }
    }
  }

  @Test
  void rejectsPromptsThatLeaveNoRoomAndMoreSequencesThanTheSourceHas() {
    ModelWeights primary = ModelWeights.random(CONFIG, 7);
    PackedSequences source = new PackedSequences(new int[12 * 3 + 1], 12, 3);
    assertThatThrownBy(() -> PrimaryContinuations.generate(primary, source, 2, 12, 1, TrainerTest.quiet()))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("prompt tokens");
    assertThatThrownBy(() -> PrimaryContinuations.generate(primary, source, 4, 4, 1, TrainerTest.quiet()))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("3 sequences");
  }
}
