package dev.tandem.tokenizer;

/**
 * GPT-2's pre-tokenization, the regex
 * {@code 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+}, written out as a
 * scanner over UTF-8 bytes (several times faster than {@code java.util.regex}, and no String per
 * text). {@code \s} is Unicode White_Space, as in the {@code tokenizers} library; the test
 * {@code Gpt2PreTokenizerTest} checks the scanner against the regex itself.
 *
 * <p>How the alternatives reduce to a scan: a contraction wins when the text has one; otherwise an
 * optional space and then a maximal run of one class (letters, numbers, or "other": neither space,
 * letter nor number). A whitespace run is taken whole when it ends the text; when non-space follows,
 * its last character is left to start the next piece ({@code \s+(?!\S)}), unless the run is that one
 * character ({@code \s+}).
 */
record Gpt2PreTokenizer() implements PreTokenizer {
  static final String PATTERN =
      "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

  private static final int LETTER = 0;
  private static final int NUMBER = 1;
  private static final int OTHER = 2;
  private static final int SPACE = 3;

  /** [128] class of each ASCII character. */
  private static final byte[] ASCII_CLASS = new byte[128];

  static {
    for (int c = 0; c < 128; c++) ASCII_CLASS[c] = (byte) classOfCodePoint(c);
  }

  @Override
  public void split(byte[] b, int from, int to, Sink sink) {
    int i = from;
    while (i < to) {
      int start = i;
      int c0 = b[i];
      if (c0 == '\'' && i + 1 < to) {
        int c1 = b[i + 1];
        int m = 0;
        if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') {
          m = 2;
        } else if (i + 2 < to) {
          int c2 = b[i + 2];
          if ((c1 == 'r' || c1 == 'v') && c2 == 'e' || c1 == 'l' && c2 == 'l') m = 3;
        }
        if (m > 0) {
          sink.piece(b, i, i + m);
          i += m;
          continue;
        }
      }
      int cls = classAt(b, i);
      int j = i + charLength(b[i]);
      if (c0 == ' ' && j < to) {
        int next = classAt(b, j);
        if (next != SPACE) {
          cls = next;
          j += charLength(b[j]);
        }
      }
      if (cls != SPACE) {
        while (j < to && classAt(b, j) == cls) j += charLength(b[j]);
        sink.piece(b, start, j);
        i = j;
        continue;
      }
      int lastStart = i; // start of the last whitespace character of the run
      while (j < to && classAt(b, j) == SPACE) {
        lastStart = j;
        j += charLength(b[j]);
      }
      if (j < to && lastStart > start) j = lastStart;
      sink.piece(b, start, j);
      i = j;
    }
  }

  private static int charLength(byte lead) {
    int b0 = lead & 0xFF;
    return b0 < 0x80 ? 1 : b0 < 0xE0 ? 2 : b0 < 0xF0 ? 3 : 4;
  }

  private static int classAt(byte[] b, int i) {
    byte b0 = b[i];
    if (b0 >= 0) return ASCII_CLASS[b0];
    return classOfCodePoint(Utf8.codePoint(b, i, charLength(b0)));
  }

  static int classOfCodePoint(int cp) {
    if (isWhiteSpace(cp)) return SPACE;
    if (Character.isLetter(cp)) return LETTER;
    int type = Character.getType(cp);
    if (type == Character.DECIMAL_DIGIT_NUMBER || type == Character.LETTER_NUMBER
        || type == Character.OTHER_NUMBER) {
      return NUMBER;
    }
    return OTHER;
  }

  /** Unicode White_Space, the {@code \s} of {@link java.util.regex.Pattern#UNICODE_CHARACTER_CLASS}. */
  static boolean isWhiteSpace(int cp) {
    if (cp >= 0x09 && cp <= 0x0D || cp == 0x20 || cp == 0x85) return true;
    if (cp < 0xA0) return false;
    int type = Character.getType(cp);
    return type == Character.SPACE_SEPARATOR || type == Character.LINE_SEPARATOR
        || type == Character.PARAGRAPH_SEPARATOR;
  }
}
