package dev.tandem.model;

/**
 * Rotary-embedding angles for positions {@code [0, positions)}: a row per position of width
 * headDim, cos(position * invFreq[i]) in the first half and sin(...) in the second. Computed once
 * on the host in the Hugging Face way (fp32 inverse frequencies and angles) and shared by every
 * backend, so the CPU and GPU rotate by the same numbers.
 */
public final class RopeTable {
  private RopeTable() {}

  /** Inverse frequencies {@code 1 / theta^(2i/headDim)}, i in [0, headDim/2), as fp32. */
  public static float[] inverseFrequencies(int headDim, double theta) {
    float[] inv = new float[headDim / 2];
    for (int i = 0; i < inv.length; i++) {
      inv[i] = (float) (1.0 / Math.pow(theta, (2.0 * i) / headDim));
    }
    return inv;
  }

  /** The table [positions][headDim]. */
  public static float[] build(int positions, int headDim, float[] inverseFrequencies) {
    int half = headDim / 2;
    if (inverseFrequencies.length != half) {
      throw new IllegalArgumentException("expected " + half + " inverse frequencies, got " + inverseFrequencies.length);
    }
    float[] table = new float[positions * headDim];
    for (int p = 0; p < positions; p++) {
      for (int i = 0; i < half; i++) {
        float angle = (float) p * inverseFrequencies[i];
        table[p * headDim + i] = (float) Math.cos(angle);
        table[p * headDim + half + i] = (float) Math.sin(angle);
      }
    }
    return table;
  }
}
