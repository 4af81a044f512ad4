package dev.tandem.train;

import dev.tandem.backend.cpu.WorkerPool;

/**
 * Rotary embedding ("rotate half", Hugging Face) of packed training rows in place: row i is position
 * {@code i % seqLen}. The table is {@link dev.tandem.model.RopeTable}'s ([positions][headDim], cos then
 * sin), the one inference uses. The backward pass is the rotation by the opposite angle (the transpose
 * of a rotation).
 */
public final class RopeOp {
  private RopeOp() {}

  /** x: [rows][heads*headDim]; rotates by +angle (forward) or -angle (backward, on gradients). */
  public static void apply(WorkerPool pool, float[] x, int rows, int seqLen, int heads, int headDim, float[] table,
      boolean inverse) {
    int width = heads * headDim, half = headDim / 2;
    Parallel.forChunks(pool, rows, Parallel.rowsPerChunk(width, 16384), (from, to, chunk, worker) -> {
      for (int i = from; i < to; i++) {
        int t = (i % seqLen) * headDim;
        for (int h = 0; h < heads; h++) {
          int base = i * width + h * headDim;
          for (int k = 0; k < half; k++) {
            float cos = table[t + k];
            float sin = inverse ? -table[t + half + k] : table[t + half + k];
            float a = x[base + k], b = x[base + half + k];
            x[base + k] = a * cos - b * sin;
            x[base + half + k] = b * cos + a * sin;
          }
        }
      }
    });
  }
}
