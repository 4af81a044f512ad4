package dev.tandem.backend.cuda;

/** Launcher of {@code rmsnorm_f32} (kernels/rmsnorm.cu). */
final class RmsNorm {
  private RmsNorm() {}

  /** One block of 256 threads per row. */
  static LaunchGeometry geometry(int n) {
    return new LaunchGeometry(n, 1, 1, 256, 1, 1, 0);
  }

  /** x, out: [n][d] fp32; gain: [d] fp32. */
  static KernelArgs args(long x, long gain, long out, int n, int d, float eps) {
    return new KernelArgs().ptr(x).ptr(gain).ptr(out).i32(n).i32(d).f32(eps);
  }
}
