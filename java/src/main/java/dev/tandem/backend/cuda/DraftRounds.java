package dev.tandem.backend.cuda;

/**
 * Launchers of kernels/speed.cu, SPEED's greedy round on the device: draft rows take their tokens
 * from the draft table ({@code tokens_from_drafts_i32}) and the verification pass's acceptance is
 * computed where its logits are ({@code greedy_accept_i32}).
 */
final class DraftRounds {
  private DraftRounds() {}

  static final int THREADS = 128;

  /** One thread per row (or per sequence). */
  static LaunchGeometry geometry(int count) {
    return new LaunchGeometry(LaunchGeometry.ceilDiv(count, THREADS), 1, 1, THREADS, 1, 1, 0);
  }

  /**
   * tokens, slots, draftRefs: [n] (device copy of BatchRows; tokens patched in place); table:
   * [slots][stride] token ids as floats.
   */
  static KernelArgs tokensArgs(long tokens, long slots, long draftRefs, long table, int n, int stride) {
    return new KernelArgs().ptr(tokens).ptr(slots).ptr(draftRefs).ptr(table).i32(n).i32(stride);
  }

  /**
   * ids: [rows] argmax of every row of the verification pass; sequenceStarts: [sequences + 1];
   * sequenceSlots: [sequences]; table: [slots][stride]; out: [sequences][2 + stride] ints.
   */
  static KernelArgs acceptArgs(long ids, long sequenceStarts, long sequenceSlots, long table, long out, int sequences,
      int stride) {
    return new KernelArgs().ptr(ids).ptr(sequenceStarts).ptr(sequenceSlots).ptr(table).ptr(out).i32(sequences)
        .i32(stride);
  }
}
