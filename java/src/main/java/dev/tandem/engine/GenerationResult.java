package dev.tandem.engine;

/**
 * What one request produced.
 *
 * @param tokens       the new tokens (the prompt excluded)
 * @param finishReason why generation stopped
 * @param prefillNanos time to process the prompt and pick the first token
 * @param decodeNanos  time for the remaining tokens
 */
public record GenerationResult(int[] tokens, FinishReason finishReason, long prefillNanos, long decodeNanos) {
  public enum FinishReason {
    /** max tokens reached */
    LENGTH,
    /** the stop token was generated */
    STOP,
    /** the context (KV cache) is full */
    CONTEXT
  }

  /** Tokens per second after the first token (the decode rate), 0 when fewer than two tokens. */
  public double decodeTokensPerSecond() {
    return tokens.length > 1 && decodeNanos > 0 ? (tokens.length - 1) * 1e9 / decodeNanos : 0;
  }
}
