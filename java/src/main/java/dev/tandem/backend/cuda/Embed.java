package dev.tandem.backend.cuda;

/** Launcher of {@code embed_bf16} (kernels/embed.cu): out[i] = table[tokens[i]], bf16 to fp32. */
final class Embed {
  private Embed() {}

  static LaunchGeometry geometry(int n, int d) {
    return new LaunchGeometry(LaunchGeometry.ceilDiv(d, 256), n, 1, 256, 1, 1, 0);
  }

  /**
   * @param table  [vocab][d] bf16
   * @param tokens [n] ints (device copy of BatchRows)
   * @param out    [n][d] fp32
   */
  static KernelArgs args(long table, long tokens, long out, int n, int d, int vocab) {
    return new KernelArgs().ptr(table).ptr(tokens).ptr(out).i32(n).i32(d).i32(vocab);
  }
}
