package dev.tandem.backend.cuda;

/** Launcher of {@code swiglu_f32} (kernels/swiglu.cu): out = silu(gate) * up. */
final class Swiglu {
  private Swiglu() {}

  static LaunchGeometry geometry(int count) {
    return LaunchGeometry.linear(count, 256);
  }

  /** gate, up, out: [count] fp32. */
  static KernelArgs args(long gate, long up, long out, int count) {
    return new KernelArgs().ptr(gate).ptr(up).ptr(out).i32(count);
  }
}
