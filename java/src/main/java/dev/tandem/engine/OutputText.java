package dev.tandem.engine;

import dev.tandem.tokenizer.StreamingDecoder;
import dev.tandem.tokenizer.Tokenizer;
import java.util.List;

/**
 * One request's text as its tokens arrive: UTF-8-safe detokenization ({@link StreamingDecoder}) and
 * stop strings that may span tokens. Text that could still be the start of a stop string is held
 * back until the next token settles it, so a client never receives text that is later cut.
 */
final class OutputText {
  private final StreamingDecoder decoder;  // null without a tokenizer
  private final List<String> stops;
  private final int longestStop;
  private final StringBuilder text = new StringBuilder();  // everything decoded (cut at a matched stop)
  private int delivered;                                   // chars of text handed out
  private boolean stopped;

  OutputText(Tokenizer tokenizer, List<String> stops) {
    this.decoder = tokenizer == null ? null : new StreamingDecoder(tokenizer);
    this.stops = stops;
    this.longestStop = stops.stream().mapToInt(String::length).max().orElse(0);
  }

  /** Adds a token; returns the text that may be delivered now. After a stop string matched, always "". */
  String accept(int token) {
    if (decoder == null || stopped) return "";
    int searchFrom = Math.max(0, text.length() - longestStop + 1);
    text.append(decoder.accept(token));
    if (!stops.isEmpty()) {
      int cut = firstStop(searchFrom);
      if (cut >= 0) {
        text.setLength(cut);
        stopped = true;
        return take(cut);
      }
    }
    return take(text.length() - heldBack());
  }

  /** The request ended: the rest of the text (held-back text and an unfinished character). */
  String finish() {
    if (decoder == null) return "";
    if (!stopped) text.append(decoder.finish());
    return take(text.length());
  }

  /** Whether a stop string has matched (the request must stop). */
  boolean stopped() {
    return stopped;
  }

  /** All the text so far (what a non-streaming response returns). */
  String text() {
    return text.toString();
  }

  private String take(int end) {
    if (end <= delivered) return "";
    String out = text.substring(delivered, end);
    delivered = end;
    return out;
  }

  /** The earliest match of any stop string that ends in the new text, or -1. */
  private int firstStop(int from) {
    int best = -1;
    for (String stop : stops) {
      int at = text.indexOf(stop, from);
      if (at >= 0 && (best < 0 || at < best)) best = at;
    }
    return best;
  }

  /** Length of the longest suffix of the undelivered text that is a proper prefix of a stop string. */
  private int heldBack() {
    int max = Math.min(longestStop - 1, text.length() - delivered);
    for (int h = max; h > 0; h--) {
      int start = text.length() - h;
      for (String stop : stops) {
        if (stop.length() > h && startsWithAt(stop, start, h)) return h;
      }
    }
    return 0;
  }

  private boolean startsWithAt(String stop, int start, int length) {
    for (int i = 0; i < length; i++) if (text.charAt(start + i) != stop.charAt(i)) return false;
    return true;
  }
}
