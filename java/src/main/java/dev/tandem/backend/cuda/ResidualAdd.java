package dev.tandem.backend.cuda;

/** Launcher of {@code add_f32} (kernels/add.cu): x += delta. */
final class ResidualAdd {
  private ResidualAdd() {}

  static LaunchGeometry geometry(int count) {
    return LaunchGeometry.linear(count, 256);
  }

  /** x, delta: [count] fp32. */
  static KernelArgs args(long x, long delta, int count) {
    return new KernelArgs().ptr(x).ptr(delta).i32(count);
  }
}
