package dev.tandem.backend.cuda;

import static dev.tandem.testing.Close.assertBitwise;
import static dev.tandem.testing.Close.assertClose;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.backend.Backend;
import dev.tandem.backend.BatchRows;
import dev.tandem.backend.KvCache;
import dev.tandem.backend.cpu.CpuBackend;
import dev.tandem.engine.GenerationRequest;
import dev.tandem.engine.GenerationResult;
import dev.tandem.engine.TokenListener;
import dev.tandem.model.Decoder;
import dev.tandem.model.LlamaConfig;
import dev.tandem.model.LogitsMode;
import dev.tandem.model.ModelWeights;
import dev.tandem.sampling.Sampler;
import dev.tandem.sampling.SamplingParams;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The whole decoder on the GPU: against the CPU reference, block vs token, ragged batches, graphs. */
class CudaDecoderTest {
  /** Awkward: 6 query heads over 2 KV heads (GQA 3), head dim 16, odd vocabulary and widths. */
  static final LlamaConfig CONFIG = new LlamaConfig(1031, 96, 200, 3, 6, 2, 10000.0, 1e-5, 512, false, "float32");
  static final ModelWeights WEIGHTS = ModelWeights.random(CONFIG, 42, 0.1);
  static final ModelWeights ROUNDED = GpuTests.bf16(WEIGHTS);
  static final int VOCAB = CONFIG.vocabSize();
  /**
   * Logits tolerance GPU vs CPU (CPU on the bf16-rounded weights): the GPU also rounds every key and
   * value to bf16 (relative 2^-9) and sums in other orders; through 3 layers that moves logits of
   * magnitude ~1 by a few 1e-3.
   */
  static final double LOGIT_ABS = 3e-2, LOGIT_REL = 2e-2;
  /** Greedy GPU and CPU tokens may differ only where the CPU's top two logits are closer than this. */
  static final float TIE_MARGIN = 2 * (float) LOGIT_ABS;

  private static CudaBackend gpu;

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

  private static int[] tokens(long seed, int n) {
    return new SplittableRandom(seed).ints(n, 0, VOCAB).toArray();
  }

  private static float[] runInBlocks(Decoder decoder, KvCache cache, int slot, int[] tokens, int... blockSizes) {
    float[] all = new float[tokens.length * VOCAB];
    float[] logits = new float[decoder.maxRows() * VOCAB];
    BatchRows rows = new BatchRows(decoder.maxRows());
    int done = 0, b = 0;
    while (done < tokens.length) {
      int size = Math.min(blockSizes[b++ % blockSizes.length], tokens.length - done);
      rows.clear();
      rows.addSequence(slot, tokens, done, size, cache.length(slot));
      decoder.forward(rows, cache, LogitsMode.ALL);
      decoder.downloadLogits(logits);
      System.arraycopy(logits, 0, all, done * VOCAB, size * VOCAB);
      done += size;
    }
    return all;
  }

  @Test
  void logitsMatchTheCpuReferenceOnBf16Weights() {
    int[] tokens = tokens(4, 41);
    float[] cpu, cuda;
    try (Backend reference = CpuBackend.reference(); Decoder decoder = new Decoder(ROUNDED, reference, 128, 64)) {
      cpu = runInBlocks(decoder, decoder.newCache(1), 0, tokens, 41);
    }
    try (Decoder decoder = new Decoder(WEIGHTS, gpu, 128, 64)) {
      cuda = runInBlocks(decoder, decoder.newCache(1), 0, tokens, 41);
    }
    assertClose("GPU vs CPU reference logits", cpu, cuda, cpu.length, LOGIT_ABS, LOGIT_REL);
  }

  @Test
  void prefillThroughTheLargeMatmulPathMatchesTheReference() {
    int[] tokens = tokens(5, 150);
    float[] cpu, cuda;
    try (Backend reference = CpuBackend.fast(2); Decoder decoder = new Decoder(ROUNDED, reference, 256, 160)) {
      cpu = runInBlocks(decoder, decoder.newCache(1), 0, tokens, 150);
    }
    try (Decoder decoder = new Decoder(WEIGHTS, gpu, 256, 160)) {
      cuda = runInBlocks(decoder, decoder.newCache(1), 0, tokens, 150);
    }
    // The large-n path also rounds activations to bf16 before each product (relative 2^-9 per input).
    assertClose("GPU (" + gpu.largeMatmulPath() + ") vs CPU logits, 150-row prefill", cpu, cuda, cpu.length, 6e-2, 4e-2);
  }

