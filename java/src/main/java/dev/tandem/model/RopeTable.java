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

  /** The inverse frequencies of a model: {@link #inverseFrequencies(int, double)} rescaled by its rope scaling. */
  public static float[] inverseFrequencies(LlamaConfig c) {
    return inverseFrequencies(c.headDim(), c.ropeTheta(), c.ropeScaling());
  }

  /**
   * Inverse frequencies rescaled as Hugging Face's {@code ROPE_INIT_FUNCTIONS} do. Linear: every
   * frequency divided by the factor (the same as dividing positions by it). Llama 3: with wavelength
   * {@code w = 2 pi / f} and {@code L = original_max_position_embeddings}, frequencies with
   * {@code w > L / low_freq_factor} are divided by the factor, those with {@code w < L / high_freq_factor}
   * kept, and in between blended: {@code (1 - s) f / factor + s f} with
   * {@code s = (L / w - low_freq_factor) / (high_freq_factor - low_freq_factor)}.
   */
  public static float[] inverseFrequencies(int headDim, double theta, RopeScaling scaling) {
    float[] inv = inverseFrequencies(headDim, theta);
    switch (scaling.type()) {
      case NONE -> {}
      case LINEAR -> {
        for (int i = 0; i < inv.length; i++) inv[i] = (float) (inv[i] / scaling.factor());
      }
      case LLAMA3 -> {
        double factor = scaling.factor(), low = scaling.lowFreqFactor(), high = scaling.highFreqFactor();
        double original = scaling.originalMaxPositionEmbeddings();
        double lowFreqWavelength = original / low, highFreqWavelength = original / high;
        for (int i = 0; i < inv.length; i++) {
          double f = inv[i];
          double wavelength = 2 * Math.PI / f;
          if (wavelength > lowFreqWavelength) {
            inv[i] = (float) (f / factor);
          } else if (wavelength >= highFreqWavelength) {
            double smooth = (original / wavelength - low) / (high - low);
            inv[i] = (float) ((1 - smooth) * f / factor + smooth * f);
          }
        }
      }
    }
    return inv;
  }

  /** The table [positions][headDim]. */
  public static float[] build(int positions, int headDim, float[] inverseFrequencies) {
    int half = headDim / 2;
    if (inverseFrequencies.length != half) {
      throw new IllegalArgumentException("expected " + half + " inverse frequencies, got " + inverseFrequencies.length);
    }
    if ((long) positions * headDim > Integer.MAX_VALUE - 16) {
      throw new IllegalArgumentException("a RoPE table of " + positions + " positions x " + headDim
          + " exceeds the 2^31 elements of a Java array");
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
