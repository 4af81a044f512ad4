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
    return compare(config, writer, margin, requireAllSteps ? NEW_TOKENS : 1, VocabFixtures.llamaSpm(), true, 1f);
  }

  private static String[] compare(LlamaConfig config, Writer writer, float margin, boolean requireAllSteps,
      Tokenizer tokenizer, boolean bos) throws IOException {
    return compare(config, writer, margin, requireAllSteps ? NEW_TOKENS : 1, tokenizer, bos, 1f);
  }

  /**
   * As above, with the seed chosen so that the first {@code decisiveSteps} steps have margins over
   * {@code margin}, and the layers' matrices scaled by {@code layerScale} (the embeddings and the output
   * keep std 0.35).
   */
  private static String[] compare(LlamaConfig config, Writer writer, float margin, int decisiveSteps,
      Tokenizer tokenizer, boolean bos, float layerScale) throws IOException {
    int[] text = tokenizer.encode(PROMPT);
    int[] prompt = bos ? java.util.stream.IntStream.concat(java.util.stream.IntStream.of(tokenizer.bosId().getAsInt()),
        Arrays.stream(text)).toArray() : text;
    for (long seed = 1; seed < 30; seed++) {
      // The search runs on the weights in memory; only the chosen seed is written and read back.
      ModelWeights w = ModelWeights.random(config, seed, 0.35);
      if (layerScale != 1f) {
        for (var e : w.tensors().entrySet()) {
          if (e.getKey().startsWith("model.layers.") && e.getKey().endsWith("proj.weight")) {
            for (int i = 0; i < e.getValue().length; i++) e.getValue()[i] *= layerScale;
          }
        }
      }
      int[] ours = greedy(w, prompt);
      float[] margins = margins(w, prompt, ours);
      if (min(Arrays.copyOf(margins, decisiveSteps)) <= margin) continue;
      Path gguf = writer.write(w, "seed" + seed);
      LoadedModel m = ModelLoader.load(gguf, dev.tandem.model.WeightPrecision.STORED);
      assertThat(m.promptTokens(PROMPT)).as("prompt ids, BOS as the checkpoint asks").containsExactly(prompt);
      String file = gguf.getFileName().toString();
      if (config.torchDtype().equals("float32") && !file.contains("BF16") && !file.startsWith("quantized-")) {
        assertThat(greedy(m.weights(), prompt)).as("our greedy from the written file").containsExactly(ours);
      } else {
        ours = greedy(m.weights(), prompt); // the file holds rounded weights: its own greedy and margins
        margins = margins(m.weights(), prompt, ours);
        if (min(Arrays.copyOf(margins, decisiveSteps)) <= margin) continue;
      }
      int decisive = 0;
      while (decisive < margins.length && margins[decisive] > margin) decisive++;
      String theirs = llamaCppQuietly(gguf, prompt, bos);
      String oursText = tokenizer.decode(Arrays.copyOf(ours, decisive));
      return new String[] {oursText, theirs, tokenizer.decode(ours), tokenizer.decode(Arrays.copyOf(ours, decisiveSteps))};
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

  /** Shapes whose rows are whole K-quant super-blocks (256), so every matrix takes the type asked for. */
  static final LlamaConfig K_SHAPED = new LlamaConfig(32000, 256, 512, 2, 4, 2, 10000.0, 1e-5, 128, false, "float32");

  /**
   * Files we quantize, read by llama.cpp and by our engine (weights kept in the stored format): the
   * same greedy continuation while greedy is decisive. llama.cpp also rounds the activations to 8 bits
   * per block before each quantized product (its vec_dot kernels; we keep them in fp32), about 0.5 %
   * per product, and random layers of std 0.35 amplify a difference several times per layer (the two
   * engines were seen to part at a step whose margin was 3.2, on a Q8_0 file). So the layers' matrices
   * here have std 0.105 (the embeddings and the output keep 0.35, which spreads the logits), the seed
   * is chosen with the first 4 steps' margins over 0.5, and the continuations must agree up to the
   * first step under 0.5. Seen: all 16 tokens agree for Q4_0, Q4_K and Q4_K_M, 15 for Q8_0. A misread
   * block layout changes the first tokens (a planted Q6_K bit-pair swap does). llama.cpp's logits are
   * not compared: asking the binding for token probabilities (setNProbs) aborts the JVM in
   * de.kherud:llama 4.2.0.
   */
  @Test
  void llamaCppRunsFilesWeQuantized() throws IOException {
    for (Quantization q : Quantization.values()) {
      String[] r = compare(K_SHAPED, (w, name) -> {
        Path file = dir.resolve("quantized-" + q + "-" + name + ".gguf");
        ModelConverter.writeGguf(w, VocabFixtures.llamaSpm(), true, q, file);
        return file;
      }, 0.5f, 4, VocabFixtures.llamaSpm(), true, 0.3f);
      String decisive = r[0].replaceAll("\uFFFD+$", "");  // the leading steps with margins over 0.5, at least 4
      assertThat(decisive).as(q + ": the decisive steps").isNotEmpty();
      assertThat(r[1]).as(q + ": llama.cpp's continuation").startsWith(decisive);
      int agree = 0;
      while (agree < Math.min(r[1].length(), r[2].length()) && r[1].charAt(agree) == r[2].charAt(agree)) agree++;
      System.out.printf("%s: llama.cpp agrees on the first %d of %d characters%n", q, agree, r[2].length());
    }
  }

  /** A directory converted with --quantize Q4_K_M loads in our engine with its Q4_K and Q6_K matrices as stored. */
  @Test
  void quantizedConversionKeepsTheMix() throws IOException {
    ModelWeights w = ModelWeights.random(K_SHAPED, 3, 0.35);
    Path f32 = dir.resolve("hf-f32");  // F32 vectors stay F32, matrices quantized
    w.save(f32, DType.F32);
    ModelConverter.toGguf(f32, dir.resolve("q8.gguf"), Quantization.Q8_0);
    assertThat(ModelLoader.load(dir.resolve("q8.gguf"), dev.tandem.model.WeightPrecision.STORED).weights().format("lm_head.weight")).isEqualTo(GgufTensorType.Q8_0);
    Path hf = dir.resolve("hf-mix");
    w.save(hf, DType.BF16);
    Path gguf = dir.resolve("mix.gguf");
    ModelConverter.toGguf(hf, gguf, Quantization.Q4_K_M);
    ModelWeights loaded = ModelLoader.load(gguf, dev.tandem.model.WeightPrecision.STORED).weights();
    assertThat(loaded.format("model.layers.0.mlp.down_proj.weight")).isEqualTo(GgufTensorType.Q4_K);
    assertThat(loaded.format("model.layers.1.mlp.down_proj.weight")).isEqualTo(GgufTensorType.Q6_K);
    assertThat(loaded.format("lm_head.weight")).isEqualTo(GgufTensorType.Q6_K);
    assertThat(loaded.format("model.layers.0.self_attn.q_proj.weight")).isEqualTo(GgufTensorType.Q4_K);
    assertThat(loaded.format("model.layers.0.input_layernorm.weight")).isEqualTo(GgufTensorType.F32);
    // The q rows read through the GGUF row order equal the fp32 path's permuted-back rows.
    float[] viaOrder = loaded.matrix("model.layers.1.self_attn.q_proj.weight", 256, 256).toFloats();
    float[] fp32 = ModelLoader.load(gguf, dev.tandem.model.WeightPrecision.FP32).weights()
        .get("model.layers.1.self_attn.q_proj.weight");
    assertThat(viaOrder).containsExactly(fp32);
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
