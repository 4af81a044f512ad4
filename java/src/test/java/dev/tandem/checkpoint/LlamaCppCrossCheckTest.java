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
import dev.tandem.engine.TokenListener;
import dev.tandem.io.DType;
import dev.tandem.io.gguf.GgufTensorType;
import dev.tandem.model.Decoder;
import dev.tandem.model.LlamaConfig;
import dev.tandem.model.LogitsMode;
import dev.tandem.model.ModelWeights;
import dev.tandem.model.RopeScaling;
import dev.tandem.sampling.SamplingParams;
import dev.tandem.tokenizer.Tokenizer;
import dev.tandem.tokenizer.TokenizerJson;
import dev.tandem.tokenizer.VocabFixtures;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The outside check: llama.cpp (through the de.kherud:llama JNI binding, its CPU build) loads GGUF
 * files this engine wrote, small random Llamas with Llama 2's real tokenizer, and continues them
 * greedily as our engine does. That checks the GGUF writer (keys, tensor names and types, the q/k
 * permutation), the tokenizer and BOS handling, and our whole forward pass against an independent
 * implementation. Removing the q/k permutation makes it fail.
 */
class LlamaCppCrossCheckTest {
  @TempDir Path dir;

  static final String PROMPT = "Once upon a time, a llama";
  static final int NEW_TOKENS = 16;
  static final LlamaConfig GQA = new LlamaConfig(32000, 64, 128, 2, 4, 2, 10000.0, 1e-5, 128, false, "float32");
  static final LlamaConfig LINEAR_TIED = new LlamaConfig(32000, 64, 96, 2, 2, 1, 10000.0, 1e-6, 128, true,
      "float32", RopeScaling.linear(2), LlamaConfig.LLAMA);

  @TempDir static Path shared;
  private static Path llamaSpmJson; // Llama 2's tokenizer.json, written once

  @BeforeAll
  static void setUp() throws IOException {
    // The binding extracts its native library into de.kherud.llama.tmpdir (default: the shared /tmp) when
    // LlamaModel loads, and says so on System.out: a private directory, and quiet.
    System.setProperty("de.kherud.llama.tmpdir", Files.createDirectories(shared.resolve("native")).toString());
    java.io.PrintStream out = System.out;
    try {
      System.setOut(new java.io.PrintStream(java.io.OutputStream.nullOutputStream()));
      LlamaModel.setLogger(LogFormat.TEXT, (level, message) -> { });
    } finally {
      System.setOut(out);
    }
    llamaSpmJson = shared.resolve("tokenizer.json");
    TokenizerJson.save(VocabFixtures.llamaSpm(), llamaSpmJson);
  }

  /** Per greedy step, the gap between the best and second-best logit: how decisive greedy is there. */
  private static float[] margins(ModelWeights w, int[] prompt, int[] generated) {
    int[] sequence = Arrays.copyOf(prompt, prompt.length + generated.length);
    System.arraycopy(generated, 0, sequence, prompt.length, generated.length);
    int vocab = w.config().vocabSize();
    try (CpuBackend backend = CpuBackend.fast(2); Decoder d = new Decoder(w, backend, 64, 64)) {
      KvCache cache = d.newCache(1);
      BatchRows rows = new BatchRows(64);
      rows.addSequence(0, sequence, 0, sequence.length, 0);
      d.forward(rows, cache, LogitsMode.ALL);
      float[] logits = new float[sequence.length * vocab];
      d.downloadLogits(logits);
      float[] margins = new float[generated.length];
      for (int s = 0; s < generated.length; s++) {
        int p = prompt.length - 1 + s;
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
        margins[s] = best - second;
      }
      return margins;
    }
  }

  private static float min(float[] values) {
    float m = Float.MAX_VALUE;
    for (float v : values) m = Math.min(m, v);
    return m;
  }

  private static int[] greedy(ModelWeights w, int[] prompt) {
    try (CpuBackend backend = CpuBackend.fast(2)) {
      return dev.tandem.testing.Generate.alone(w, backend, 64, 64,
          new GenerationRequest(prompt, NEW_TOKENS, SamplingParams.greedy(), -1, 0)).tokens();
    }
  }

