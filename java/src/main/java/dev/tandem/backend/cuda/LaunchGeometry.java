package dev.tandem.backend.cuda;

/**
 * Grid and block dimensions and dynamic shared memory of one launch, checked against the limits
 * every CUDA device since compute capability 3.0 has (grid y/z at most 65535, 1024 threads per
 * block, 48 KB of dynamic shared memory without opting in).
 */
record LaunchGeometry(int gridX, int gridY, int gridZ, int blockX, int blockY, int blockZ, int sharedBytes) {
  static final int MAX_SHARED_BYTES = 48 * 1024;

  LaunchGeometry {
    if (gridX < 1 || gridY < 1 || gridZ < 1 || gridY > 65535 || gridZ > 65535) {
      throw new IllegalArgumentException("grid (" + gridX + ", " + gridY + ", " + gridZ + ") outside the device limits");
    }
    long threads = (long) blockX * blockY * blockZ;
    if (blockX < 1 || blockY < 1 || blockZ < 1 || threads > 1024) {
      throw new IllegalArgumentException("block (" + blockX + ", " + blockY + ", " + blockZ + ") outside [1, 1024] threads");
    }
    if (sharedBytes < 0 || sharedBytes > MAX_SHARED_BYTES) {
      throw new IllegalArgumentException("dynamic shared memory " + sharedBytes + " bytes outside [0, 48 KB]");
    }
  }

  /** A 1-D launch of {@code threads} threads in blocks of {@code block}. */
  static LaunchGeometry linear(long threads, int block) {
    long blocks = Math.max(1, (threads + block - 1) / block);
    if (blocks > Integer.MAX_VALUE) throw new IllegalArgumentException(threads + " threads are too many for one launch");
    return new LaunchGeometry((int) blocks, 1, 1, block, 1, 1, 0);
  }

  static int ceilDiv(int a, int b) {
    return (a + b - 1) / b;
  }

  long blocks() {
    return (long) gridX * gridY * gridZ;
  }
}
