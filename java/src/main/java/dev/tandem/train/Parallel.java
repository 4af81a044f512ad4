package dev.tandem.train;

import dev.tandem.backend.cpu.WorkerPool;

/**
 * Loops split into fixed chunks on a {@link WorkerPool}. The split depends only on the sizes, never on
 * the thread count, so results that are combined per chunk (in chunk order) are deterministic.
 */
final class Parallel {
  private Parallel() {}

  @FunctionalInterface
  interface Range {
    void run(int from, int to, int chunk, int worker);
  }

  /** Chunks of {@code chunk} items over [0, n). */
  static void forChunks(WorkerPool pool, int n, int chunk, Range body) {
    if (n <= 0) return;
    int chunks = (n + chunk - 1) / chunk;
    if (chunks == 1) {
      body.run(0, n, 0, 0);
      return;
    }
    pool.run(chunks, (task, worker) -> body.run(task * chunk, Math.min(n, (task + 1) * chunk), task, worker));
  }

  /** Chunk count of {@link #forChunks}. */
  static int chunks(int n, int chunk) {
    return (n + chunk - 1) / chunk;
  }

  /** Rows per chunk so that a chunk holds about {@code work} elements of {@code width} each. */
  static int rowsPerChunk(int width, int work) {
    return Math.max(1, work / Math.max(1, width));
  }
}