  /**
   * {@link #llamaCpp} with llama.cpp's log (about 150 lines a model, written by the native code to the
   * process's stdout and stderr) sent to a file beside the model, shown only when the call fails.
   */
  private static String llamaCppQuietly(Path gguf, int[] expectedPromptIds, boolean bos) {
    Path log = Path.of(gguf + ".llama-log.txt");
    try {
      return dev.tandem.testing.NativeOutput.redirected(log, () -> llamaCpp(gguf, expectedPromptIds, bos));
    } catch (Throwable e) {
      try {
        System.err.println("llama.cpp's log for " + gguf.getFileName() + ":\n" + Files.readString(log));
      } catch (IOException suppressed) {
        e.addSuppressed(suppressed);
      }
      if (e instanceof RuntimeException r) throw r;
      if (e instanceof Error r) throw r;
      throw new IllegalStateException(e);
    }
  }

  /** llama.cpp's greedy continuation of {@link #PROMPT} (it tokenizes and adds BOS itself), as text. */
  private static String llamaCpp(Path gguf, int[] expectedPromptIds, boolean bos) {
    // One thread: llama.cpp's OpenMP workers spin while waiting, and two of them on a two-core machine
    // next to the JVM's threads made 16 tokens take 6 s instead of 30 ms.
    ModelParameters params = new ModelParameters().setModel(gguf.toString()).setCtxSize(64).setThreads(1)
        .setThreadsBatch(1).setBatchSize(64).setUbatchSize(64).setCacheTypeK(CacheType.F32)
        .setCacheTypeV(CacheType.F32).setGpuLayers(0).setSeed(1).skipWarmup();
    try (LlamaModel llama = new LlamaModel(params)) {
      // The same prompt tokens as ours, without BOS (encode adds none; generation does when the file says so).
      assertThat(llama.encode(PROMPT))
          .containsExactly(Arrays.copyOfRange(expectedPromptIds, bos ? 1 : 0, expectedPromptIds.length));
      InferenceParameters inference = new InferenceParameters(PROMPT).setNPredict(NEW_TOKENS).setTemperature(0f)
          .setTopK(1).setRepeatPenalty(1f).setIgnoreEos(true).setSeed(1).setCachePrompt(false);
      StringBuilder text = new StringBuilder();
      for (LlamaOutput o : llama.generate(inference)) text.append(o.text);
      return text.toString();
    }
  }

  /** A checkpoint written one way or another, loaded back by our engine. */
  private interface Writer {
    Path write(ModelWeights w, String name) throws IOException;
  }

  /**
   * Writes the first seed's weights whose greedy margins all exceed {@code margin} (random weights with a
   * large scale spread the logits, so rounding differences between the engines cannot flip a step), runs
   * both engines, and returns {ours, theirs}.
   */
  private static String[] compare(LlamaConfig config, Writer writer, float margin, boolean requireAllSteps)
      throws IOException {
    return compare(config, writer, margin, requireAllSteps, VocabFixtures.llamaSpm(), true);
  }

  private static String[] compare(LlamaConfig config, Writer writer, float margin, boolean requireAllSteps,
      Tokenizer tokenizer, boolean bos) throws IOException {
    int[] text = tokenizer.encode(PROMPT);
    int[] prompt = bos ? java.util.stream.IntStream.concat(java.util.stream.IntStream.of(tokenizer.bosId().getAsInt()),
        Arrays.stream(text)).toArray() : text;
    for (long seed = 1; seed < 30; seed++) {
      // The search runs on the weights in memory; only the chosen seed is written and read back.
      ModelWeights w = ModelWeights.random(config, seed, 0.35);
      int[] ours = greedy(w, prompt);
      float[] margins = margins(w, prompt, ours);
      if (requireAllSteps ? min(margins) <= margin : margins[0] <= margin) continue;
      Path gguf = writer.write(w, "seed" + seed);
      LoadedModel m = ModelLoader.load(gguf);
      assertThat(m.promptTokens(PROMPT)).as("prompt ids, BOS as the checkpoint asks").containsExactly(prompt);
      if (config.torchDtype().equals("float32") && !gguf.getFileName().toString().contains("BF16")) {
        assertThat(greedy(m.weights(), prompt)).as("our greedy from the written file").containsExactly(ours);
      } else {
        ours = greedy(m.weights(), prompt); // the file holds rounded weights: its own greedy and margins
        margins = margins(m.weights(), prompt, ours);
        if (margins[0] <= margin) continue;
      }
      int decisive = 0;
      while (decisive < margins.length && margins[decisive] > margin) decisive++;
      String theirs = llamaCppQuietly(gguf, prompt, bos);
      String oursText = tokenizer.decode(Arrays.copyOf(ours, decisive));
      return new String[] {oursText, theirs, tokenizer.decode(ours)};
    }
    throw new AssertionError("no seed gives greedy margins above " + margin);
  }

