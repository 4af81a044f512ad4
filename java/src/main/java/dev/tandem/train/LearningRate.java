package dev.tandem.train;

/**
 * Learning rate per update: linear warm-up from 0 over {@code warmup} updates to {@code peak}, then a
 * cosine decay to {@code min} at update {@code total}.
 */
public record LearningRate(double peak, double min, int warmup, int total) {
  public LearningRate {
    if (!(peak > 0)) throw new IllegalArgumentException("learning rate must be > 0, got " + peak);
    if (min < 0 || min > peak) throw new IllegalArgumentException("min learning rate must be in [0, lr], got " + min);
    if (warmup < 0 || total < 1) throw new IllegalArgumentException("warm-up must be >= 0 and steps >= 1");
  }

  /** The rate for update {@code step} (0-based). */
  public double at(long step) {
    if (step < warmup) return peak * (step + 1) / warmup;
    if (total <= warmup) return peak;
    double progress = Math.min(1.0, (double) (step - warmup) / Math.max(1, total - warmup));
    return min + 0.5 * (peak - min) * (1 + Math.cos(Math.PI * progress));
  }
}
