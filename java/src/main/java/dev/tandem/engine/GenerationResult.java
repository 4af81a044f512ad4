package dev.tandem.engine;

import dev.tandem.speculative.SpeedMetrics;

/**
 * What one request produced.
 *
 * @param tokens       the new tokens (the prompt excluded)
 * @param text         their text, cut before a matched stop string ("" without a tokenizer)
 * @param finishReason why generation stopped
 * @param promptTokens tokens of the prompt
 * @param metrics      the request's counters and times: rounds, draft and accepted tokens, primary
 *                     and drafter runs, prefill (arrival to first token) and decode (first to last
 *                     token) times
 * @param timing       when it arrived, got its first token and finished, and how often it was preempted
 */
public record GenerationResult(int[] tokens, String text, FinishReason finishReason, int promptTokens,
    SpeedMetrics metrics, Timing timing) {

  /**
   * Times in {@link System#nanoTime()} units.
   *
   * @param preemptions how often the request's cache was dropped and recomputed
   */
  public record Timing(long arrivalNanos, long firstTokenNanos, long finishNanos, int preemptions) {
    /** Time to first token, ns (0 when no token was generated). */
    public long ttftNanos() {
      return firstTokenNanos == 0 ? 0 : firstTokenNanos - arrivalNanos;
    }
  }

  /** Time from arrival to the first token, ns. */
  public long prefillNanos() {
    return metrics.prefillNanos;
  }

  /** Time from the first token to the last, ns. */
  public long decodeNanos() {
    return metrics.decodeNanos;
  }

  /** Tokens per second after the first token (the decode rate), 0 when fewer than two tokens. */
  public double decodeTokensPerSecond() {
    return tokens.length > 1 && decodeNanos() > 0 ? (tokens.length - 1) * 1e9 / decodeNanos() : 0;
  }
}
