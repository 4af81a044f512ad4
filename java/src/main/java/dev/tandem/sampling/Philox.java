package dev.tandem.sampling;

/**
 * Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11), the
 * counter-based generator also used by cuRAND. A random number is a pure function of a 64-bit key
 * and a 128-bit counter, so any (seed, sequence, position, stream) can be drawn in any order, on the
 * CPU or on the GPU, and give the same value. The CUDA kernels implement the same function.
 */
public final class Philox {
  private Philox() {}

  private static final int M0 = 0xD2511F53;
  private static final int M1 = 0xCD9E8D57;
  private static final int W0 = 0x9E3779B9;
  private static final int W1 = 0xBB67AE85;

  /** Streams: which draw of a (sequence, position) a number is for. */
  public static final int STREAM_SAMPLE = 0;
  public static final int STREAM_ACCEPT = 1;
  public static final int STREAM_RESIDUAL = 2;
  /** SPEED: the drafter's draws. */
  public static final int STREAM_DRAFT = 3;

  /** The four 32-bit outputs for key (k0, k1) and counter (c0..c3), written to out[0..3]. */
  public static void block(int k0, int k1, int c0, int c1, int c2, int c3, int[] out) {
    for (int round = 0; round < 10; round++) {
      long p0 = (M0 & 0xFFFFFFFFL) * (c0 & 0xFFFFFFFFL);
      long p1 = (M1 & 0xFFFFFFFFL) * (c2 & 0xFFFFFFFFL);
      int hi0 = (int) (p0 >>> 32), lo0 = (int) p0;
      int hi1 = (int) (p1 >>> 32), lo1 = (int) p1;
      int n0 = hi1 ^ c1 ^ k0;
      int n1 = lo1;
      int n2 = hi0 ^ c3 ^ k1;
      int n3 = lo0;
      c0 = n0;
      c1 = n1;
      c2 = n2;
      c3 = n3;
      k0 += W0;
      k1 += W1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
  }

  /**
   * A uniform float in [0, 1) for (seed, sequence, position, stream): the top 24 bits of the first
   * output word, times 2^-24 (exactly representable, never 1).
   */
  public static float uniform(long seed, long sequence, long position, int stream) {
    int[] out = new int[4];
    block((int) seed, (int) (seed >>> 32), (int) position, (int) (position >>> 32), (int) sequence, stream, out);
    return (out[0] >>> 8) * 0x1.0p-24f;
  }
}
