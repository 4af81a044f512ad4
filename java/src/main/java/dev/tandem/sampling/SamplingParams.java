package dev.tandem.sampling;

/**
 * How to pick the next token. {@code temperature == 0} is greedy (argmax, lowest id on ties);
 * otherwise logits are divided by the temperature, filtered by top-k ({@code topK == 0}: off) and
 * top-p ({@code topP == 1}: off), and a token is drawn with the counter-based generator keyed by
 * {@code seed}.
 */
public record SamplingParams(float temperature, int topK, float topP, long seed) {
  public SamplingParams {
    if (!(temperature >= 0) || Float.isInfinite(temperature)) {
      throw new IllegalArgumentException("temperature must be a finite number >= 0, got " + temperature);
    }
    if (topK < 0) throw new IllegalArgumentException("top-k must be >= 0 (0 = off), got " + topK);
    if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
  }

  public static SamplingParams greedy() {
    return new SamplingParams(0f, 0, 1f, 0L);
  }

  public boolean isGreedy() {
    return temperature == 0f;
  }

  @Override
  public String toString() {
    return isGreedy() ? "greedy"
        : "temperature=" + temperature + " top-k=" + topK + " top-p=" + topP + " seed=" + seed;
  }
}