  @Test
  void blockModeEqualsTokenByTokenBitwise() {
    int[] tokens = tokens(1, 300);  // crosses the attention chunk boundary at 256
    try (Decoder decoder = new Decoder(WEIGHTS, gpu, 512, 64)) {
      float[] blocks = runInBlocks(decoder, decoder.newCache(1), 0, tokens, 64, 23, 64);
      float[] single = runInBlocks(decoder, decoder.newCache(1), 0, tokens, 1);
      float[] mixed = runInBlocks(decoder, decoder.newCache(1), 0, tokens, 5, 2, 7, 1, 33);
      assertBitwise("blocks of 64, 23 vs one token at a time (GPU)", blocks, single, blocks.length);
      assertBitwise("blocks of 5, 2, 7, 1, 33 vs one token at a time (GPU)", mixed, single, blocks.length);
    }
  }

  @Test
  void raggedBatchEqualsEachSequenceAloneBitwise() {
    int[][] seqs = {tokens(10, 5), tokens(11, 1), tokens(12, 9), tokens(13, 3)};
    int[] history = {0, 4, 2, 7};
    try (Decoder decoder = new Decoder(WEIGHTS, gpu, 64, 32)) {
      float[][] alone = new float[seqs.length][];
      for (int s = 0; s < seqs.length; s++) {
        KvCache cache = decoder.newCache(1);
        if (history[s] > 0) runInBlocks(decoder, cache, 0, tokens(100 + s, history[s]), history[s]);
        alone[s] = runInBlocks(decoder, cache, 0, seqs[s], seqs[s].length);
        cache.close();
      }
      KvCache cache = decoder.newCache(seqs.length);
      int[] slotOf = {2, 0, 3, 1};
      for (int s = 0; s < seqs.length; s++) {
        if (history[s] > 0) runInBlocks(decoder, cache, slotOf[s], tokens(100 + s, history[s]), 3);
      }
      BatchRows rows = new BatchRows(32);
      for (int s = 0; s < seqs.length; s++) rows.addSequence(slotOf[s], seqs[s], 0, seqs[s].length, cache.length(slotOf[s]));
      decoder.forward(rows, cache, LogitsMode.ALL);
      float[] batched = new float[32 * VOCAB];
      decoder.downloadLogits(batched);
      for (int s = 0; s < seqs.length; s++) {
        float[] part = Arrays.copyOfRange(batched, rows.sequenceStart(s) * VOCAB,
            (rows.sequenceStart(s) + seqs[s].length) * VOCAB);
        assertBitwise("sequence " + s + " in a ragged batch vs alone (GPU)", alone[s], part, part.length);
      }
      cache.close();
    }
  }

  @Test
  void greedyGenerationMatchesTheCpuExceptAtNearTies() {
    int[] prompt = tokens(7, 12);
    int steps = 48;
    GenerationResult result;
    result = dev.tandem.testing.Generate.alone(WEIGHTS, gpu, 128, 16,
        new GenerationRequest(prompt, steps, SamplingParams.greedy(), -1, 0));
    int[] generated = result.tokens();
    assertThat(generated).hasSize(steps);
    // Teacher-force the GPU's tokens through the CPU reference and compare its greedy choice at each step.
    List<String> ties = new ArrayList<>();
    try (Backend reference = CpuBackend.reference(); Decoder decoder = new Decoder(ROUNDED, reference, 128, 16)) {
      int[] all = new int[prompt.length + steps];
      System.arraycopy(prompt, 0, all, 0, prompt.length);
      System.arraycopy(generated, 0, all, prompt.length, steps);
      KvCache cache = decoder.newCache(1);
      BatchRows rows = new BatchRows(16);
      rows.addSequence(0, all, 0, prompt.length, 0);
      decoder.forward(rows, cache, LogitsMode.LAST);
      float[] logits = new float[16 * VOCAB];
      for (int t = 0; t < steps; t++) {
        decoder.downloadLogits(logits);
        int cpuChoice = Sampler.argmax(logits, 0, VOCAB);
        if (cpuChoice != generated[t]) {
          float margin = logits[cpuChoice] - logits[generated[t]];
          assertThat(margin).as("step %d: GPU chose %d, CPU %d with a logit margin of %f (tie margin %f)", t,
              generated[t], cpuChoice, margin, TIE_MARGIN).isLessThan(TIE_MARGIN);
          ties.add("step " + t + " (margin " + margin + ")");
        }
        if (t + 1 < steps) {
          rows.clear();
          rows.addSequence(0, all, prompt.length + t, 1, cache.length(0));
          decoder.forward(rows, cache, LogitsMode.LAST);
        }
      }
    }
    System.out.println("greedy GPU vs CPU: " + steps + " steps, near-tie differences: " + (ties.isEmpty() ? "none" : ties));
  }

