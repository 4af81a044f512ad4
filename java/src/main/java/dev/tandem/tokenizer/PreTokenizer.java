package dev.tandem.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Splits well-formed UTF-8 text into the pieces ("words") that BPE merges never cross. Pieces cover
 * the input exactly, in order, and are never empty.
 */
sealed interface PreTokenizer
    permits Gpt2PreTokenizer, PreTokenizer.RegexSplit, PreTokenizer.Whole, PreTokenizer.Digits, PreTokenizer.Sequence {
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

  /**
   * Hugging Face's {@code Digits}: each digit ({@code individual}) or each run of digits is a piece
   * of its own, the text between them too. Digits are Rust's {@code char::is_numeric}, Unicode
   * categories Nd, Nl and No, which is {@code \p{N}}. SmolLM puts it before ByteLevel's regex.
   */
  record Digits(boolean individual) implements PreTokenizer {
    private static final RegexSplit ONE = new RegexSplit("\\p{N}", false);
    private static final RegexSplit RUN = new RegexSplit("\\p{N}+", false);

    @Override
    public void split(byte[] b, int from, int to, Sink sink) {
      (individual ? ONE : RUN).split(b, from, to, sink);
    }
  }

  /** Pre-tokenizers applied in turn: each piece of one step is split again by the next. */
  record Sequence(java.util.List<PreTokenizer> steps) implements PreTokenizer {
    public Sequence {
      steps = java.util.List.copyOf(steps);
      if (steps.isEmpty()) throw new IllegalArgumentException("an empty pre-tokenizer sequence");
    }

    @Override
    public void split(byte[] b, int from, int to, Sink sink) {
      split(0, b, from, to, sink);
    }

    private void split(int step, byte[] b, int from, int to, Sink sink) {
      if (step == steps.size()) {
        sink.piece(b, from, to);
        return;
      }
      steps.get(step).split(b, from, to, (bytes, f, t) -> split(step + 1, bytes, f, t, sink));
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
