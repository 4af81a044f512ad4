package dev.tandem.tokenizer;

import java.util.Arrays;
import java.util.Optional;

/**
 * Whether two tokenizers share one vocabulary, as speculative decoding needs: a drafter's token id
 * must mean what the same id means to the primary.
 */
public final class Vocabularies {
  private Vocabularies() {}

  /**
   * Throws unless {@code primary} and {@code drafter} have the same vocabulary size, the same token
   * (and the same bytes) at every id, the same special tokens and the same BOS and EOS ids.
   *
   * @throws IllegalArgumentException naming the first difference
   */
  public static void requireCompatible(Tokenizer primary, Tokenizer drafter) {
    firstDifference(primary, drafter).ifPresent(d -> {
      throw new IllegalArgumentException("the drafter's vocabulary differs from the primary's: " + d);
    });
  }

  /** The first difference between the vocabularies of {@code a} (primary) and {@code b} (drafter), if any. */
  public static Optional<String> firstDifference(Tokenizer a, Tokenizer b) {
    if (a.vocabSize() != b.vocabSize()) {
      return Optional.of("vocabulary size " + a.vocabSize() + " (primary) vs " + b.vocabSize() + " (drafter)");
    }
    for (int id = 0; id < a.vocabSize(); id++) {
      String ta = tokenOrNull(a, id), tb = tokenOrNull(b, id);
      if (ta == null ? tb != null : !ta.equals(tb)) {
        return Optional.of("token " + id + " is " + quote(ta) + " (primary) vs " + quote(tb) + " (drafter)");
      }
      byte[] ba = a.decodeBytes(new int[] {id}), bb = b.decodeBytes(new int[] {id});
      if (!Arrays.equals(ba, bb)) {
        return Optional.of("token " + id + " (" + quote(ta) + ") decodes to " + Arrays.toString(ba) + " (primary) vs "
            + Arrays.toString(bb) + " (drafter)");
      }
    }
    if (!a.specialTokens().equals(b.specialTokens())) {
      return Optional.of("special tokens " + a.specialTokens() + " (primary) vs " + b.specialTokens() + " (drafter)");
    }
    if (!a.bosId().equals(b.bosId())) {
      return Optional.of("BOS " + a.bosId() + " (primary) vs " + b.bosId() + " (drafter)");
    }
    if (!a.eosId().equals(b.eosId())) {
      return Optional.of("EOS " + a.eosId() + " (primary) vs " + b.eosId() + " (drafter)");
    }
    return Optional.empty();
  }

  private static String tokenOrNull(Tokenizer t, int id) {
    try {
      return t.token(id);
    } catch (IllegalArgumentException e) {
      return null; // an id the vocabulary leaves unassigned
    }
  }

  private static String quote(String s) {
    return s == null ? "(none)" : "'" + s.replace("\n", "\\n") + "'";
  }
}
