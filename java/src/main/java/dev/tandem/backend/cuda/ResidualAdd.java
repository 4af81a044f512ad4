package dev.tandem.backend.cuda;

/** Launchers of kernels/add.cu: {@code add_f32} (x += delta) and {@code add_bias_f32} (rows += bias). */
final class ResidualAdd {
  private ResidualAdd() {}

  static LaunchGeometry geometry(int count) {
    return LaunchGeometry.linear(count, 256);
  }

  /** x, delta: [count] fp32. */
  static KernelArgs args(long x, long delta, int count) {
    return new KernelArgs().ptr(x).ptr(delta).i32(count);
  }

  static LaunchGeometry biasGeometry(int n, int cols) {
    return LaunchGeometry.linear((long) n * cols, 256);
  }

  /** x: [n][cols] fp32; bias: [cols] fp32. */
  static KernelArgs biasArgs(long x, long bias, int n, int cols) {
    return new KernelArgs().ptr(x).ptr(bias).i32(n).i32(cols);
  }
}
