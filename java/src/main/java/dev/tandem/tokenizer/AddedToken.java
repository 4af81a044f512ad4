package dev.tandem.tokenizer;

/**
 * A token matched literally in the text before pre-tokenization, so it is never split: the special
 * tokens ({@code <|endoftext|>}, {@code <s>}) and any other added token. Its text decodes to itself.
 *
 * @param id its id in the vocabulary
 * @param content the literal text
 * @param special whether it is a special token (Hugging Face's {@code "special": true})
 */
public record AddedToken(int id, String content, boolean special) {
  public AddedToken {
    if (id < 0) throw new IllegalArgumentException("added token id must be >= 0, got " + id);
    if (content == null || content.isEmpty()) {
      throw new IllegalArgumentException("added token " + id + " has empty content");
    }
  }
}
