package dev.tandem.backend.cuda;

/** Launcher of {@code sample_f32} (kernels/sample.cu): temperature sampling with Philox, as Sampler. */
final class Sample {
  private Sample() {}

  /** One block of 1024 threads per row. */
  static LaunchGeometry geometry(int n) {
    return new LaunchGeometry(n, 1, 1, 1024, 1, 1, 0);
  }

  /**
   * @param logits    [n][vocab] fp32
   * @param sequences [n] ints, positions [n] ints: the Philox counter of each row
   * @param out       [n] ints
   */
  static KernelArgs args(long logits, long sequences, long positions, long out, int n, int vocab,
      float inverseTemperature, long seed) {
    return new KernelArgs().ptr(logits).ptr(sequences).ptr(positions).ptr(out).i32(n).i32(vocab)
        .f32(inverseTemperature).i32((int) seed).i32((int) (seed >>> 32));
  }
}
