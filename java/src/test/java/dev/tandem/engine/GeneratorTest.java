package dev.tandem.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tandem.backend.cpu.CpuBackend;
import dev.tandem.model.Decoder;
import dev.tandem.model.LlamaConfig;
import dev.tandem.model.ModelWeights;
import dev.tandem.sampling.SamplingParams;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class GeneratorTest {
  static final LlamaConfig CONFIG = new LlamaConfig(101, 64, 96, 2, 4, 2, 10000.0, 1e-5, 48, false, "float32");
  static final ModelWeights WEIGHTS = ModelWeights.random(CONFIG, 2026, 0.5);

  /**
   * Greedy continuation of a seeded random model, recorded from the scalar reference backend when
   * this test was written. A change in the forward pass, the weights generator or greedy decoding
   * that alters any token fails here.
   */
  static final int[] RECORDED = {99, 25, 73, 8, 13, 22, 25, 86, 6, 80, 69, 56, 62, 29, 82, 93, 29, 41, 20, 46};

  private static GenerationRequest greedy(int[] prompt, int max) {
    return new GenerationRequest(prompt, max, SamplingParams.greedy(), -1, 0);
  }

  @Test
  void greedyReproducesTheRecordedTokens() {
    int[] prompt = {3, 14, 15, 92, 65, 35};
    for (CpuBackend backend : List.of(CpuBackend.reference(), CpuBackend.fast(2))) {
      try (backend; Decoder decoder = new Decoder(WEIGHTS, backend, 48, 8)) {
        GenerationResult result = new Generator(decoder).generate(greedy(prompt, 20), TokenListener.NONE);
        assertThat(result.tokens()).as(backend.name()).containsExactly(RECORDED);
        assertThat(result.finishReason()).isEqualTo(GenerationResult.FinishReason.LENGTH);
      }
    }
  }

  @Test
  void batchEqualsEachRequestAlone() {
    List<GenerationRequest> requests = List.of(
        greedy(new int[] {1, 2, 3}, 9),
        new GenerationRequest(new int[] {7}, 12, new SamplingParams(0.9f, 20, 0.95f, 11), -1, 1),
        greedy(new int[] {5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, 4),
        new GenerationRequest(new int[] {40, 41}, 7, new SamplingParams(1.2f, 0, 1f, 3), -1, 2));
    try (CpuBackend backend = CpuBackend.fast(2); Decoder decoder = new Decoder(WEIGHTS, backend, 48, 8)) {
      Generator generator = new Generator(decoder);
      List<int[]> streamed = new ArrayList<>();
      for (int i = 0; i < requests.size(); i++) streamed.add(new int[0]);
      List<GenerationResult> batched = generator.generate(requests, (r, token) -> {
        int[] old = streamed.get(r);
        int[] grown = java.util.Arrays.copyOf(old, old.length + 1);
        grown[old.length] = token;
        streamed.set(r, grown);
      });
      for (int r = 0; r < requests.size(); r++) {
        GenerationResult alone = generator.generate(requests.get(r), TokenListener.NONE);
        assertThat(batched.get(r).tokens()).as("request " + r).containsExactly(alone.tokens());
        assertThat(streamed.get(r)).as("streamed tokens of request " + r).containsExactly(alone.tokens());
        assertThat(alone.tokens()).hasSize(requests.get(r).maxTokens());
      }
    }
  }

  @Test
  void stopsAtTheStopTokenAndAtTheContextEnd() {
    try (CpuBackend backend = CpuBackend.fast(2); Decoder decoder = new Decoder(WEIGHTS, backend, 10, 8)) {
      Generator generator = new Generator(decoder);
      GenerationResult full = generator.generate(greedy(new int[] {1, 2, 3}, 100), TokenListener.NONE);
      assertThat(full.finishReason()).isEqualTo(GenerationResult.FinishReason.CONTEXT);
      assertThat(full.tokens()).hasSize(10 - 3 + 1);  // the last token needs no position of its own
      int stop = full.tokens()[2];
      GenerationResult stopped = generator.generate(
          new GenerationRequest(new int[] {1, 2, 3}, 100, SamplingParams.greedy(), stop, 0), TokenListener.NONE);
      assertThat(stopped.finishReason()).isEqualTo(GenerationResult.FinishReason.STOP);
      assertThat(stopped.tokens()[stopped.tokens().length - 1]).isEqualTo(stop);
    }
  }

  @Test
  void rejectsPromptsThatDoNotFit() {
    try (CpuBackend backend = CpuBackend.fast(1); Decoder decoder = new Decoder(WEIGHTS, backend, 10, 8)) {
      Generator generator = new Generator(decoder);
      assertThatThrownBy(() -> generator.generate(greedy(new int[10], 1), TokenListener.NONE))
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("context length of 10");
      assertThatThrownBy(() -> generator.generate(greedy(new int[] {1, 500}, 1), TokenListener.NONE))
          .hasMessageContaining("token id 500 outside the vocabulary");
    }
  }
}
