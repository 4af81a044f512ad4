package dev.tandem.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalInt;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class ByteLevelBpeTokenizerTest {
  static ByteLevelBpeTokenizer gpt2;

  @BeforeAll
  static void loadGpt2() {
    gpt2 = Gpt2Fixture.tokenizer();
  }

  static InputStream resource(String name) {
    InputStream in = ByteLevelBpeTokenizerTest.class.getResourceAsStream(name);
    if (in == null) throw new IllegalStateException("missing test resource " + name);
    return in;
  }

  static String resourceText(String name) throws IOException {
    try (InputStream in = resource(name)) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  @Test
  void gpt2MatchesTheLlamaCppTestVectors() throws IOException {
    List<String> inputs = new ArrayList<>(List.of(resourceText("gpt2-vectors.inp").split("\n__ggml_vocab_test__\n", -1)));
    inputs.removeLast(); // the file ends with a separator
    List<String> outputs = resourceText("gpt2-vectors.out").lines().toList();
    assertThat(inputs).hasSize(outputs.size()).hasSizeGreaterThan(40);
    for (int i = 0; i < inputs.size(); i++) {
      String text = inputs.get(i);
      int[] expected = outputs.get(i).isBlank() ? new int[0]
          : Arrays.stream(outputs.get(i).trim().split(" ")).mapToInt(Integer::parseInt).toArray();
      assertThat(gpt2.encode(text)).as("ids of %s", show(text)).containsExactly(expected);
      assertThat(gpt2.decode(expected)).as("text of case %d", i).isEqualTo(text);
    }
  }

  @Test
  void gpt2KnownEncodingsAndSpecials() {
    assertThat(gpt2.vocabSize()).isEqualTo(50257);
    assertThat(gpt2.mergeCount()).isEqualTo(50000);
    assertThat(gpt2.encode("Hello world")).containsExactly(15496, 995);
    assertThat(gpt2.token(995)).isEqualTo("Ġworld");
    assertThat(gpt2.tokenId("Ġworld")).hasValue(995);
    assertThat(gpt2.tokenId("no such token")).isEmpty();
    assertThat(gpt2.bosId()).hasValue(50256);
    assertThat(gpt2.eosId()).hasValue(50256);
    assertThat(gpt2.specialTokens()).containsExactly("<|endoftext|>");
    assertThat(gpt2.encode("Hi<|endoftext|> there")).containsExactly(17250, 50256, 612);
    assertThat(gpt2.decode(new int[] {17250, 50256, 612})).isEqualTo("Hi<|endoftext|> there");
  }

  @Test
  void unknownIdDecodesToTheReplacementCharacterAndTokenNamesIt() {
    // Decoding never throws (Tokenizer#decodeBytes): an id outside the vocabulary is U+FFFD.
    assertThat(gpt2.decode(new int[] {15496, 50257})).isEqualTo("Hello\uFFFD");
    assertThat(gpt2.decodeBytes(new int[] {-1})).containsExactly(0xEF, 0xBF, 0xBD);
    assertThatThrownBy(() -> gpt2.token(123456)).hasMessageContaining("123456");
  }

  @Test
  void bytesTokenizerIsOneTokenPerByteThenSpecials() {
    ByteLevelBpeTokenizer t = ByteLevelBpeTokenizer.bytes(List.of("<|endoftext|>", "<pad>"));
    assertThat(t.vocabSize()).isEqualTo(258);
    assertThat(t.encode("hé")).containsExactly('h', 0xC3, 0xA9);
    assertThat(t.encode("a<pad>b<|endoftext|>")).containsExactly('a', 257, 'b', 256);
    assertThat(t.specialTokens()).containsExactly("<|endoftext|>", "<pad>");
    assertThat(t.bosId()).hasValue(256);
    assertThat(t.eosId()).hasValue(256);
    assertThat(t.token(' ')).isEqualTo("Ġ");
    assertThat(t.decode(new int[] {0xE2, 0x82})).isEqualTo("\uFFFD");
    assertThatThrownBy(() -> ByteLevelBpeTokenizer.bytes(List.of("<a>", "<a>"))).hasMessageContaining("twice");
  }

  @Test
  void specialTokensAreNeverSplitAndLongestWins() {
    ByteLevelBpeTokenizer t = ByteLevelBpeTokenizer.bytes(List.of("<s>", "<s>x", "</s>"));
    assertThat(t.encode("<s>x<s></s><s")).containsExactly(257, 256, 258, '<', 's');
    ByteLevelBpeTokenizer custom = t.withBosEos(OptionalInt.of(257), OptionalInt.empty());
    assertThat(custom.bosId()).hasValue(257);
    assertThat(custom.eosId()).isEmpty();
    assertThat(custom.encode("<s>x")).containsExactly(257);
    assertThatThrownBy(() -> t.withBosEos(OptionalInt.of(999), OptionalInt.empty())).hasMessageContaining("999");
  }

  @Test
  void illFormedBytesAreTheirOwnPiecesAndRoundTrip() {
    byte[] bytes = {'a', 'b', (byte) 0xFF, 'c', (byte) 0xE2, (byte) 0x82, ' ', 'w', 'o', 'r', 'l', 'd', (byte) 0xC3};
    int[] ids = gpt2.encode(bytes);
    assertThat(gpt2.decodeBytes(ids)).isEqualTo(bytes);
    assertThat(gpt2.decode(ids)).isEqualTo("ab\uFFFDc\uFFFD world\uFFFD");
    // " world" is still one token after the broken sequence
    assertThat(ids).contains(995);
  }

  @Test
  void unpairedSurrogateEncodesAsReplacementCharacter() {
    assertThat(gpt2.decode(gpt2.encode("a\uD800b"))).isEqualTo("a\uFFFDb");
  }

  /** The heap merge (long pieces) is checked against the quadratic reference merge. */
  @Test
  void heapMergeEqualsQuadraticMerge() {
    Random random = new Random(7);
    MergeTable merges = gpt2.mergeTable();
    String alphabet = "abcdefghijklmnopqrstuvwxyz etaoin";
    for (int trial = 0; trial < 2000; trial++) {
      int n = 1 + random.nextInt(trial < 1000 ? 20 : 300);
      int[] sym = new int[n];
      for (int i = 0; i < n; i++) {
        sym[i] = trial % 3 == 0 ? gpt2.tokenId(String.valueOf(ByteLevel.charOf(alphabet.charAt(random.nextInt(alphabet.length()))))).getAsInt()
            : gpt2.tokenId(String.valueOf(ByteLevel.charOf("aeiou".charAt(random.nextInt(trial % 3 == 1 ? 2 : 5))))).getAsInt();
      }
      int[] a = sym.clone();
      int[] b = sym.clone();
      int la = BpeMerge.quadratic(a, n, merges);
      int lb = BpeMerge.withHeap(b, n, merges);
      assertThat(Arrays.copyOf(b, lb)).as("trial %d", trial).containsExactly(Arrays.copyOf(a, la));
    }
  }

  @Test
  void longWordsEncodeQuickly() {
    String word = "a".repeat(100_000);
    long t0 = System.nanoTime();
    int[] ids = gpt2.encode(word);
    long ms = (System.nanoTime() - t0) / 1_000_000;
    assertThat(gpt2.decode(ids)).isEqualTo(word);
    assertThat(ms).as("ms to encode a 100k-letter word").isLessThan(2000);
  }

  static String show(String s) {
    StringBuilder b = new StringBuilder("\"");
    s.codePoints().forEach(c -> {
      if (c < 0x20 || c == 0x7F) b.append(String.format("\\x%02X", c));
      else b.appendCodePoint(c);
    });
    return b.append('"').toString();
  }
}
