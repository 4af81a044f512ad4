package dev.tandem.backend.cuda;

/**
 * Launchers of kernels/argmax.cu: {@code argmax_f32} (the lowest index of each row's maximum) and
 * {@code argmax_f32_drafts} (the same into SPEED's draft table).
 */
final class Argmax {
  private Argmax() {}

  /** One block of 1024 threads per row. */
  static LaunchGeometry geometry(int n) {
    return new LaunchGeometry(n, 1, 1, 1024, 1, 1, 0);
  }

  /** x: [n][cols] fp32; out: [n] ints. */
  static KernelArgs args(long x, long out, int n, int cols) {
    return new KernelArgs().ptr(x).ptr(out).i32(n).i32(cols);
  }

  /**
   * {@code argmax_f32_drafts}: x: [n][cols] fp32, the last row of each of n sequences; sequenceSlots:
   * [n] (device copy of BatchRows); table: [slots][stride] token ids as floats; the argmax of row i
   * goes to table[sequenceSlots[i]][column].
   */
  static KernelArgs draftArgs(long x, long sequenceSlots, long table, int n, int cols, int stride, int column) {
    return new KernelArgs().ptr(x).ptr(sequenceSlots).ptr(table).i32(n).i32(cols).i32(stride).i32(column);
  }
}
