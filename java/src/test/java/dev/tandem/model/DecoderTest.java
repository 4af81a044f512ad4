package dev.tandem.model;

import static dev.tandem.testing.Close.assertBitwise;
import static dev.tandem.testing.Close.assertClose;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tandem.backend.Backend;
import dev.tandem.backend.BatchRows;
import dev.tandem.backend.KvCache;
import dev.tandem.backend.cpu.CpuBackend;
import java.util.SplittableRandom;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The block-mode forward pass: block vs token by token, truncation, ragged batches, reference. */
class DecoderTest {
  /** Small but awkward: 6 query heads over 2 KV heads (GQA 3), head dim 8, odd vocabulary. */
  static final LlamaConfig CONFIG = new LlamaConfig(97, 48, 80, 3, 6, 2, 10000.0, 1e-5, 64, false, "float32");
  static final ModelWeights WEIGHTS = ModelWeights.random(CONFIG, 42, 0.3);
  static final int VOCAB = CONFIG.vocabSize();

  private static Supplier<Backend> backend(String kind) {
    return kind.equals("reference") ? CpuBackend::reference : () -> CpuBackend.fast(2);
  }

  private static int[] tokens(long seed, int n) {
    return new SplittableRandom(seed).ints(n, 0, VOCAB).toArray();
  }

  /** Logits of every position when the tokens are fed in blocks of the given sizes. */
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

  @ParameterizedTest
  @ValueSource(strings = {"fast", "reference"})
  void blockEqualsTokenByTokenBitwise(String kind) {
    int[] tokens = tokens(1, 23);
    try (Backend backend = backend(kind).get()) {
      Decoder decoder = new Decoder(WEIGHTS, backend, 64, 32);
      float[] oneBlock = runInBlocks(decoder, decoder.newCache(1), 0, tokens, 23);
      float[] single = runInBlocks(decoder, decoder.newCache(1), 0, tokens, 1);
      float[] mixed = runInBlocks(decoder, decoder.newCache(1), 0, tokens, 5, 2, 7, 1);
      assertBitwise("block of 23 vs one token at a time", oneBlock, single, oneBlock.length);
      assertBitwise("blocks of 5, 2, 7, 1 vs one token at a time", mixed, single, oneBlock.length);
    }
  }

  @Test
  void lastModeGivesTheLastRowOfAll() {
    int[] tokens = tokens(2, 9);
    try (Backend backend = CpuBackend.fast(2)) {
      Decoder decoder = new Decoder(WEIGHTS, backend, 64, 16);
      float[] all = runInBlocks(decoder, decoder.newCache(1), 0, tokens, 9);
      KvCache cache = decoder.newCache(1);
      BatchRows rows = new BatchRows(16);
      rows.addSequence(0, tokens, 0, 9, 0);
      decoder.forward(rows, cache, LogitsMode.LAST);
      float[] last = new float[16 * VOCAB];
      decoder.downloadLogits(last);
      float[] expected = new float[VOCAB];
      System.arraycopy(all, 8 * VOCAB, expected, 0, VOCAB);
      assertThat(decoder.logitRows()).isEqualTo(1);
      assertBitwise("LAST row vs ALL", expected, last, VOCAB);
      assertThat(cache.length(0)).isEqualTo(9);
    }
  }

  @Test
  void truncateThenRerunEqualsFreshRun() {
    int[] first = tokens(3, 12);
    int[] second = first.clone();
    for (int i = 7; i < 12; i++) second[i] = (first[i] + 1 + i) % VOCAB;  // diverge after position 7
    try (Backend backend = CpuBackend.fast(2)) {
      Decoder decoder = new Decoder(WEIGHTS, backend, 64, 16);
      KvCache cache = decoder.newCache(1);
      runInBlocks(decoder, cache, 0, first, 4);
      cache.setLength(0, 7);  // reject positions 7..11
      int[] tail = java.util.Arrays.copyOfRange(second, 7, 12);
      float[] rerun = runInBlocks(decoder, cache, 0, tail, 2);
      float[] fresh = runInBlocks(decoder, decoder.newCache(1), 0, second, 12);
      float[] freshTail = java.util.Arrays.copyOfRange(fresh, 7 * VOCAB, 12 * VOCAB);
      assertBitwise("positions 7..11 after truncation vs a fresh run", freshTail, rerun, freshTail.length);
    }
  }

