package dev.tandem.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Llama 2's SentencePiece BPE against llama.cpp's test vectors, from GGUF and from tokenizer.json. */
class SentencePieceBpeTokenizerTest {
  @TempDir Path dir;

  private static String show(String s) {
    return s.replace("\n", "\\n").replace("\t", "\\t");
  }

  /** What decoding gives back: the text with the space encoding put in front. */
  private static String decoded(String text) {
    return text.isEmpty() ? "" : " " + text;
  }

  @Test
  void llamaSpmFromGgufMatchesTheLlamaCppTestVectors() throws IOException {
    Tokenizer spm = VocabFixtures.llamaSpm();
    List<VocabFixtures.Case> cases = VocabFixtures.cases("llama-spm");
    assertThat(cases).hasSizeGreaterThan(40);
    for (VocabFixtures.Case c : cases) {
      assertThat(spm.encode(c.text())).as("ids of %s", show(c.text())).containsExactly(c.ids());
      assertThat(spm.decode(c.ids())).as("text of %s", show(c.text())).isEqualTo(decoded(c.text()));
    }
  }

  @Test
  void gpt2FromGgufMatchesTheLlamaCppTestVectors() throws IOException {
    Tokenizer gpt2 = VocabFixtures.gpt2();
    assertThat(gpt2).isInstanceOf(ByteLevelBpeTokenizer.class);
    for (VocabFixtures.Case c : VocabFixtures.cases("gpt2")) {
      assertThat(gpt2.encode(c.text())).as("ids of %s", show(c.text())).containsExactly(c.ids());
      assertThat(gpt2.decode(c.ids())).isEqualTo(c.text());
    }
    assertThat(gpt2.bosId()).hasValue(50256);
    assertThat(gpt2.eosId()).hasValue(50256);
    // The same vocabulary as the tokenizer.json fixture, token for token.
    ByteLevelBpeTokenizer json = Gpt2Fixture.tokenizer();
    assertThat(gpt2.vocabSize()).isEqualTo(json.vocabSize());
    for (int id = 0; id < json.vocabSize(); id += 97) assertThat(gpt2.token(id)).isEqualTo(json.token(id));
    assertThat(gpt2.specialTokens()).isEqualTo(json.specialTokens());
  }

  @Test
  void llamaSpmThroughTokenizerJsonMergesGivesTheSameIds() throws IOException {
    SentencePieceBpeTokenizer spm = (SentencePieceBpeTokenizer) VocabFixtures.llamaSpm();
    Path file = dir.resolve("tokenizer.json");
    TokenizerJson.save(spm, file);
    Tokenizer fromJson = TokenizerJson.load(file);
    assertThat(fromJson).isInstanceOf(SentencePieceBpeTokenizer.class);
    assertThat(((SentencePieceBpeTokenizer) fromJson).mergesByRank()).isTrue();
    for (VocabFixtures.Case c : VocabFixtures.cases("llama-spm")) {
      assertThat(fromJson.encode(c.text())).as("ids of %s", show(c.text())).containsExactly(c.ids());
    }
    String austen = ByteLevelBpeTokenizerTest.resourceText("austen-excerpt.txt").substring(0, 6000);
    assertThat(fromJson.encode(austen)).isEqualTo(spm.encode(austen));
    assertThat(fromJson.specialTokens()).isEqualTo(spm.specialTokens());
    assertThat(fromJson.bosId()).hasValue(1);
    assertThat(fromJson.eosId()).hasValue(2);
    // Saved again, the file is the same.
    Path again = dir.resolve("again.json");
    TokenizerJson.save(fromJson, again);
    assertThat(Files.readString(again)).isEqualTo(Files.readString(file));
  }

  @Test
  void specialTokensAreLiteralAndTheSpacePrefixFollowsThem() {
    Tokenizer spm = VocabFixtures.llamaSpm();
    assertThat(spm.vocabSize()).isEqualTo(32000);
    assertThat(spm.bosId()).hasValue(1);
    assertThat(spm.eosId()).hasValue(2);
    assertThat(spm.specialTokens()).containsExactly("<unk>", "<s>", "</s>");
    int[] hello = spm.encode("Hello world");
    assertThat(hello).containsExactly(15043, 3186);
    // "<s>Hello world": BOS, then the text with its own space prefix (llama.cpp and HF legacy agree).
    assertThat(spm.encode("<s>Hello world")).containsExactly(1, 15043, 3186);
    assertThat(spm.encode("Hello world</s>")).containsExactly(15043, 3186, 2);
    assertThat(spm.decode(new int[] {1, 15043, 3186, 2})).isEqualTo("<s> Hello world</s>");
  }

  @Test
  void byteFallbackCoversCharactersOutsideTheVocabulary() {
    Tokenizer spm = VocabFixtures.llamaSpm();
    String text = "\uD83E\uDD99 llama"; // 🦙 is not a token: its four bytes are
    int[] ids = spm.encode(text);
    assertThat(ids).startsWith(29871, 243, 162, 169, 156);
    assertThat(spm.decode(ids)).isEqualTo(" " + text);
    byte[] illFormed = {(byte) 0xC3, 'a', (byte) 0xFF};
    assertThat(spm.decodeBytes(spm.encode(illFormed))).containsExactly(0x20, 0xC3, 'a', 0xFF);
  }

  @Test
  void decodeNeverThrowsForAnyTokenizerKind() {
    List<Tokenizer> kinds = List.of(VocabFixtures.llamaSpm(), VocabFixtures.gpt2(),
        ByteLevelBpeTokenizer.bytes(List.of("<|endoftext|>")));
    java.util.SplittableRandom random = new java.util.SplittableRandom(7);
    for (Tokenizer t : kinds) {
      for (int trial = 0; trial < 200; trial++) {
        int[] ids = random.ints(random.nextInt(12), -3, t.vocabSize() + 3).toArray();
        String text = t.decode(ids);
        StreamingDecoder stream = new StreamingDecoder(t);
        StringBuilder streamed = new StringBuilder();
        for (int id : ids) streamed.append(stream.accept(id));
        streamed.append(stream.finish());
        assertThat(streamed.toString()).as("%s", t).isEqualTo(text);
      }
      assertThat(t.decode(new int[] {-1, t.vocabSize()})).isEqualTo("\uFFFD\uFFFD");
    }
  }

  @Test
  void ggufRoundTripOfBothKinds() throws IOException {
    for (Tokenizer t : List.of(VocabFixtures.llamaSpm(), VocabFixtures.gpt2())) {
      Path file = dir.resolve("t.gguf");
      dev.tandem.io.gguf.GgufWriter w = new dev.tandem.io.gguf.GgufWriter();
      w.put("general.architecture", dev.tandem.io.gguf.GgufValue.string("llama"));
      GgufTokenizer.write(t, w, null, true);
      w.write(file);
      try (dev.tandem.io.gguf.GgufFile f = dev.tandem.io.gguf.GgufFile.open(file)) {
        Tokenizer back = GgufTokenizer.load(f);
        assertThat(back.getClass()).isEqualTo(t.getClass());
        assertThat(Vocabularies.firstDifference(t, back)).isEmpty();
        String text = "Hello world! It's 2024 \u00e4pfel \uD83E\uDD99";
        assertThat(back.encode(text)).isEqualTo(t.encode(text));
        assertThat(f.bool("tokenizer.ggml.add_bos_token")).hasValue(true);
      }
    }
    assertThat(OptionalInt.empty()).isEmpty();
  }
}
