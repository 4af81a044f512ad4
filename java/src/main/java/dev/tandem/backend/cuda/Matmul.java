package dev.tandem.backend.cuda;

/**
 * Launchers of kernels/matmul.cu: the small-n product ({@code matmul_bf16_n1/2/4/8}, up to three
 * weights sharing one input per launch), the tiled fallback for large n, and the fp32 to bf16
 * conversion that feeds cuBLAS.
 */
final class Matmul {
  private Matmul() {}

  /** Rows up to which the bandwidth-bound small-n kernel is used (decode, verification blocks). */
  static final int SMALL_N_MAX = 64;
  /** Output columns per block of the small-n kernel (MM_COLS). */
  static final int COLUMNS_PER_BLOCK = 4;
  /** Weights one small-n launch can serve. */
  static final int MAX_WEIGHTS = 3;

  /** The small-n variant for n rows: the register tile NR = 1, 2, 4 or 8 rows. */
  static Kernel smallKernel(int n) {
    if (n < 1 || n > SMALL_N_MAX) throw new IllegalArgumentException("small-n matmul takes 1.." + SMALL_N_MAX + " rows, got " + n);
    if (n == 1) return Kernel.MATMUL_N1;
    if (n == 2) return Kernel.MATMUL_N2;
    if (n <= 4) return Kernel.MATMUL_N4;
    return Kernel.MATMUL_N8;
  }

  /** Fusion flags of the small-n kernel (kernels/matmul.cu). */
  static final int NORM = 1;
  static final int SWIGLU = 2;
  static final int RESIDUAL = 4;
  /** Prefetch the first weights into L2 before waiting for the previous kernel (with PDL launches). */
  static final int PREFETCH = 8;

  /** SwiGLU-fused gate/up: 2 columns of each weight per block, ceil(m / 2) blocks. */
  static LaunchGeometry swigluGeometry(int m) {
    return new LaunchGeometry(LaunchGeometry.ceilDiv(m, 2), 1, 1, 256, 1, 1, 0);
  }

  /** Blocks of 256 threads, ceil(m / 4) per weight; {@code ms} are the weights' output widths. */
  static LaunchGeometry smallGeometry(int... ms) {
    long blocks = 0;
    for (int m : ms) blocks += LaunchGeometry.ceilDiv(m, COLUMNS_PER_BLOCK);
    if (blocks > Integer.MAX_VALUE) throw new IllegalArgumentException("too many output columns for one launch");
    return new LaunchGeometry((int) blocks, 1, 1, 256, 1, 1, 0);
  }

  /**
   * x: [n][k] fp32; w_i: [m_i][k] bf16; out_i: [n][m_i] fp32. Unused weights: address 0, m 0.
   * gain: [k] fp32 with {@link #NORM} (else 0); flags: {@link #NORM}, {@link #SWIGLU},
   * {@link #RESIDUAL} (out0 += product).
   */
  static KernelArgs smallArgs(long x, long w0, long out0, long w1, long out1, long w2, long out2, long gain, int n,
      int k, int m0, int m1, int m2, float eps, int flags) {
    return new KernelArgs().ptr(x).ptr(w0).ptr(out0).ptr(w1).ptr(out1).ptr(w2).ptr(out2).ptr(gain).i32(n).i32(k)
        .i32(m0).i32(m1).i32(m2).f32(eps).i32(flags);
  }

  /** 32 x 32 output tiles, 256 threads each. */
  static LaunchGeometry tiledGeometry(int n, int m) {
    return new LaunchGeometry(LaunchGeometry.ceilDiv(m, 32), LaunchGeometry.ceilDiv(n, 32), 1, 256, 1, 1, 0);
  }

  /** x: [n][k] fp32; w: [m][k] bf16; out: [n][m] fp32. */
  static KernelArgs tiledArgs(long x, long w, long out, int n, int k, int m) {
    return new KernelArgs().ptr(x).ptr(w).ptr(out).i32(n).i32(k).i32(m);
  }

  static LaunchGeometry convertGeometry(int count) {
    return LaunchGeometry.linear(count, 256);
  }

  /** in: [count] fp32; out: [count] bf16. */
  static KernelArgs convertArgs(long in, long out, int count) {
    return new KernelArgs().ptr(in).ptr(out).i32(count);
  }
}
