package dev.tandem.model;

/**
 * How a loaded model's weight matrices are held: {@link #STORED} keeps each in its checkpoint format
 * (BF16, F16, Q8_0, Q4_0, Q4_K, Q6_K; mapped from the file) for backends that compute on it, {@link
 * #FP32} converts every weight to fp32 at load (the behaviour before stored formats existed).
 */
public enum WeightPrecision {
  STORED,
  FP32;

  /**
   * What loading does unless asked otherwise: fp32 for now. On the CPU, decoding from stored BF16 is
   * twice as fast, but a block of 8 positions in a stored format costs about 4x one position (fp32: about
   * 2x), so SPEED's verification passes cost more than they save; stored formats are a choice
   * ({@code --dtype stored}) until their block products are cheap.
   */
  public static final WeightPrecision DEFAULT = FP32;

  /** The CLI spelling: {@code stored} or {@code fp32}. */
  public static WeightPrecision parse(String s) {
    return switch (s.toLowerCase(java.util.Locale.ROOT)) {
      case "stored", "as-stored" -> STORED;
      case "fp32", "f32", "float32" -> FP32;
      default -> throw new IllegalArgumentException("--dtype " + s + ": expected stored or fp32");
    };
  }
}