  @Test
  void llamaCppGivesOurGreedyContinuationOnAGgufWeWrote() throws IOException {
    // F32 weights: both engines compute in fp32; only summation order differs.
    // Llama 3 scaling with a short original context, so that it changes most frequencies at these positions.
    LlamaConfig llama3 = GQA.withRopeScaling(RopeScaling.llama3(8, 1, 4, 16));
    for (LlamaConfig config : List.of(GQA, LINEAR_TIED, llama3)) {
      String[] r = compare(config, (w, name) -> {
        Path file = dir.resolve("written-" + config.numAttentionHeads() + "-" + config.ropeScaling().type() + "-"
            + name + ".gguf");
        ModelConverter.writeGguf(w, VocabFixtures.llamaSpm(), true, GgufTensorType.F32, file);
        return file;
      }, 0.05f, true);
      assertThat(r[2].strip()).hasSizeGreaterThan(NEW_TOKENS / 2);
      assertThat(r[1]).isEqualTo(r[2]);
    }
  }

  /**
   * Qwen 2: biases on q, k and v, rotary halves without permutation (llama.cpp's NEOX rope), tied
   * embeddings; GPT-2's byte-level tokenizer (llama.cpp does not mind the pairing), no BOS.
   */
  @Test
  void llamaCppRunsOurQwen2() throws IOException {
    LlamaConfig qwen = new LlamaConfig(50257, 64, 128, 2, 4, 2, 1e6, 1e-6, 128, true, "float32", RopeScaling.NONE,
        LlamaConfig.QWEN2);
    String[] r = compare(qwen, (w, name) -> {
      Path file = dir.resolve("qwen2-" + name + ".gguf");
      ModelConverter.writeGguf(w, VocabFixtures.gpt2(), false, GgufTensorType.F32, file);
      return file;
    }, 0.05f, true, VocabFixtures.gpt2(), false);
    assertThat(r[1]).isEqualTo(r[2]);
  }

  /** A Hugging Face directory converted by {@link ModelConverter}: what users run. */
  private Writer converted(DType dtype) {
    return (w, name) -> {
      Path hf = dir.resolve("hf-" + dtype + "-" + name);
      w.save(hf, dtype);
      Files.copy(llamaSpmJson, hf.resolve("tokenizer.json"));
      Files.writeString(hf.resolve("tokenizer_config.json"),
          "{\"add_bos_token\": true, \"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}");
      Path gguf = dir.resolve("converted-" + dtype + "-" + name + ".gguf");
      ModelConverter.convert(hf, gguf);
      return gguf;
    };
  }

  @Test
  void llamaCppRunsAnF32DirectoryWeConvertedExactly() throws IOException {
    String[] r = compare(GQA, converted(DType.F32), 0.05f, true);
    assertThat(r[1]).isEqualTo(r[2]);
  }

  /**
   * BF16 weights: llama.cpp also rounds the activations to bf16 before each product (we keep them in
   * fp32), about 0.4% per product, so the continuations agree while greedy is decisive: up to the first
   * step whose margin is under 0.5, and the seed is chosen so that at least the first step is.
   */
  @Test
  void llamaCppRunsABf16DirectoryWeConverted() throws IOException {
    String[] r = compare(GQA, converted(DType.BF16), 0.5f, false);
    String decisive = r[0].replaceAll("\uFFFD+$", ""); // a character cut by the prefix is incomplete
    assertThat(decisive).isNotEmpty();
    assertThat(r[1]).startsWith(decisive);
  }
}