  @Test
  void raggedBatchEqualsEachSequenceAlone() {
    int[][] seqs = {tokens(10, 5), tokens(11, 1), tokens(12, 9), tokens(13, 3)};
    int[] history = {0, 4, 2, 7};  // tokens each slot processed before the batched pass
    try (Backend backend = CpuBackend.fast(2)) {
      Decoder decoder = new Decoder(WEIGHTS, backend, 64, 32);
      float[][] alone = new float[seqs.length][];
      for (int s = 0; s < seqs.length; s++) {
        KvCache cache = decoder.newCache(1);
        if (history[s] > 0) runInBlocks(decoder, cache, 0, tokens(100 + s, history[s]), history[s]);
        alone[s] = runInBlocks(decoder, cache, 0, seqs[s], seqs[s].length);
      }
      KvCache cache = decoder.newCache(seqs.length);
      // Slots in a different order than the batch rows, to catch slot/row mix-ups.
      int[] slotOf = {2, 0, 3, 1};
      for (int s = 0; s < seqs.length; s++) {
        if (history[s] > 0) runInBlocks(decoder, cache, slotOf[s], tokens(100 + s, history[s]), 3);
      }
      BatchRows rows = new BatchRows(32);
      for (int s = 0; s < seqs.length; s++) {
        rows.addSequence(slotOf[s], seqs[s], 0, seqs[s].length, cache.length(slotOf[s]));
      }
      decoder.forward(rows, cache, LogitsMode.ALL);
      float[] batched = new float[32 * VOCAB];
      decoder.downloadLogits(batched);
      for (int s = 0; s < seqs.length; s++) {
        float[] part = java.util.Arrays.copyOfRange(batched, rows.sequenceStart(s) * VOCAB,
            (rows.sequenceStart(s) + seqs[s].length) * VOCAB);
        assertBitwise("sequence " + s + " in a ragged batch vs alone", alone[s], part, part.length);
        assertThat(cache.length(slotOf[s])).isEqualTo(history[s] + seqs[s].length);
      }
    }
  }

  @Test
  void fastPathMatchesScalarReference() {
    int[] tokens = tokens(4, 17);
    float[] fast, reference;
    try (Backend backend = CpuBackend.fast(2)) {
      Decoder decoder = new Decoder(WEIGHTS, backend, 64, 32);
      fast = runInBlocks(decoder, decoder.newCache(1), 0, tokens, 17);
    }
    try (Backend backend = CpuBackend.reference()) {
      Decoder decoder = new Decoder(WEIGHTS, backend, 64, 32);
      reference = runInBlocks(decoder, decoder.newCache(1), 0, tokens, 17);
    }
    // fp32 everywhere; only summation orders differ. Through 3 layers the relative drift stays
    // around 1e-6 of the logits' scale (|logits| ~ 1..10), far below 1e-4.
    assertClose("fast vs reference logits", reference, fast, fast.length, 1e-4, 1e-4);
  }

  @Test
  void capturesTheResidualStreamAfterChosenLayers() {
    int[] tokens = tokens(5, 6);
    try (Backend backend = CpuBackend.fast(1)) {
      Decoder decoder = new Decoder(WEIGHTS, backend, 64, 8, 0, 3);
      BatchRows rows = new BatchRows(8);
      rows.addSequence(0, tokens, 0, 6, 0);
      decoder.forward(rows, decoder.newCache(1), LogitsMode.NONE);
      float[] embeddings = new float[6 * CONFIG.hiddenSize()];
      backend.download(decoder.captured(0), 6, embeddings);
      float[] table = WEIGHTS.get(TensorNames.EMBEDDING);
      float[] expected = new float[6 * CONFIG.hiddenSize()];
      for (int i = 0; i < 6; i++) {
        System.arraycopy(table, tokens[i] * CONFIG.hiddenSize(), expected, i * CONFIG.hiddenSize(), CONFIG.hiddenSize());
      }
      assertBitwise("layer-0 capture = embeddings", expected, embeddings, expected.length);
      float[] last = new float[6 * CONFIG.hiddenSize()];
      backend.download(decoder.captured(1), 6, last);
      assertThat(last).isNotEqualTo(embeddings);
    }
  }

  @Test
  void rejectsInvalidPasses() {
    try (Backend backend = CpuBackend.fast(1)) {
      Decoder decoder = new Decoder(WEIGHTS, backend, 16, 8);
      KvCache cache = decoder.newCache(2);
      BatchRows rows = new BatchRows(8);
      rows.addSequence(0, new int[] {1, 2}, 0, 2, 3);
      assertThatThrownBy(() -> decoder.forward(rows, cache, LogitsMode.ALL))
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("starts at position 3");
      rows.clear();
      rows.addSequence(1, new int[] {VOCAB}, 0, 1, 0);
      assertThatThrownBy(() -> decoder.forward(rows, cache, LogitsMode.ALL))
          .hasMessageContaining("token id 97 outside the vocabulary");
      cache.setLength(0, 15);
      rows.clear();
      rows.addSequence(0, new int[] {1, 2}, 0, 2, 15);
      assertThatThrownBy(() -> decoder.forward(rows, cache, LogitsMode.ALL))
          .hasMessageContaining("beyond the context length of 16");
      assertThat(cache.length(0)).isEqualTo(15);
      assertThat(cache.length(1)).isZero();
    }
  }
}
