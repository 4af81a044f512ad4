package dev.tandem.engine;

import dev.tandem.sampling.SamplingParams;
import java.util.List;

/**
 * One sequence to continue: what a client submits to the {@link Engine}.
 *
 * @param prompt      token ids, at least one
 * @param maxTokens   new tokens to generate at most (0: finish at once, nothing generated)
 * @param sampling    how to pick tokens (its seed keys the random generator)
 * @param stopTokens  ids that end generation (the id is emitted, then the request stops)
 * @param stopStrings texts that end generation (the text is cut before the match; needs a tokenizer)
 * @param speculate   whether the speculation policy may give this request drafts
 * @param sequenceId  the sequence number keying the random generator with the seed, so a request
 *                    samples the same tokens whatever runs beside it (0 unless a caller needs
 *                    several sequences of one seed to differ)
 */
public record GenerationRequest(int[] prompt, int maxTokens, SamplingParams sampling, int[] stopTokens,
    List<String> stopStrings, boolean speculate, long sequenceId) {
  public GenerationRequest {
    if (prompt == null || prompt.length == 0) throw new IllegalArgumentException("the prompt has no tokens");
    if (maxTokens < 0) throw new IllegalArgumentException("max tokens must be >= 0, got " + maxTokens);
    if (sampling == null) throw new IllegalArgumentException("sampling parameters missing");
    prompt = prompt.clone();
    stopTokens = stopTokens == null ? new int[0] : stopTokens.clone();
    stopStrings = stopStrings == null ? List.of() : List.copyOf(stopStrings);
    for (String s : stopStrings) {
      if (s.isEmpty()) throw new IllegalArgumentException("a stop string must not be empty");
    }
  }

  /** A request with one stop token (or -1 for none), no stop strings, speculation allowed. */
  public GenerationRequest(int[] prompt, int maxTokens, SamplingParams sampling, int stopToken, long sequenceId) {
    this(prompt, maxTokens, sampling, stopToken < 0 ? new int[0] : new int[] {stopToken}, List.of(), true, sequenceId);
  }

  public boolean isStopToken(int token) {
    for (int t : stopTokens) if (t == token) return true;
    return false;
  }

  /** The same request under another random-generator sequence number. */
  public GenerationRequest withSequenceId(long id) {
    return new GenerationRequest(prompt, maxTokens, sampling, stopTokens, stopStrings, speculate, id);
  }

  /** The same request with speculation allowed or not. */
  public GenerationRequest withSpeculation(boolean on) {
    return new GenerationRequest(prompt, maxTokens, sampling, stopTokens, stopStrings, on, sequenceId);
  }

  /** The same request with another token limit. */
  public GenerationRequest withMaxTokens(int max) {
    return new GenerationRequest(prompt, max, sampling, stopTokens, stopStrings, speculate, sequenceId);
  }
}
