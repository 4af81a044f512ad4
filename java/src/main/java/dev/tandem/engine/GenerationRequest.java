package dev.tandem.engine;

import dev.tandem.sampling.SamplingParams;

/**
 * One sequence to continue.
 *
 * @param prompt     token ids, at least one
 * @param maxTokens  new tokens to generate at most
 * @param sampling   how to pick tokens
 * @param stopToken  end-of-sequence id that ends generation (emitted, then stop), or -1 for none
 * @param sequenceId the sequence number keying the random generator (so a request samples the same
 *                   tokens alone or in a batch)
 */
public record GenerationRequest(int[] prompt, int maxTokens, SamplingParams sampling, int stopToken, long sequenceId) {
  public GenerationRequest {
    if (prompt == null || prompt.length == 0) throw new IllegalArgumentException("the prompt has no tokens");
    if (maxTokens < 0) throw new IllegalArgumentException("max tokens must be >= 0, got " + maxTokens);
    if (sampling == null) throw new IllegalArgumentException("sampling parameters missing");
  }
}
