package dev.tandem.tokenizer;

import java.util.Arrays;

/**
 * Turns generated token ids into text as they arrive. A character whose UTF-8 bytes are spread over
 * several tokens is held back until it is complete; ill-formed bytes become U+FFFD exactly as in
 * {@link Tokenizer#decode}. Concatenating everything {@link #accept} returns, followed by
 * {@link #finish}, gives {@code tokenizer.decode(allIds)}.
 *
 * <p>Not thread-safe: one decoder per generated sequence.
 */
public final class StreamingDecoder {
  private final Tokenizer tokenizer;
  private byte[] pending = new byte[16]; // bytes of an incomplete character, at most 3 in practice
  private int pendingLength;

  public StreamingDecoder(Tokenizer tokenizer) {
    this.tokenizer = tokenizer;
  }

  /**
   * Adds one token and returns the text it completes, possibly empty. An id outside the vocabulary
   * is U+FFFD, as in {@link Tokenizer#decode}.
   */
  public String accept(int id) {
    byte[] b = tokenizer.decodeBytes(new int[] {id});
    if (pendingLength + b.length > pending.length) {
      pending = Arrays.copyOf(pending, Math.max(pending.length * 2, pendingLength + b.length));
    }
    System.arraycopy(b, 0, pending, pendingLength, b.length);
    pendingLength += b.length;
    StringBuilder out = new StringBuilder();
    int consumed = Utf8.appendDecoded(pending, 0, pendingLength, false, out);
    System.arraycopy(pending, consumed, pending, 0, pendingLength - consumed);
    pendingLength -= consumed;
    return out.toString();
  }

  /** Ends the sequence: returns the held-back bytes of an unfinished character as U+FFFD, or "". */
  public String finish() {
    String rest = Utf8.decode(pending, 0, pendingLength);
    pendingLength = 0;
    return rest;
  }

  /** Whether bytes of an unfinished character are held back. */
  public boolean hasPending() {
    return pendingLength > 0;
  }
}
