package dev.tandem.train;

import dev.tandem.backend.cpu.WorkerPool;

/**
 * {@code h = silu(g) * u}, silu(g) = g * sigmoid(g); backward {@code du = dh * silu(g)},
 * {@code dg = dh * u * sigmoid(g) * (1 + g * (1 - sigmoid(g)))}.
 */
public final class SwiGluOp {
  private SwiGluOp() {}

  private static final int CHUNK = 16384;

  public static void forward(WorkerPool pool, float[] gate, float[] up, int n, float[] out) {
    Parallel.forChunks(pool, n, CHUNK, (from, to, chunk, worker) -> {
      for (int i = from; i < to; i++) {
        float g = gate[i];
        out[i] = (float) (g / (1.0 + Math.exp(-g))) * up[i];
      }
    });
  }

  /** dGate, dUp are overwritten. */
  public static void backward(WorkerPool pool, float[] dOut, float[] gate, float[] up, int n, float[] dGate,
      float[] dUp) {
    Parallel.forChunks(pool, n, CHUNK, (from, to, chunk, worker) -> {
      for (int i = from; i < to; i++) {
        float g = gate[i];
        float s = (float) (1.0 / (1.0 + Math.exp(-g)));
        float silu = g * s;
        dUp[i] = dOut[i] * silu;
        dGate[i] = dOut[i] * up[i] * s * (1f + g * (1f - s));
      }
    });
  }
}
