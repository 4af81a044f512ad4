package dev.tandem.backend.cuda;

/** Launcher of {@code argmax_f32} (kernels/argmax.cu): the lowest index of each row's maximum. */
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
}
