package dev.tandem.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BpeTrainerTest {
  static final List<String> SPECIALS = List.of("<|endoftext|>", "<|pad|>");
  static String austen;
  @TempDir Path dir;

  @BeforeAll
  static void load() throws IOException {
    austen = ByteLevelBpeTokenizerTest.resourceText("austen-excerpt.txt");
  }

  @Test
  void rejectsTooSmallVocabulary() {
    assertThatThrownBy(() -> new BpeTrainer(257, SPECIALS))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("vocabSize 257").hasMessageContaining("at least 258");
    assertThatThrownBy(() -> new BpeTrainer(300, List.of("", "x"))).hasMessageContaining("empty");
    assertThat(new BpeTrainer(258, SPECIALS).train(List.of(austen)).vocabSize()).isEqualTo(258);
  }

  @Test
  void vocabularyLayoutIsBytesThenMergesThenSpecials() {
    ByteLevelBpeTokenizer t = new BpeTrainer(1000, SPECIALS).train(List.of(austen));
    assertThat(t.vocabSize()).isEqualTo(1000);
    for (int b = 0; b < 256; b++) assertThat(t.decodeBytes(new int[] {b})).containsExactly((byte) b);
    assertThat(t.tokenId("<|endoftext|>")).hasValue(998);
    assertThat(t.tokenId("<|pad|>")).hasValue(999);
    assertThat(t.specialTokens()).isEqualTo(SPECIALS);
    assertThat(t.eosId()).hasValue(998);
    assertThat(t.mergeCount()).isEqualTo(1000 - 256 - 2);
    assertThat(t.token(256)).isEqualTo(t.merges().getFirst().replace(" ", ""));
  }

  @Test
  void trainingIsDeterministicAndIndependentOfTextOrder() {
    List<String> paragraphs = new ArrayList<>(List.of(austen.split("\n\n")));
    ByteLevelBpeTokenizer a = new BpeTrainer(1200, SPECIALS).train(paragraphs);
    ByteLevelBpeTokenizer b = new BpeTrainer(1200, SPECIALS).train(paragraphs);
    Collections.shuffle(paragraphs, new Random(3));
    ByteLevelBpeTokenizer c = new BpeTrainer(1200, SPECIALS).train(paragraphs);
    assertThat(b.merges()).isEqualTo(a.merges());
    assertThat(c.merges()).isEqualTo(a.merges());
    assertThat(TokenizerJson.toJson(c)).isEqualTo(TokenizerJson.toJson(a));
    assertThat(c.encode(austen)).isEqualTo(a.encode(austen));
  }

  @Test
  void filesInAnyOrderGiveTheSameTokenizer() throws IOException {
    int half = austen.indexOf("\n\n", austen.length() / 2);
    Path one = Files.writeString(dir.resolve("one.txt"), austen.substring(0, half));
    Path two = dir.resolve("two.txt.gz");
    try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(two))) {
      out.write(austen.substring(half).getBytes(StandardCharsets.UTF_8));
    }
    ByteLevelBpeTokenizer a = new BpeTrainer(800, SPECIALS).train(List.of(one, two));
    ByteLevelBpeTokenizer b = new BpeTrainer(800, SPECIALS).train(List.of(two, one));
    assertThat(b.merges()).isEqualTo(a.merges());
  }

  @Test
  void tiesGoToTheSmallestPairOfByteStrings() {
    // "xy" is the most frequent; "ab" and "cd" tie, and (a, b) is the smaller pair.
    ByteLevelBpeTokenizer t = new BpeTrainer(259, List.of()).train(List.of("cd", "ab", "cd", "ab", "xy", "xy", "xy"));
    assertThat(t.merges()).containsExactly("x y", "a b", "c d");
  }

  @Test
  void trainedTokenizerCompressesEnglish() {
    ByteLevelBpeTokenizer t = new BpeTrainer(2000, SPECIALS).train(List.of(austen));
    int bytes = austen.getBytes(StandardCharsets.UTF_8).length;
    int tokens = t.encode(austen).length;
    assertThat((double) bytes / tokens).as("bytes per token on the training text").isGreaterThan(3.0);
    assertThat(t.decode(t.encode(austen))).isEqualTo(austen);
    // on text it has not seen, still clearly better than bytes
    String unseen = "It is a truth universally acknowledged, that a single man in possession of a good "
        + "fortune, must be in want of a wife.";
    assertThat(t.encode(unseen).length).isLessThan(unseen.length() / 2);
  }

  @Test
  void specialTokensInTrainingTextAreNotLearnt() {
    String text = (austen.substring(0, 5000) + "<|endoftext|>").repeat(5);
    ByteLevelBpeTokenizer t = new BpeTrainer(600, SPECIALS).train(List.of(text));
    assertThat(t.merges()).noneMatch(m -> m.contains("|"));
    assertThat(t.encode("<|endoftext|>")).containsExactly(t.tokenId("<|endoftext|>").getAsInt());
  }

  @Test
  void stopsEarlyWhenTextRunsOutOfPairs() {
    ByteLevelBpeTokenizer t = new BpeTrainer(5000, SPECIALS).train(List.of("hello hello world"));
    assertThat(t.vocabSize()).isLessThan(5000);
    assertThat(t.vocabSize()).isEqualTo(256 + t.mergeCount() + 2);
    assertThat(t.encode("hello")).hasSize(1);
    ByteLevelBpeTokenizer once = new BpeTrainer(5000, List.of()).minPairCount(1).train(List.of("world"));
    assertThat(once.encode("world")).hasSize(1);
  }

  @Test
  void progressCountsUpToTheTotal() {
    List<int[]> calls = new ArrayList<>();
    new BpeTrainer(400, SPECIALS).progress((done, total) -> calls.add(new int[] {done, total})).train(List.of(austen));
    assertThat(calls).hasSize(400 - 256 - 2);
    for (int i = 0; i < calls.size(); i++) assertThat(calls.get(i)).containsExactly(i + 1, 142);
  }

  /** The incremental trainer against a plain one that recounts every pair at every step. */
  @Test
  void equalsTheReferenceTrainerOnRandomText() {
    for (int seed = 0; seed < 30; seed++) {
      RandomText random = new RandomText(seed);
      List<String> texts = new ArrayList<>();
      for (int k = 0; k < 5; k++) {
        texts.add(seed % 2 == 0 ? random.text(200) : lowEntropy(random.random(), 300));
      }
      int vocab = 256 + 2 + 20 + random.random().nextInt(150);
      int minCount = 1 + seed % 3;
      ByteLevelBpeTokenizer fast = new BpeTrainer(vocab, SPECIALS).minPairCount(minCount).train(texts);
      assertThat(fast.merges()).as("seed %d", seed).isEqualTo(referenceMerges(texts, vocab - 2, minCount));
      for (String text : texts) assertThat(fast.decode(fast.encode(text))).isEqualTo(text);
    }
  }

  private static String lowEntropy(Random random, int n) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < n; i++) b.append(" aab\n".charAt(random.nextInt(5)));
    return b.toString();
  }

  /** Plain BPE training; words and symbols as latin-1 strings of their bytes. */
  static List<String> referenceMerges(List<String> texts, int modelVocab, int minCount) {
    Map<String, Long> wordCounts = new HashMap<>();
    ByteLevelBpeTokenizer splitter = ByteLevelBpeTokenizer.bytes(SPECIALS);
    for (String text : texts) {
      splitter.segment(text.getBytes(StandardCharsets.UTF_8), new ByteLevelBpeTokenizer.Pieces() {
        @Override
        public void piece(byte[] b, int from, int to) {
          wordCounts.merge(ByteLevel.latin1(b, from, to), 1L, Long::sum);
        }

        @Override
        public void added(int id) {}
      });
    }
    List<List<String>> words = new ArrayList<>();
    List<Long> counts = new ArrayList<>();
    for (var e : wordCounts.entrySet()) {
      List<String> symbols = new ArrayList<>();
      for (char c : e.getKey().toCharArray()) symbols.add(String.valueOf(c));
      words.add(symbols);
      counts.add(e.getValue());
    }
    Set<String> vocab = new HashSet<>();
    for (int b = 0; b < 256; b++) vocab.add(String.valueOf((char) b));
    List<String> merges = new ArrayList<>();
    while (vocab.size() < modelVocab) {
      Map<List<String>, Long> pairs = new HashMap<>();
      for (int w = 0; w < words.size(); w++) {
        List<String> s = words.get(w);
        for (int i = 0; i + 1 < s.size(); i++) pairs.merge(List.of(s.get(i), s.get(i + 1)), counts.get(w), Long::sum);
      }
      List<String> best = null;
      long bestCount = 0;
      for (var e : pairs.entrySet()) {
        List<String> p = e.getKey();
        long c = e.getValue();
        if (c > bestCount || c == bestCount && (p.get(0).compareTo(best.get(0)) < 0
            || p.get(0).equals(best.get(0)) && p.get(1).compareTo(best.get(1)) < 0)) {
          best = p;
          bestCount = c;
        }
      }
      if (best == null || bestCount < minCount) break;
      String a = best.get(0);
      String b = best.get(1);
      vocab.add(a + b);
      merges.add(ByteLevel.encode(a.getBytes(StandardCharsets.ISO_8859_1)) + " "
          + ByteLevel.encode(b.getBytes(StandardCharsets.ISO_8859_1)));
      for (List<String> s : words) {
        for (int i = 0; i + 1 < s.size(); i++) {
          if (s.get(i).equals(a) && s.get(i + 1).equals(b)) {
            s.set(i, a + b);
            s.remove(i + 1);
          }
        }
      }
    }
    return merges;
  }
}
