package dev.tandem.train;

import dev.tandem.backend.cpu.WorkerPool;

/**
 * Softmax cross-entropy over rows of logits, against hard targets and optionally soft targets (a
 * teacher's logits, distillation), in one pass that turns the logits into their gradient:
 * <pre>
 *   loss_i = hardWeight * -log p_i[target_i] + softWeight * -sum_v q_i[v] log p_i[v],  p = softmax(z), q = softmax(teacher)
 *   dz_i   = (p_i - hardWeight * onehot(target_i) - softWeight * q_i) * gradScale
 * </pre>
 * Rows whose target is negative are skipped (no loss, zero gradient). Per-row losses are returned in
 * {@code hardLoss} and {@code softLoss}; sums are the caller's (in row order, deterministic).
 */
public final class CrossEntropyOp {
  private CrossEntropyOp() {}

  /**
   * @param logits      [rows][vocab], replaced by the gradient
   * @param teacher     [rows][vocab] teacher logits, or null (then softWeight must be 0)
   * @param hardLoss    [rows] out: -log p[target] (0 for skipped rows)
   * @param softLoss    [rows] out: -sum q log p (0 without a teacher)
   */
  public static void forwardBackward(WorkerPool pool, float[] logits, int rows, int vocab, int[] targets,
      float[] teacher, float hardWeight, float softWeight, float gradScale, float[] hardLoss, float[] softLoss) {
    if (teacher == null && softWeight != 0f) throw new IllegalArgumentException("soft weight without a teacher");
    Parallel.forChunks(pool, rows, 8, (from, to, chunk, worker) -> {
      for (int i = from; i < to; i++) {
        int at = i * vocab;
        int target = targets[i];
        if (target < 0) {
          java.util.Arrays.fill(logits, at, at + vocab, 0f);
          hardLoss[i] = 0f;
          softLoss[i] = 0f;
          continue;
        }
        float logSumExp = logSumExp(logits, at, vocab);
        hardLoss[i] = logSumExp - logits[at + target];
        float tLogSumExp = teacher == null ? 0f : logSumExp(teacher, at, vocab);
        double soft = 0;
        for (int v = 0; v < vocab; v++) {
          float logP = logits[at + v] - logSumExp;
          float p = (float) Math.exp(logP);
          float g = p;
          if (teacher != null) {
            float qv = (float) Math.exp(teacher[at + v] - tLogSumExp);
            soft -= (double) qv * logP;
            g -= softWeight * qv;
          }
          logits[at + v] = g * gradScale;
        }
        logits[at + target] -= hardWeight * gradScale;
        softLoss[i] = (float) soft;
      }
    });
  }

  /** log sum_v exp(x[at + v]), stable. */
  public static float logSumExp(float[] x, int at, int n) {
    float max = Float.NEGATIVE_INFINITY;
    for (int v = 0; v < n; v++) max = Math.max(max, x[at + v]);
    double sum = 0;
    for (int v = 0; v < n; v++) sum += Math.exp(x[at + v] - max);
    return (float) (max + Math.log(sum));
  }
}
