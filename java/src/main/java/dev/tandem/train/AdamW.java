package dev.tandem.train;

import dev.tandem.backend.cpu.WorkerPool;
import java.util.List;

/**
 * AdamW (decoupled weight decay, Loshchilov and Hutter) with bias correction, and clipping of the
 * gradients' global L2 norm. Moments are fp32 arrays per parameter; the update is elementwise in chunks
 * on the pool, the norm summed per fixed chunk then in chunk order, so the optimizer is deterministic.
 * Weight decay applies to matrices only ({@link Param#decay}).
 */
public final class AdamW {
  private static final int CHUNK = 1 << 15;

  public final List<Param> params;
  final float[][] m;  // [param][size] first moment
  final float[][] v;  // [param][size] second moment
  long step;          // updates done
  private final double beta1;
  private final double beta2;
  private final double eps;
  private final double weightDecay;

  public AdamW(List<Param> params, double beta1, double beta2, double eps, double weightDecay) {
    this.params = params;
    this.beta1 = beta1;
    this.beta2 = beta2;
    this.eps = eps;
    this.weightDecay = weightDecay;
    m = new float[params.size()][];
    v = new float[params.size()][];
    for (int i = 0; i < params.size(); i++) {
      m[i] = new float[params.get(i).size()];
      v[i] = new float[params.get(i).size()];
    }
  }

  public long step() {
    return step;
  }

  /** L2 norm of all gradients, summed in a fixed order. */
  public double gradNorm(WorkerPool pool) {
    double total = 0;
    for (Param p : params) {
      int chunks = Parallel.chunks(p.size(), CHUNK);
      double[] partial = new double[chunks];
      Parallel.forChunks(pool, p.size(), CHUNK, (from, to, chunk, worker) -> {
        double s = 0;
        for (int i = from; i < to; i++) s += (double) p.grad[i] * p.grad[i];
        partial[chunk] = s;
      });
      for (double s : partial) total += s;
    }
    return Math.sqrt(total);
  }

  /**
   * Scales the gradients so their global norm is at most {@code maxNorm} (when {@code maxNorm > 0}),
   * then applies one AdamW update with learning rate {@code lr}. Returns the norm before clipping.
   */
  public double update(WorkerPool pool, double lr, double maxNorm) {
    double norm = gradNorm(pool);
    if (!Double.isFinite(norm)) {
      throw new IllegalStateException("the gradient norm is " + norm + " at update " + (step + 1)
          + ": training diverged (try a lower --lr or a longer --warmup)");
    }
    float clip = maxNorm > 0 && norm > maxNorm ? (float) (maxNorm / norm) : 1f;
    step++;
    float b1 = (float) beta1, b2 = (float) beta2;
    float c1 = (float) (1 / (1 - Math.pow(beta1, step)));
    float c2 = (float) (1 / (1 - Math.pow(beta2, step)));
    float lrF = (float) lr, epsF = (float) eps;
    for (int k = 0; k < params.size(); k++) {
      Param p = params.get(k);
      float[] mk = m[k], vk = v[k], w = p.value, g = p.grad;
      float decay = p.decay ? (float) (1 - lr * weightDecay) : 1f;
      Parallel.forChunks(pool, p.size(), CHUNK, (from, to, chunk, worker) -> {
        for (int i = from; i < to; i++) {
          float gi = g[i] * clip;
          mk[i] = b1 * mk[i] + (1 - b1) * gi;
          vk[i] = b2 * vk[i] + (1 - b2) * gi * gi;
          float mHat = mk[i] * c1, vHat = vk[i] * c2;
          w[i] = w[i] * decay - lrF * mHat / ((float) Math.sqrt(vHat) + epsF);
        }
      });
    }
    return norm;
  }
}
