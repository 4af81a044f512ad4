package dev.tandem.backend.cuda;

/**
 * Launchers of kernels/attention.cu: block-wise primary attention ({@code attention_bf16_block})
 * and the split-KV attention ({@code attention_bf16_decode_d64} / {@code _d128}, which merges its
 * chunks itself). The constants mirror attention.cuh.
 */
final class Attention {
  private Attention() {}

  static final int TILE = 32;
  static final int CHUNK = 256;
  static final int THREADS = 128;
  /** Threads of the split-KV kernel: a warp per tile of a chunk. */
  static final int DECODE_THREADS = 32 * (CHUNK / TILE);
  static final int PAIRS_PER_BLOCK = 16;
  static final int MAX_HEAD_DIM = 128;
  /** Most rows the split-KV kernel takes (decode steps and verification blocks). */
  static final int SPLIT_MAX_ROWS = 64;

  /** Checks the shapes both kernels support; the message says what does not fit. */
  static void checkShape(int heads, int kvHeads, int headDim) {
    if (kvHeads <= 0 || heads % kvHeads != 0) {
      throw new IllegalArgumentException("attention: " + heads + " query heads are not a multiple of " + kvHeads + " KV heads");
    }
    if (headDim > MAX_HEAD_DIM || headDim < 2 || headDim % 2 != 0) {
      throw new UnsupportedOperationException("CUDA attention supports even head dimensions up to " + MAX_HEAD_DIM
          + ", got " + headDim);
    }
    if (heads / kvHeads > PAIRS_PER_BLOCK) {
      throw new UnsupportedOperationException("CUDA attention supports up to " + PAIRS_PER_BLOCK
          + " query heads per KV head, got " + heads / kvHeads);
    }
  }

  /** Dynamic shared memory of both kernels: Q [16][headDim], K [32][headDim + 1], V [32][headDim] floats. */
  static int sharedBytes(int headDim) {
    return 4 * (PAIRS_PER_BLOCK * headDim + TILE * (headDim + 1) + TILE * headDim);
  }

  /** Rows per block of the block kernel: rows x group <= 16 (row, head) pairs. */
  static int rowsPerBlock(int heads, int kvHeads) {
    return Math.max(1, PAIRS_PER_BLOCK / (heads / kvHeads));
  }

  /** Chunks of the decode grid: enough for every position of the cache. */
  static int maxChunks(int capacity) {
    return LaunchGeometry.ceilDiv(capacity, CHUNK);
  }

  static LaunchGeometry blockGeometry(int n, int heads, int kvHeads, int headDim) {
    return new LaunchGeometry(LaunchGeometry.ceilDiv(n, rowsPerBlock(heads, kvHeads)), kvHeads, 1, THREADS, 1, 1,
        sharedBytes(headDim));
  }

  /**
   * q, out: [n][heads * headDim] fp32; keys, values: [slots][capacity][kvHeads * headDim] bf16 of one
   * layer; positions, slots: [n] (device copy of BatchRows).
   */
  static KernelArgs blockArgs(long q, long keys, long values, long positions, long slots, long out, int n, int heads,
      int kvHeads, int headDim, int capacity, float scale) {
    return new KernelArgs().ptr(q).ptr(keys).ptr(values).ptr(positions).ptr(slots).ptr(out).i32(n).i32(heads)
        .i32(kvHeads).i32(headDim).i32(capacity).i32(rowsPerBlock(heads, kvHeads)).f32(scale);
  }

  /**
   * Whether the split-KV kernel serves this head dimension: it loads key rows with 16-byte loads, so
   * the dimension must be a multiple of 8 (otherwise every pass runs the block kernel, which has a
   * scalar load path; a model then always uses the one kernel, so its results stay consistent).
   */
  static boolean decodeSupported(int headDim) {
    return headDim % 8 == 0 && headDim <= MAX_HEAD_DIM;
  }

  /** The split-KV entry for a head dimension: registers sized for up to 64 or up to 128 dimensions. */
  static Kernel decodeKernel(int headDim) {
    if (!decodeSupported(headDim)) throw new IllegalArgumentException("no split-KV attention for head dimension " + headDim);
    return headDim <= 64 ? Kernel.ATTENTION_DECODE_D64 : Kernel.ATTENTION_DECODE_D128;
  }

  /** Grid (kvHeads, chunks of the capacity, rows); the kernel's shared memory is static. */
  static LaunchGeometry decodeGeometry(int n, int kvHeads, int capacity) {
    return new LaunchGeometry(kvHeads, maxChunks(capacity), n, DECODE_THREADS, 1, 1, 0);
  }

  /** Floats of the decode kernel's partial states: [n][heads][maxChunks][2 + headDim]. */
  static long partialFloats(int n, int heads, int headDim, int capacity) {
    return (long) n * heads * maxChunks(capacity) * (2 + headDim);
  }

  /**
   * partial: [n][heads][maxChunks][2 + headDim] fp32 chunk states; tickets: [n][kvHeads] ints, zero
   * before the launch (the kernel leaves them zero); out: [n][heads * headDim].
   */
  static KernelArgs decodeArgs(long q, long keys, long values, long positions, long slots, long partial, long tickets,
      long out, int n, int heads, int kvHeads, int headDim, int capacity, float scale) {
    return new KernelArgs().ptr(q).ptr(keys).ptr(values).ptr(positions).ptr(slots).ptr(partial).ptr(tickets).ptr(out)
        .i32(n).i32(heads).i32(kvHeads).i32(headDim).i32(capacity).i32(maxChunks(capacity)).f32(scale);
  }
}
