package dev.tandem.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;

/** The vocabulary check that speculative decoding runs before pairing a drafter with a primary. */
class VocabulariesTest {
  @Test
  void sameVocabularyPasses() {
    Vocabularies.requireCompatible(VocabFixtures.gpt2(), Gpt2Fixture.tokenizer()); // GGUF vs tokenizer.json
    Vocabularies.requireCompatible(ByteLevelBpeTokenizer.bytes(List.of("<|endoftext|>")),
        ByteLevelBpeTokenizer.bytes(List.of("<|endoftext|>")));
  }

  @Test
  void theFirstDifferenceIsNamed() {
    assertThatThrownBy(() -> Vocabularies.requireCompatible(VocabFixtures.gpt2(), VocabFixtures.llamaSpm()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("vocabulary size 50257 (primary) vs 32000 (drafter)");
    ByteLevelBpeTokenizer a = ByteLevelBpeTokenizer.bytes(List.of("<|endoftext|>", "<pad>"));
    ByteLevelBpeTokenizer b = ByteLevelBpeTokenizer.bytes(List.of("<|endoftext|>", "<|eot|>"));
    assertThatThrownBy(() -> Vocabularies.requireCompatible(a, b))
        .hasMessageContaining("token 257 is '<pad>' (primary) vs '<|eot|>' (drafter)");
    assertThatThrownBy(() -> Vocabularies.requireCompatible(a, a.withBosEos(OptionalInt.empty(), a.eosId())))
        .hasMessageContaining("BOS");
    assertThat(Vocabularies.firstDifference(a, a)).isEmpty();
  }
}
