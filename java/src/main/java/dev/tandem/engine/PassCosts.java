package dev.tandem.engine;

import java.util.Arrays;
import java.util.Locale;
import java.util.function.IntToLongFunction;

/**
 * The cost model of this machine and backend that the speculation policy reads: seconds for one
 * primary pass as a function of its rows (a verification block costs far less than its rows times a
 * decode step while reading the weights dominates), and seconds for one drafter step as a function
 * of the sequences drafting. Measured at engine start-up ({@link #measure}) or given (tests, stored
 * figures); between measured row counts the cost is interpolated linearly, beyond the last it grows
 * at the last measured slope.
 */
public final class PassCosts {
  private final int[] primaryRows;        // ascending row counts
  private final double[] primarySeconds;  // [primaryRows.length], non-decreasing
  private final int[] drafterRows;
  private final double[] drafterSeconds;

  public PassCosts(int[] primaryRows, double[] primarySeconds, int[] drafterRows, double[] drafterSeconds) {
    if (primaryRows.length == 0 || primaryRows.length != primarySeconds.length
        || drafterRows.length != drafterSeconds.length) {
      throw new IllegalArgumentException("pass costs need as many seconds as row counts, and at least one primary figure");
    }
    this.primaryRows = primaryRows.clone();
    this.primarySeconds = monotone(primarySeconds);
    this.drafterRows = drafterRows.clone();
    this.drafterSeconds = monotone(drafterSeconds);
  }

  /** A cost model for a machine where a pass costs {@code base + perRow * rows} (tests, estimates). */
  public static PassCosts linear(double primaryBase, double primaryPerRow, double drafterBase, double drafterPerRow,
      int maxRows) {
    int[] rows = {1, Math.max(2, maxRows)};
    return new PassCosts(rows, new double[] {primaryBase + primaryPerRow, primaryBase + primaryPerRow * rows[1]},
        rows, new double[] {drafterBase + drafterPerRow, drafterBase + drafterPerRow * rows[1]});
  }

  /**
   * Times passes: {@code primaryPass.applyAsLong(rows)} and {@code drafterStep.applyAsLong(rows)}
   * run one pass of that many rows and return its nanoseconds; every size is warmed up, then timed
   * {@code repeats} times round-robin, and its fastest time kept.
   */
  public static PassCosts measure(int maxPrimaryRows, IntToLongFunction primaryPass, int maxDrafterRows,
      IntToLongFunction drafterStep, int repeats) {
    int[] p = sizes(maxPrimaryRows);
    int[] d = drafterStep == null ? new int[0] : sizes(maxDrafterRows);
    return new PassCosts(p, fastest(p, primaryPass, repeats), d, fastest(d, drafterStep, repeats));
  }

  /** Seconds of one primary pass over {@code rows} rows. */
  public double primary(int rows) {
    return interpolate(primaryRows, primarySeconds, rows);
  }

  /** Seconds of one drafter step over {@code rows} sequences (0 for none). */
  public double drafter(int rows) {
    if (rows <= 0 || drafterRows.length == 0) return 0;
    return interpolate(drafterRows, drafterSeconds, rows);
  }

  private static double interpolate(int[] xs, double[] ys, int x) {
    if (x <= xs[0]) return ys[0] * Math.max(x, 0) / xs[0];
    for (int i = 1; i < xs.length; i++) {
      if (x <= xs[i]) return ys[i - 1] + (ys[i] - ys[i - 1]) * (x - xs[i - 1]) / (xs[i] - xs[i - 1]);
    }
    int last = xs.length - 1;
    double slope = last == 0 ? ys[0] / xs[0] : (ys[last] - ys[last - 1]) / (xs[last] - xs[last - 1]);
    return ys[last] + slope * (x - xs[last]);
  }

  private static int[] sizes(int max) {
    int[] candidates = {1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512};
    int[] out = Arrays.stream(candidates).filter(r -> r <= max).toArray();
    if (out.length == 0 || out[out.length - 1] != max) {
      out = Arrays.copyOf(out, out.length + 1);
      out[out.length - 1] = max;
    }
    return out;
  }

  /**
   * Every size warmed up first (its kernels compiled: the Vector API runs orders of magnitude slower
   * until the JIT has compiled each tile), then timed round-robin, so that a change in the machine's
   * load touches every size alike; the fastest time of each size is kept (other work on the machine only
   * ever adds time).
   */
  private static double[] fastest(int[] sizes, IntToLongFunction pass, int repeats) {
    for (int w = 0; w < 3; w++) for (int size : sizes) pass.applyAsLong(size);
    long[] best = new long[sizes.length];
    Arrays.fill(best, Long.MAX_VALUE);
    for (int r = 0; r < repeats; r++) {
      for (int i = 0; i < sizes.length; i++) best[i] = Math.min(best[i], pass.applyAsLong(sizes[i]));
    }
    double[] out = new double[sizes.length];
    for (int i = 0; i < sizes.length; i++) out[i] = best[i] / 1e9;
    return out;
  }

  private static double[] monotone(double[] seconds) {
    double[] out = seconds.clone();
    for (int i = 1; i < out.length; i++) out[i] = Math.max(out[i], out[i - 1]);
    return out;
  }

  /**
   * The speedup over plain decoding that these costs predict for the work of a batch-1 run: its
   * speculative rounds (each one primary pass over 1 + k rows and k drafter steps, k the mean draft
   * count) and its plain steps, against one one-row pass per decoded token. Tokens after each
   * sequence's first count, as in the measured decode rates.
   */
  public double predictedSpeedup(dev.tandem.speculative.SpeedMetrics m) {
    long tokens = m.emittedTokens - m.sequences;
    if (tokens <= 0) return 0;
    double seconds = Math.max(0, tokens - m.rounds - m.acceptedTokens) * primary(1);
    if (m.rounds > 0) {
      double k = (double) m.draftTokens / m.rounds;
      int rows = (int) Math.round(1 + k);
      seconds += m.rounds * (primary(rows) + k * drafter(1));
    }
    return tokens * primary(1) / seconds;
  }

  /** The primary's pass cost relative to one row, at a few sizes ("1:1.00 4:1.34 8:2.04"). */
  public String describe() {
    StringBuilder b = new StringBuilder("primary pass cost x one row:");
    for (int i = 0; i < primaryRows.length; i++) {
      b.append(String.format(Locale.ROOT, " %d:%.2f", primaryRows[i], primarySeconds[i] / primary(1)));
    }
    if (drafterRows.length > 0) {
      b.append(String.format(Locale.ROOT, "; drafter step %.3f ms, primary pass %.3f ms (one row)",
          drafter(1) * 1e3, primary(1) * 1e3));
    }
    return b.toString();
  }
}
