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

  /** rope_kv_store_f32: one thread per (row, query pair or key/value pair). */
  static LaunchGeometry fusedGeometry(int n, int heads, int kvHeads, int headDim) {
    return LaunchGeometry.linear((long) n * (heads + kvHeads) * (headDim / 2), 256);
  }

  /**
   * @param q            [n][qWidth] fp32, rotated in place (0 and heads = 0 when there are no queries)
   * @param k, v         [n][kvHeads * headDim] fp32
   * @param keys, values [slotCount][capacity][kvHeads * headDim] bf16 of one layer
   */
  static KernelArgs fusedArgs(long q, long k, long v, long table, long positions, long slots, long keys, long values,
      int n, int heads, int kvHeads, int headDim, int qWidth, int tableRows, int capacity, int slotCount) {
    return new KernelArgs().ptr(q).ptr(k).ptr(v).ptr(table).ptr(positions).ptr(slots).ptr(keys).ptr(values).i32(n)
        .i32(heads).i32(kvHeads).i32(headDim).i32(qWidth).i32(tableRows).i32(capacity).i32(slotCount);
  }
}
