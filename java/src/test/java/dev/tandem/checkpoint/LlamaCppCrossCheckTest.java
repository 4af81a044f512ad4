package dev.tandem.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;

import de.kherud.llama.InferenceParameters;
import de.kherud.llama.LlamaModel;
import de.kherud.llama.LlamaOutput;
import de.kherud.llama.ModelParameters;
import de.kherud.llama.args.CacheType;
import de.kherud.llama.args.LogFormat;
import dev.tandem.backend.BatchRows;
import dev.tandem.backend.KvCache;
import dev.tandem.backend.cpu.CpuBackend;
import dev.tandem.engine.GenerationRequest;
import dev.tandem.engine.GenerationResult;
import dev.tandem.engine.Generator;
import dev.tandem.engine.TokenListener;
import dev.tandem.io.gguf.GgufTensorType;
import dev.tandem.model.Decoder;
import dev.tandem.model.LlamaConfig;
import dev.tandem.model.LogitsMode;
import dev.tandem.model.ModelWeights;
import dev.tandem.model.RopeScaling;
import dev.tandem.sampling.SamplingParams;
import dev.tandem.tokenizer.Tokenizer;
import dev.tandem.tokenizer.VocabFixtures;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The outside check: llama.cpp (through the de.kherud:llama JNI binding, its CPU build) loads a
 * GGUF file this engine wrote, a small random Llama with Llama 2's real tokenizer, and its greedy
 * continuation equals ours. That checks the GGUF writer (keys, tensor names, the q/k permutation),
 * the tokenizer, and our whole forward pass against an independent implementation.
 */
class LlamaCppCrossCheckTest {
  @TempDir Path dir;

  static final String PROMPT = "Once upon a time, a llama";
  static final int NEW_TOKENS = 16;

  /** Smallest gap between the best and second-best logit over the greedy steps: how decisive greedy is. */
  private static float minMargin(ModelWeights w, int[] sequence, int promptLength) {
    int vocab = w.config().vocabSize();
    try (CpuBackend backend = CpuBackend.fast(2); Decoder d = new Decoder(w, backend, 64, 64)) {
      KvCache cache = d.newCache(1);
      BatchRows rows = new BatchRows(64);
      rows.addSequence(0, sequence, 0, sequence.length, 0);
      d.forward(rows, cache, LogitsMode.ALL);
      float[] logits = new float[sequence.length * vocab];
      d.downloadLogits(logits);
      float min = Float.MAX_VALUE;
      for (int p = promptLength - 1; p < sequence.length - 1; p++) {
        float best = Float.NEGATIVE_INFINITY, second = Float.NEGATIVE_INFINITY;
        for (int v = 0; v < vocab; v++) {
          float x = logits[p * vocab + v];
          if (x > best) {
            second = best;
            best = x;
          } else if (x > second) {
            second = x;
          }
        }
        min = Math.min(min, best - second);
      }
      return min;
    }
  }

  private static int[] greedy(LoadedModel m, int[] prompt) {
    try (CpuBackend backend = CpuBackend.fast(2); Decoder d = new Decoder(m.weights(), backend, 64, 64)) {
      GenerationResult r = new Generator(d).generate(
          new GenerationRequest(prompt, NEW_TOKENS, SamplingParams.greedy(), -1, 0), TokenListener.NONE);
      return r.tokens();
    }
  }

  @Test
  void llamaCppGivesOurGreedyContinuationOnAGgufWeWrote() throws IOException {
    for (LlamaConfig config : List.of(
        // GQA (4 query heads over 2), untied output, Llama 2's vocabulary.
        new LlamaConfig(32000, 64, 128, 2, 4, 2, 10000.0, 1e-5, 128, false, "float32"),
        // Linear RoPE scaling and tied embeddings.
        new LlamaConfig(32000, 64, 96, 2, 2, 1, 10000.0, 1e-6, 128, true, "float32", RopeScaling.linear(2),
            LlamaConfig.LLAMA))) {
      check(config);
    }
  }

  private void check(LlamaConfig config) throws IOException {
    Tokenizer tokenizer = VocabFixtures.llamaSpm();
    // Weights with a large scale make the logits spread out, so no greedy step is a near-tie that fp32
    // rounding differences between the two engines could flip. Take the first seed whose margins are wide.
    ModelWeights weights = null;
    int[] ours = null;
    LoadedModel loaded = null;
    Path gguf = null;
    for (long seed = 1; seed < 20; seed++) {
      ModelWeights w = ModelWeights.random(config, seed, 0.35);
      Path file = dir.resolve("tiny-" + config.numAttentionHeads() + "-" + seed + ".gguf");
      ModelConverter.writeGguf(w, tokenizer, true, GgufTensorType.F32, file);
      LoadedModel m = ModelLoader.load(file);
      int[] prompt = m.promptTokens(PROMPT);
      int[] out = greedy(m, prompt);
      int[] sequence = concat(prompt, out);
      if (minMargin(m.weights(), sequence, prompt.length) > 0.05f) {
        weights = w;
        ours = out;
        loaded = m;
        gguf = file;
        break;
      }
    }
    assertThat(weights).as("a seed whose greedy steps all have a margin above 0.05").isNotNull();
    int[] prompt = loaded.promptTokens(PROMPT);
    assertThat(prompt[0]).isEqualTo(1); // BOS, as tokenizer.ggml.add_bos_token says

    LlamaModel.setLogger(LogFormat.TEXT, (level, message) -> { });
    ModelParameters params = new ModelParameters().setModel(gguf.toString()).setCtxSize(64).setThreads(2)
        .setThreadsBatch(2).setBatchSize(64).setUbatchSize(64).setCacheTypeK(CacheType.F32)
        .setCacheTypeV(CacheType.F32).setGpuLayers(0).setSeed(1).skipWarmup();
    try (LlamaModel llama = new LlamaModel(params)) {
      // The same prompt tokens (llama.cpp adds BOS itself when it generates).
      assertThat(llama.encode(PROMPT)).containsExactly(Arrays.copyOfRange(prompt, 1, prompt.length));
      InferenceParameters inference = new InferenceParameters(PROMPT).setNPredict(NEW_TOKENS).setTemperature(0f)
          .setTopK(1).setRepeatPenalty(1f).setIgnoreEos(true).setSeed(1).setCachePrompt(false);
      List<String> pieces = new ArrayList<>();
      for (LlamaOutput o : llama.generate(inference)) pieces.add(o.text);
      String theirs = String.join("", pieces);
      String expected = tokenizer.decode(ours);
      assertThat(expected.strip()).hasSizeGreaterThan(NEW_TOKENS / 2);
      System.out.printf("llama.cpp cross-check (%d heads, %s): %s -> %s%n", config.numAttentionHeads(),
          config.ropeScaling().type(), PROMPT, expected.replace("\n", "\\n"));
      assertThat(theirs).as("llama.cpp's greedy continuation of %s (ours: ids %s)", PROMPT, Arrays.toString(ours))
          .isEqualTo(expected);
      assertThat(llama.encode(theirs.strip())).isNotEmpty();
    }
  }

  private static int[] concat(int[] a, int[] b) {
    int[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }
}
