package dev.tandem.backend.cuda;

/** Launcher of {@code rope_f32} (kernels/rope.cu): rotary embedding in place. */
final class Rope {
  private Rope() {}

  /** One thread per (row, head, i < headDim / 2). */
  static LaunchGeometry geometry(int n, int heads, int headDim) {
    return LaunchGeometry.linear((long) n * heads * (headDim / 2), 256);
  }

  /**
   * @param x         [n][width] fp32, rotated in place
   * @param table     [tableRows][headDim] fp32 (cos | sin)
   * @param positions [n] ints (device copy of BatchRows)
   */
  static KernelArgs args(long x, long table, long positions, int n, int heads, int headDim, int width, int tableRows) {
    return new KernelArgs().ptr(x).ptr(table).ptr(positions).i32(n).i32(heads).i32(headDim).i32(width).i32(tableRows);
  }
}