  @Test
  void capturedDecodeStepEqualsPlainStepsBitwise() {
    int sequences = 3, steps = 12;
    int[] slots = {1, 0, 2};
    try (Decoder decoder = new Decoder(WEIGHTS, gpu, 128, 16)) {
      int[][] plainTokens = new int[steps][], graphTokens = new int[steps][];
      for (int mode = 0; mode < 2; mode++) {
        KvCache cache = decoder.newCache(sequences);
        BatchRows rows = new BatchRows(16);
        for (int s = 0; s < sequences; s++) {  // different prompt lengths per sequence
          int[] prompt = tokens(20 + s, 3 + 2 * s);
          rows.clear();
          rows.addSequence(slots[s], prompt, 0, prompt.length, 0);
          decoder.forward(rows, cache, LogitsMode.NONE);
        }
        int[] current = {1, 2, 3};
        try (CudaDecodeStep step = new CudaDecodeStep(decoder, cache, slots)) {
          for (int t = 0; t < steps; t++) {
            int[] next = new int[sequences];
            if (mode == 0) {
              rows.clear();
              for (int s = 0; s < sequences; s++) rows.addSequence(slots[s], current, s, 1, cache.length(slots[s]));
              decoder.forward(rows, cache, LogitsMode.LAST);
              decoder.argmaxLogits(next);
              plainTokens[t] = next;
            } else {
              step.step(current, next);
              assertThat(step.captured()).isTrue();
              graphTokens[t] = next;
            }
            current = next.clone();
          }
        }
        for (int s = 0; s < sequences; s++) assertThat(cache.length(slots[s])).isEqualTo(3 + 2 * s + steps);
        cache.close();
      }
      for (int t = 0; t < steps; t++) {
        assertThat(graphTokens[t]).as("step %d: graph replay vs plain forward", t).containsExactly(plainTokens[t]);
      }
    }
  }
  /**
   * Programmatic dependent launch only changes when kernels may start, never what they compute: logits
   * of plain block-mode passes and tokens of a replayed graph are bitwise the same with it and without.
   */
  @Test
  void programmaticDependentLaunchChangesNothingBitwise() {
    Assumptions.assumeTrue(gpu.programmaticLaunchAvailable(), "no programmatic dependent launch here: " + gpu.launchMode());
    int[] prompt = tokens(77, 21);
    float[][] logits = new float[2][];
    int[][] graphTokens = new int[2][10];
    try (Decoder decoder = new Decoder(WEIGHTS, gpu, 128, 16)) {
      for (int mode = 0; mode < 2; mode++) {
        gpu.useProgrammaticLaunch(mode == 0);
        gpu.useProgrammaticLaunchInGraphs(mode == 0);
        try (KvCache cache = decoder.newCache(1)) {
          logits[mode] = runInBlocks(decoder, cache, 0, prompt, 1, 5, 2, 8);
          int[] current = {prompt[prompt.length - 1]};
          try (CudaDecodeStep step = new CudaDecodeStep(decoder, cache, 0)) {
            for (int t = 0; t < graphTokens[mode].length; t++) {
              int[] next = new int[1];
              step.step(current, next);
              graphTokens[mode][t] = next[0];
              current = next;
            }
          }
        }
      }
    } finally {
      gpu.useProgrammaticLaunch(true);
      gpu.useProgrammaticLaunchInGraphs(false);
    }
    assertThat(logits[0]).as("block-mode logits with PDL vs without").containsExactly(logits[1]);
    assertThat(graphTokens[0]).as("graph-replayed tokens with PDL vs without").containsExactly(graphTokens[1]);
  }
}
