package dev.tandem.tokenizer;

import java.nio.charset.StandardCharsets;

/**
 * UTF-8 with one fixed policy for ill-formed input, shared by encoding (split into valid runs and
 * loose bytes), decoding and streaming decoding, so that all three agree byte for byte.
 *
 * <p>Decoding replaces each <em>maximal subpart</em> of an ill-formed sequence with one U+FFFD (the
 * practice the Unicode standard recommends, chapter 3, "U+FFFD Substitution of Maximal Subparts"; Python
 * does the same). The JDK's own decoder agrees except for encoded surrogates ({@code ED A0..BF xx}),
 * which it replaces with one U+FFFD instead of one per byte; hence our own decoder.
 */
final class Utf8 {
  static final char REPLACEMENT = '\uFFFD';

  private Utf8() {}

  /**
   * What starts at {@code b[i]}, looking no further than {@code end}: a positive length (1..4) when a
   * complete well-formed character starts there; 0 when {@code b[i..end)} is a proper prefix of a
   * well-formed character (more bytes could complete it); {@code -k} when the bytes are ill-formed,
   * {@code k >= 1} being the length of the maximal subpart to replace by one U+FFFD.
   */
  static int sequenceLength(byte[] b, int i, int end) {
    int b0 = b[i] & 0xFF;
    if (b0 < 0x80) return 1;
    int need;
    int lo = 0x80;
    int hi = 0xBF;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      need = 1;
    } else if (b0 == 0xE0) {
      need = 2;
      lo = 0xA0;
    } else if (b0 == 0xED) {
      need = 2;
      hi = 0x9F; // no surrogates
    } else if (b0 >= 0xE1 && b0 <= 0xEF) {
      need = 2;
    } else if (b0 == 0xF0) {
      need = 3;
      lo = 0x90;
    } else if (b0 >= 0xF1 && b0 <= 0xF3) {
      need = 3;
    } else if (b0 == 0xF4) {
      need = 3;
      hi = 0x8F; // nothing above U+10FFFF
    } else {
      return -1; // continuation byte, C0, C1 or F5..FF
    }
    for (int k = 1; k <= need; k++) {
      if (i + k >= end) return 0;
      int c = b[i + k] & 0xFF;
      if (c < lo || c > hi) return -k;
      lo = 0x80;
      hi = 0xBF;
    }
    return need + 1;
  }

  /** The code point of the well-formed sequence of {@code len} bytes at {@code b[i]}. */
  static int codePoint(byte[] b, int i, int len) {
    return switch (len) {
      case 1 -> b[i];
      case 2 -> (b[i] & 0x1F) << 6 | (b[i + 1] & 0x3F);
      case 3 -> (b[i] & 0x0F) << 12 | (b[i + 1] & 0x3F) << 6 | (b[i + 2] & 0x3F);
      default -> (b[i] & 0x07) << 18 | (b[i + 1] & 0x3F) << 12 | (b[i + 2] & 0x3F) << 6 | (b[i + 3] & 0x3F);
    };
  }

  /** Decodes {@code b[from..to)}, replacing ill-formed parts (also a truncated tail) with U+FFFD. */
  static String decode(byte[] b, int from, int to) {
    StringBuilder out = new StringBuilder(to - from);
    appendDecoded(b, from, to, true, out);
    return out.toString();
  }

  /**
   * Appends the decoding of {@code b[from..to)} and returns the end of what was consumed: {@code to},
   * except when {@code finalChunk} is false and the bytes end in an incomplete but so far well-formed
   * character, which is left unconsumed (its start is returned).
   */
  static int appendDecoded(byte[] b, int from, int to, boolean finalChunk, StringBuilder out) {
    int i = from;
    int run = from; // start of the current well-formed run
    while (i < to) {
      if (b[i] >= 0) {
        i++;
        continue;
      }
      int len = sequenceLength(b, i, to);
      if (len > 0) {
        i += len;
        continue;
      }
      if (run < i) out.append(new String(b, run, i - run, StandardCharsets.UTF_8));
      if (len == 0 && !finalChunk) return i;
      out.append(REPLACEMENT);
      i += len == 0 ? to - i : -len;
      run = i;
    }
    if (run < to) out.append(new String(b, run, to - run, StandardCharsets.UTF_8));
    return to;
  }

  /** UTF-8 bytes of {@code s}; an unpaired surrogate becomes U+FFFD (EF BF BD). */
  static byte[] encode(String s) {
    // String.getBytes would turn an unpaired surrogate into '?'; check for that rare case first.
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (Character.isSurrogate(c)) {
        if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
          i++;
          continue;
        }
        return replaceUnpairedSurrogates(s).getBytes(StandardCharsets.UTF_8);
      }
    }
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static String replaceUnpairedSurrogates(String s) {
    StringBuilder out = new StringBuilder(s.length());
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
        out.append(c).append(s.charAt(++i));
      } else {
        out.append(Character.isSurrogate(c) ? REPLACEMENT : c);
      }
    }
    return out.toString();
  }
}
