package dev.tandem.train;

import dev.tandem.backend.cpu.WorkerPool;

/**
 * RMSNorm over rows, forward and backward: {@code y = x * r * g} with {@code r = 1/sqrt(mean(x^2) + eps)}.
 * Backward: {@code dg += sum_rows dy * x * r}, {@code dx += r * (dy*g) - x * r^3 / d * sum_j(dy_j g_j x_j)}.
 * The forward matches the inference kernel's formula (fp32 sum of squares, then 1/sqrt in double).
 */
public final class RmsNormOp {
  private RmsNormOp() {}

  /** Rows per task; also the unit in which gain gradients are summed (fixed, so deterministic). */
  static final int CHUNK = 32;

  /** x, y: [rows][d]; invRms: [rows] (saved for backward; may be null). */
  public static void forward(WorkerPool pool, float[] x, float[] gain, float eps, int rows, int d, float[] y,
      float[] invRms) {
    Parallel.forChunks(pool, rows, CHUNK, (from, to, chunk, worker) -> {
      for (int i = from; i < to; i++) {
        int at = i * d;
        float sumSquares = 0f;
        for (int j = 0; j < d; j++) sumSquares = Math.fma(x[at + j], x[at + j], sumSquares);
        float r = (float) (1.0 / Math.sqrt(sumSquares / d + eps));
        if (invRms != null) invRms[i] = r;
        for (int j = 0; j < d; j++) y[at + j] = x[at + j] * r * gain[j];
      }
    });
  }

  /** Scratch floats {@link #backward} needs for {@code rows} rows of width d. */
  public static int scratchSize(int rows, int d) {
    return Parallel.chunks(rows, CHUNK) * d;
  }

  /**
   * dx += d(norm)/dx applied to dy; dGain += sum over rows. scratch: {@link #scratchSize} floats.
   */
  public static void backward(WorkerPool pool, float[] dy, float[] x, float[] gain, float[] invRms, int rows, int d,
      float[] dx, float[] dGain, float[] scratch) {
    int chunks = Parallel.chunks(rows, CHUNK);
    Parallel.forChunks(pool, rows, CHUNK, (from, to, chunk, worker) -> {
      int partial = chunk * d;
      java.util.Arrays.fill(scratch, partial, partial + d, 0f);
      for (int i = from; i < to; i++) {
        int at = i * d;
        float r = invRms[i];
        float dot = 0f;
        for (int j = 0; j < d; j++) {
          float xj = x[at + j];
          dot = Math.fma(dy[at + j] * gain[j], xj, dot);
          scratch[partial + j] = Math.fma(dy[at + j], xj * r, scratch[partial + j]);
        }
        float c = dot * r * r * r / d;
        for (int j = 0; j < d; j++) dx[at + j] += r * (dy[at + j] * gain[j]) - c * x[at + j];
      }
    });
    for (int c = 0; c < chunks; c++) {
      int partial = c * d;
      for (int j = 0; j < d; j++) dGain[j] += scratch[partial + j];
    }
  }
}
