package dev.tandem.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Splits well-formed UTF-8 text into the pieces ("words") that BPE merges never cross. Pieces cover
 * the input exactly, in order, and are never empty.
 */
sealed interface PreTokenizer permits Gpt2PreTokenizer, PreTokenizer.RegexSplit, PreTokenizer.Whole {
  /** Receives the pieces of a split, as ranges of the byte array given to {@link #split}. */
  @FunctionalInterface
  interface Sink {
    void piece(byte[] b, int from, int to);
  }

  /** Splits the well-formed UTF-8 bytes {@code b[from..to)}. */
  void split(byte[] b, int from, int to, Sink sink);

  /**
   * A Hugging Face {@code Split} pre-tokenizer with behavior {@code Isolated}: each match of the
   * pattern is a piece, and so is each stretch of text between matches. Compiled with
   * {@link Pattern#UNICODE_CHARACTER_CLASS} so that {@code \s} means Unicode White_Space, as in the
   * Oniguruma regexes of the {@code tokenizers} library.
   *
   * @param source the pattern as written in tokenizer.json
   * @param literal whether {@code source} is a plain string ({@code {"String": ...}}) rather than a
   *     regex ({@code {"Regex": ...}})
   */
  final class RegexSplit implements PreTokenizer {
    private final String source;
    private final boolean literal;
    private final Pattern pattern;

    RegexSplit(String source, boolean literal) {
      this.source = source;
      this.literal = literal;
      this.pattern = Pattern.compile(literal ? Pattern.quote(source) : source, Pattern.UNICODE_CHARACTER_CLASS);
    }

    String source() {
      return source;
    }

    boolean literal() {
      return literal;
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof RegexSplit r && r.source.equals(source) && r.literal == literal;
    }

    @Override
    public int hashCode() {
      return source.hashCode() * 31 + Boolean.hashCode(literal);
    }

    @Override
    public String toString() {
      return "Split(" + (literal ? "String " : "Regex ") + source + ")";
    }

    @Override
    public void split(byte[] b, int from, int to, Sink sink) {
      String s = new String(b, from, to - from, StandardCharsets.UTF_8);
      Matcher m = pattern.matcher(s);
      int charPos = 0;
      int bytePos = from;
      while (m.find()) {
        if (m.end() == m.start()) continue;
        if (m.start() > charPos) {
          int end = bytePos + utf8Length(s, charPos, m.start());
          sink.piece(b, bytePos, end);
          bytePos = end;
        }
        int end = bytePos + utf8Length(s, m.start(), m.end());
        sink.piece(b, bytePos, end);
        bytePos = end;
        charPos = m.end();
      }
      if (bytePos < to) sink.piece(b, bytePos, to);
    }

    private static int utf8Length(String s, int from, int to) {
      int n = 0;
      for (int i = from; i < to; i++) {
        char c = s.charAt(i);
        n += c < 0x80 ? 1 : c < 0x800 ? 2 : Character.isSurrogate(c) ? 2 : 3; // a pair counts 2 + 2
      }
      return n;
    }
  }

  /** No split: the whole text is one piece ({@code ByteLevel} with {@code use_regex: false} alone). */
  record Whole() implements PreTokenizer {
    @Override
    public void split(byte[] b, int from, int to, Sink sink) {
      sink.piece(b, from, to);
    }
  }
}
