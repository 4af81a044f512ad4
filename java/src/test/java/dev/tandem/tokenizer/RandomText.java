package dev.tandem.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.Random;

/**
 * Seeded generators of awkward text and bytes for the round-trip properties: every script class the
 * pre-tokenizer distinguishes, contractions, all kinds of Unicode whitespace, emoji (surrogate pairs,
 * ZWJ sequences), combining marks, CJK, control characters, and ill-formed UTF-8.
 */
final class RandomText {
  private static final String[] FRAGMENTS = {
    "the", " the", "The", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "''", "don't", "n't",
    " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n", "\u00A0", "\u2003", "\u3000", "\u0085", "\u1680",
    "\u2028", "\u000B", "\u000C", "\u001C", "\u200B", "1", "42", " 2024", "\u0663", "\u216B", "\u00BD",
    "!", "?!", " ...", "--", "\"", "(", ")", "<", ">", "<|", "|>", "$", "€", "\u00A9",
    "é", "e\u0301", "n\u0303", "\u0915\u094D\u0937", "Ä", "ß", "İ", "ǅ", "ʰ",
    "你好", "世界", "日本語", "한국어", "ไทย", "עברית", "العربية", "Привет", "Ελληνικά",
    "😀", "👍🏽", "👨\u200D👩\u200D👧", "🇩🇪", "\uD834\uDD1E", "\uDB40\uDC01",
    "\u0000", "\u0001", "\u001F", "\u007F", "\u0080", "\u009F", "\uFEFF", "\uFFFD", "\uFFFF",
  };

  private final Random random;

  RandomText(long seed) {
    random = new Random(seed);
  }

  Random random() {
    return random;
  }

  /** Text made of fragments and random code points (never an unpaired surrogate). */
  String text(int maxParts) {
    StringBuilder b = new StringBuilder();
    int parts = random.nextInt(maxParts + 1);
    for (int i = 0; i < parts; i++) {
      int kind = random.nextInt(10);
      if (kind < 6) {
        b.append(FRAGMENTS[random.nextInt(FRAGMENTS.length)]);
      } else if (kind < 8) {
        b.append((char) (0x20 + random.nextInt(0x5F))); // printable ASCII
      } else {
        b.appendCodePoint(codePoint());
      }
    }
    return b.toString();
  }

  /** A random valid code point (not a surrogate), biased towards the lower planes. */
  int codePoint() {
    while (true) {
      int max = switch (random.nextInt(4)) {
        case 0 -> 0x80;
        case 1 -> 0x800;
        case 2 -> 0x10000;
        default -> 0x110000;
      };
      int cp = random.nextInt(max);
      if (cp < 0xD800 || cp > 0xDFFF) return cp;
    }
  }

  /** Bytes: random, or text with bytes dropped, inserted or cut (ill-formed UTF-8). */
  byte[] bytes(int maxLength) {
    if (random.nextInt(3) == 0) {
      byte[] b = new byte[random.nextInt(maxLength + 1)];
      random.nextBytes(b);
      return b;
    }
    byte[] b = text(maxLength / 3).getBytes(StandardCharsets.UTF_8);
    int edits = random.nextInt(4);
    for (int e = 0; e < edits && b.length > 0; e++) {
      int at = random.nextInt(b.length);
      switch (random.nextInt(3)) {
        case 0 -> b[at] = (byte) (0x80 + random.nextInt(0x80)); // stray continuation or lead byte
        case 1 -> b = java.util.Arrays.copyOf(b, at); // truncate, maybe mid-character
        default -> {
          byte[] c = new byte[b.length - 1];
          System.arraycopy(b, 0, c, 0, at);
          System.arraycopy(b, at + 1, c, at, b.length - at - 1);
          b = c; // drop a byte
        }
      }
    }
    return b;
  }
}
