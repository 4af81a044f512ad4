package dev.tandem.tokenizer;

import java.util.List;
import java.util.OptionalInt;

/**
 * Text to token ids and back. Implementations are immutable and safe to share between threads.
 *
 * <p>Encoding is lossless: {@code decodeBytes(encode(bytes))} returns {@code bytes} for every byte
 * sequence, also ill-formed UTF-8 (tokenizers that add a prefix space, as SentencePiece does, or normalize
 * text to NFC, as Qwen 2 does, are the documented exceptions).
 * Special tokens in the text are recognised literally and become their single ids.
 */
public interface Tokenizer {
  /** Token ids of {@code text}, encoded as UTF-8 (an unpaired surrogate is encoded as U+FFFD). */
  int[] encode(String text);

  /** Token ids of any byte sequence; ill-formed UTF-8 is encoded byte by byte. */
  int[] encode(byte[] bytes);

  /**
   * The bytes that {@code ids} stand for. Never throws: an id outside the vocabulary (negative, too
   * large, or unassigned) stands for the bytes of U+FFFD (EF BF BD), the same for every tokenizer
   * kind, so a model whose vocab_size exceeds its tokenizer's still decodes. Special tokens decode
   * to their text.
   */
  byte[] decodeBytes(int[] ids);

  /**
   * The text that {@code ids} stand for; ill-formed UTF-8 becomes U+FFFD (one per maximal ill-formed
   * subpart), and so does each id outside the vocabulary. It never throws.
   */
  default String decode(int[] ids) {
    byte[] bytes = decodeBytes(ids);
    return Utf8.decode(bytes, 0, bytes.length);
  }

  /** Number of ids: every id is in {@code 0 .. vocabSize()-1}. */
  int vocabSize();

  /**
   * The token string of {@code id} as the vocabulary writes it (byte-level form, e.g. {@code "Ġthe"}
   * for " the"; special tokens as their text).
   *
   * @throws IllegalArgumentException for an id that is not in the vocabulary
   */
  String token(int id);

  /** The id of a token string as {@link #token} writes it, if there is one. */
  OptionalInt tokenId(String token);

  /** Beginning-of-sequence token, if the tokenizer has one. */
  OptionalInt bosId();

  /** End-of-sequence token, if the tokenizer has one. */
  OptionalInt eosId();

  /** The special tokens, in id order. */
  List<String> specialTokens();
}
