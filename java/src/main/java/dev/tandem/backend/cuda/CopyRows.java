package dev.tandem.backend.cuda;

/** Launcher of {@code copy_rows_f32} (kernels/copy.cu): count contiguous floats from src to dst. */
final class CopyRows {
  private CopyRows() {}

  static LaunchGeometry geometry(int count) {
    return LaunchGeometry.linear(count, 256);
  }

  /** src, dst: addresses of the first copied row; count = rows * cols. */
  static KernelArgs args(long src, long dst, int count) {
    return new KernelArgs().ptr(src).ptr(dst).i32(count);
  }
}
