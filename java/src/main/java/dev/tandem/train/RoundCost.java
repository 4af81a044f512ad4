package dev.tandem.train;

import java.util.Arrays;
import java.util.Locale;

/**
 * What one SPEED round of k drafts costs, in units of the primary's pass over one position: k drafter
 * steps and the verification pass over k + 1 positions. The pass cost is either linear (each position
 * past the first adds {@code rowCost}) or a measured curve: the cost of a pass over 1, 2, 3, ...
 * positions relative to one (what {@code tandem bench decode --blocks 1,2,3,...} prints). On a CPU the
 * curve is not linear: a few extra positions are almost free while the weights stream from memory,
 * later ones cost their arithmetic.
 */
public final class RoundCost {
  private final double draftCost;
  private final double[] passCosts;  // [q - 1]: a pass over q positions, relative to one; non-decreasing
  private final double lastStep;     // what each position past the curve adds

  private RoundCost(double draftCost, double[] passCosts, double lastStep) {
    this.draftCost = draftCost;
    this.passCosts = passCosts;
    this.lastStep = lastStep;
  }

  /** One drafter step costs {@code draftCost}; each verified position past the first adds {@code rowCost}. */
  public static RoundCost linear(double draftCost, double rowCost) {
    requireDraftCost(draftCost);
    if (!(rowCost >= 0 && rowCost <= 1)) {
      throw new IllegalArgumentException("row cost must be in [0, 1], got " + rowCost);
    }
    return new RoundCost(draftCost, new double[] {1}, rowCost);
  }

  /**
   * A measured pass-cost curve: {@code passCosts[q - 1]} is the verification pass over q positions (any
   * unit; divided by the first entry). A longer pass never costs less, so each entry is raised to the
   * largest before it (timing noise); past the curve each position adds the curve's last step.
   */
  public static RoundCost measured(double draftCost, double[] passCosts) {
    requireDraftCost(draftCost);
    if (passCosts.length < 2) {
      throw new IllegalArgumentException("a pass-cost curve needs the costs of at least 1 and 2 positions, got "
          + passCosts.length + " value(s)");
    }
    for (double c : passCosts) {
      if (!(c > 0) || Double.isInfinite(c)) {
        throw new IllegalArgumentException("pass costs must be positive and finite, got " + Arrays.toString(passCosts));
      }
    }
    double[] curve = new double[passCosts.length];
    for (int q = 0; q < curve.length; q++) {
      curve[q] = Math.max(passCosts[q] / passCosts[0], q == 0 ? 1 : curve[q - 1]);
    }
    return new RoundCost(draftCost, curve, curve[curve.length - 1] - curve[curve.length - 2]);
  }

  private static void requireDraftCost(double draftCost) {
    if (!(draftCost > 0 && draftCost <= 1)) {
      throw new IllegalArgumentException("draft cost must be in (0, 1], got " + draftCost);
    }
  }

  /** The verification pass over {@code positions} (>= 1) positions, relative to one. */
  public double pass(int positions) {
    if (positions < 1) throw new IllegalArgumentException("a pass has at least one position, got " + positions);
    if (positions <= passCosts.length) return passCosts[positions - 1];
    return passCosts[passCosts.length - 1] + (positions - passCosts.length) * lastStep;
  }

  /** A round of {@code drafts} drafts: the drafter steps and the verification pass over drafts + 1 positions. */
  public double round(int drafts) {
    return drafts * draftCost + pass(drafts + 1);
  }

  @Override
  public String toString() {
    if (passCosts.length == 1) {
      return String.format(Locale.ROOT, "draft cost %.3f, row cost %.3f", draftCost, lastStep);
    }
    StringBuilder curve = new StringBuilder();
    for (double c : passCosts) curve.append(curve.isEmpty() ? "" : ",").append(String.format(Locale.ROOT, "%.2f", c));
    return String.format(Locale.ROOT, "draft cost %.3f, pass costs %s", draftCost, curve);
  }
}
