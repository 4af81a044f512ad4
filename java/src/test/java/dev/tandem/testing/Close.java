package dev.tandem.testing;

import java.util.SplittableRandom;

/**
 * The shared closeness assertion: on failure it prints the max absolute and relative error, where
 * it happened, and the first few mismatching pairs.
 */
public final class Close {
  private Close() {}

  /** Every |actual - expected| <= tolerance[i] (per-element bounds). */
  public static void assertWithin(String what, float[] expected, float[] actual, int n, float[] tolerance) {
    assertWithin(what, expected, actual, n, i -> tolerance[i]);
  }

  /** Every |actual - expected| <= absolute + relative * |expected|. */
  public static void assertClose(String what, float[] expected, float[] actual, int n, double absolute,
      double relative) {
    assertWithin(what, expected, actual, n, i -> (float) (absolute + relative * Math.abs(expected[i])));
  }

  /** Bitwise equality (NaNs included). */
  public static void assertBitwise(String what, float[] expected, float[] actual, int n) {
    StringBuilder pairs = new StringBuilder();
    int mismatches = 0;
    for (int i = 0; i < n; i++) {
      if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(actual[i])) {
        if (mismatches++ < 5) pairs.append(String.format("%n  [%d] expected %s, got %s", i, expected[i], actual[i]));
      }
    }
    if (mismatches > 0) {
      throw new AssertionError(what + ": " + mismatches + " of " + n + " elements differ bitwise" + pairs);
    }
  }

  private interface Bound {
    float at(int i);
  }

  private static void assertWithin(String what, float[] expected, float[] actual, int n, Bound bound) {
    double maxAbs = 0, maxRel = 0;
    int worst = -1, failures = 0;
    StringBuilder pairs = new StringBuilder();
    for (int i = 0; i < n; i++) {
      double diff = Math.abs((double) actual[i] - expected[i]);
      boolean bad = !(diff <= bound.at(i)) || Float.isNaN(actual[i]) != Float.isNaN(expected[i]);
      if (diff > maxAbs || Double.isNaN(diff)) {
        maxAbs = diff;
        worst = i;
      }
      if (expected[i] != 0) maxRel = Math.max(maxRel, diff / Math.abs(expected[i]));
      if (bad && failures++ < 5) {
        pairs.append(String.format("%n  [%d] expected %.9g, got %.9g (|diff| %.3g > %.3g)", i, expected[i], actual[i],
            diff, bound.at(i)));
      }
    }
    if (failures > 0) {
      throw new AssertionError(String.format("%s: %d of %d elements out of tolerance; max abs error %.3g at [%d],"
          + " max rel error %.3g%s", what, failures, n, maxAbs, worst, maxRel, pairs));
    }
  }

  /** Uniform floats in [-scale, scale). */
  public static float[] random(SplittableRandom random, int n, double scale) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) a[i] = (float) ((random.nextDouble() * 2 - 1) * scale);
    return a;
  }
}
