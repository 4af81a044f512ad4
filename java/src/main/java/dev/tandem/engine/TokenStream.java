package dev.tandem.engine;

/**
 * Receives one request's output as it is generated, on the engine's thread (keep it quick: a slow
 * stream delays every request of the batch).
 */
public interface TokenStream {
  /**
   * One new token, or with {@code token} -1 the last of the text: what was held back when the request
   * ended (an unfinished character, or text kept while it might start a stop string).
   *
   * @param drafted whether the token was a draft the primary accepted (false: the primary's own)
   * @param text    the text this token completes, possibly empty (a character split over tokens,
   *                or text held back while it may start a stop string); "" without a tokenizer
   */
  void onToken(int token, boolean drafted, String text);

  /** The request finished (any reason, cancellation included); called once, after the last token. */
  default void onFinish(GenerationResult result) {}

  TokenStream NONE = (token, drafted, text) -> {};
}
