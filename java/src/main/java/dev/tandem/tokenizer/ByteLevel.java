package dev.tandem.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * GPT-2's reversible map between bytes and printable characters, which lets byte-level tokens be
 * written as JSON strings: the printable bytes {@code ! .. ~}, {@code ¡ .. ¬} and {@code ® .. ÿ} stand
 * for themselves, the other 68 bytes map in order to U+0100, U+0101, ... (so a space is {@code Ġ},
 * U+0120, and a newline is {@code Ċ}, U+010A).
 */
final class ByteLevel {
  /** [256] the character each byte is written as. */
  private static final char[] BYTE_TO_CHAR = new char[256];
  /** [0x144] the byte a character stands for, or -1. */
  private static final int[] CHAR_TO_BYTE = new int[0x144];

  static {
    boolean[] printable = new boolean[256];
    for (int b = '!'; b <= '~'; b++) printable[b] = true;
    for (int b = 0xA1; b <= 0xAC; b++) printable[b] = true;
    for (int b = 0xAE; b <= 0xFF; b++) printable[b] = true;
    Arrays.fill(CHAR_TO_BYTE, -1);
    int n = 0;
    for (int b = 0; b < 256; b++) {
      char c = printable[b] ? (char) b : (char) (256 + n++);
      BYTE_TO_CHAR[b] = c;
      CHAR_TO_BYTE[c] = b;
    }
  }

  private ByteLevel() {}

  static char charOf(int b) {
    return BYTE_TO_CHAR[b & 0xFF];
  }

  /** The byte-level string of {@code bytes}: one character per byte. */
  static String encode(byte[] bytes) {
    char[] chars = new char[bytes.length];
    for (int i = 0; i < bytes.length; i++) chars[i] = BYTE_TO_CHAR[bytes[i] & 0xFF];
    return new String(chars);
  }

  /**
   * The bytes a byte-level token string stands for. A character outside the byte alphabet (a token
   * someone wrote into the vocabulary as plain text) contributes its own UTF-8 bytes.
   */
  static byte[] decode(String token) {
    byte[] out = new byte[token.length()];
    for (int i = 0; i < token.length(); i++) {
      char c = token.charAt(i);
      int b = c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
      if (b < 0) return decodeMixed(token);
      out[i] = (byte) b;
    }
    return out;
  }

  private static byte[] decodeMixed(String token) {
    var out = new java.io.ByteArrayOutputStream(token.length() + 8);
    for (int i = 0; i < token.length(); ) {
      int cp = token.codePointAt(i);
      int b = cp < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[cp] : -1;
      if (b >= 0) {
        out.write(b);
      } else {
        out.writeBytes(Utf8.encode(new String(Character.toChars(cp))));
      }
      i += Character.charCount(cp);
    }
    return out.toByteArray();
  }

  /** The bytes as a string of chars 0..255, one per byte: a cheap hash key for a byte range. */
  static String latin1(byte[] b, int from, int to) {
    return new String(b, from, to - from, StandardCharsets.ISO_8859_1);
  }
}
