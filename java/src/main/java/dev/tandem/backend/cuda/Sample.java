package dev.tandem.backend.cuda;

import dev.tandem.sampling.SamplingParams;

/**
 * Launcher of {@code sample_f32} (kernels/sample.cu): a token per row of logits as
 * {@link dev.tandem.sampling.Sampler#sample} picks it, each row with its own parameters (greedy,
 * temperature, top-k, top-p, seed) and Philox counter.
 */
final class Sample {
  private Sample() {}

  /** Ints per row of the parameter table. */
  static final int PARAMS = 8;

  /** One block of 1024 threads per row. */
  static LaunchGeometry geometry(int n) {
    return new LaunchGeometry(n, 1, 1, 1024, 1, 1, 0);
  }

  /**
   * The parameter table, [n][8] ints: sequence (the Philox counter's word that {@code Philox.uniform}
   * takes from the sequence id), position, 1 / temperature as float bits (0 for greedy), top-k (0:
   * all), top-p as float bits, seed low and high words, the Philox stream (0: STREAM_SAMPLE; the
   * drafting and verification kernels choose their own streams).
   */
  static int[] rowParams(int n, SamplingParams[] params, long[] sequences, int[] positions) {
    int[] table = new int[n * PARAMS];
    for (int i = 0; i < n; i++) {
      SamplingParams p = params[i];
      int at = i * PARAMS;
      table[at] = (int) sequences[i];
      table[at + 1] = positions[i];
      table[at + 2] = p.isGreedy() ? 0 : Float.floatToRawIntBits(1f / p.temperature());
      table[at + 3] = p.isGreedy() ? 0 : p.topK();
      table[at + 4] = Float.floatToRawIntBits(p.isGreedy() ? 1f : p.topP());
      table[at + 5] = (int) p.seed();
      table[at + 6] = (int) (p.seed() >>> 32);
    }
    return table;
  }

  /** logits: [n][vocab] fp32; rowParams: [n][8] ints ({@link #rowParams}); out: [n] ints. */
  static KernelArgs args(long logits, long rowParams, long out, int n, int vocab) {
    return new KernelArgs().ptr(logits).ptr(rowParams).ptr(out).i32(n).i32(vocab);
  }

  /**
   * {@code sample_f32_drafts}: logits [n][vocab] (the last row of each sequence); slotParams
   * [slots][8]; positions, sequenceStarts, sequenceSlots: the device copy of BatchRows; table
   * [slots][stride] floats; q [slots][stride][vocab] floats.
   */
  static KernelArgs draftArgs(long logits, long slotParams, long positions, long sequenceStarts, long sequenceSlots,
      long table, long q, int n, int vocab, int stride, int column) {
    return new KernelArgs().ptr(logits).ptr(slotParams).ptr(positions).ptr(sequenceStarts).ptr(sequenceSlots)
        .ptr(table).ptr(q).i32(n).i32(vocab).i32(stride).i32(column);
  }

  /**
   * {@code rejection_f32}: logits [rows][vocab]; slotParams [slots][8]; positions, sequenceStarts,
   * sequenceSlots: the device copy of BatchRows; table, q as for {@link #draftArgs}; out
   * [sequences][2 + stride] ints.
   */
  static KernelArgs rejectionArgs(long logits, long slotParams, long positions, long sequenceStarts,
      long sequenceSlots, long table, long q, long out, int sequences, int vocab, int stride) {
    return new KernelArgs().ptr(logits).ptr(slotParams).ptr(positions).ptr(sequenceStarts).ptr(sequenceSlots)
        .ptr(table).ptr(q).ptr(out).i32(sequences).i32(vocab).i32(stride);
  }
}
