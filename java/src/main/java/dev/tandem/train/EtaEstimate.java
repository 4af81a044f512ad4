package dev.tandem.train;

/**
 * The time left in a training stage: the mean duration of the session's updates after its first (the
 * first pays for JIT compilation and first touches of memory: counting it made the first progress line
 * of a 50 s run say 32 minutes), plus the validations still to come at the cost of the last one.
 * Unknown (NaN, shown as "?") until a second update has been timed.
 */
final class EtaEstimate {
  private final long steps;
  private final int valEvery;
  private boolean first = true;
  private long timed;
  private double updateSeconds;
  private double validationSeconds;

  EtaEstimate(long steps, int valEvery) {
    this.steps = steps;
    this.valEvery = valEvery;
  }

  /** One update's duration (validation excluded). */
  void update(double seconds) {
    if (first) {
      first = false;
      return;
    }
    timed++;
    updateSeconds += seconds;
  }

  void validation(double seconds) {
    validationSeconds = seconds;
  }

  /** Seconds left after {@code done} updates. */
  double seconds(long done) {
    if (done >= steps) return 0;
    if (timed == 0) return Double.NaN;
    long validations = steps / valEvery - done / valEvery + (steps % valEvery != 0 ? 1 : 0);
    return (steps - done) * updateSeconds / timed + validations * validationSeconds;
  }
}
