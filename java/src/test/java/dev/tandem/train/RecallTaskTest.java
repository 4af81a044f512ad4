package dev.tandem.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tandem.tokenizer.Tokenizer;
import dev.tandem.tokenizer.TokenizerJson;
import dev.tandem.train.data.RecallTask;
import dev.tandem.train.data.WordVocabulary;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The recall task's text, its word-level tokenizer, and which positions its context determines. */
class RecallTaskTest {
  static final RecallTask.Options SMALL = new RecallTask.Options(12, 10, 5, 24);
  static final RecallTask.Options VARIED = new RecallTask.Options(12, 10, 3, 6, 24);

  @Test
  void theTextDependsOnlyOnTheSeed() {
    assertThat(RecallTask.generate(SMALL, 7, 20)).isEqualTo(RecallTask.generate(SMALL, 7, 20));
    assertThat(RecallTask.generate(SMALL, 7, 20)).isNotEqualTo(RecallTask.generate(SMALL, 8, 20));
    // A longer run starts with the shorter one's lines.
    assertThat(RecallTask.generate(SMALL, 7, 30).subList(0, 20)).isEqualTo(RecallTask.generate(SMALL, 7, 20));
  }

  @Test
  void aLineIsPairsThenTheSamePairsFromARandomStartWrappingAround() {
    java.util.Set<Integer> counts = new java.util.TreeSet<>();
    for (RecallTask.Options o : List.of(SMALL, VARIED)) {
      for (String line : RecallTask.generate(o, 3, 80)) {
        String[] w = line.split(" ");
        assertThat(w).hasSize(o.length() - 1);  // the newline is the length's last token
        assertThat(w[0]).isEqualTo(RecallTask.MARKER);
        // The pairs end where the first key comes again.
        int pairs = java.util.Arrays.asList(w).subList(1, w.length).stream().distinct().toList().size() / 2;
        assertThat(pairs).isBetween(o.minPairs(), o.maxPairs());
        if (o == VARIED) counts.add(pairs);
        List<String> keys = new ArrayList<>(), values = new ArrayList<>();
        for (int i = 0; i < pairs; i++) {
          keys.add(w[1 + 2 * i]);
          values.add(w[2 + 2 * i]);
          assertThat(w[1 + 2 * i]).matches("k([0-9]|1[01])");
          assertThat(w[2 + 2 * i]).matches("v[0-9]");
        }
        assertThat(keys).doesNotHaveDuplicates();
        assertThat(values).doesNotHaveDuplicates();
        int start = keys.indexOf(w[1 + 2 * pairs]);
        assertThat(start).isNotNegative();
        for (int r = 0; r < o.repeatWords(pairs); r++) {
          int pair = (start + r / 2) % pairs;
          assertThat(w[1 + 2 * pairs + r]).isEqualTo(r % 2 == 0 ? keys.get(pair) : values.get(pair));
        }
      }
    }
    assertThat(counts).containsExactly(3, 4, 5, 6);  // every count of the range occurs
  }

  @Test
  void badOptionsAreRefusedWithTheirName() {
    assertThatThrownBy(() -> new RecallTask.Options(4, 10, 5, 24)).hasMessageContaining("--keys");
    assertThatThrownBy(() -> new RecallTask.Options(10, 4, 5, 24)).hasMessageContaining("--values");
    assertThatThrownBy(() -> new RecallTask.Options(10, 10, 5, 13)).hasMessageContaining("--length");
    assertThatThrownBy(() -> new RecallTask.Options(10, 10, 5, 4, 40)).hasMessageContaining("--max-pairs");
    assertThatThrownBy(() -> new RecallTask.Options(10, 10, 5, 11, 40)).hasMessageContaining("--keys");
    assertThatThrownBy(() -> RecallTask.generate(SMALL, 1, 0)).hasMessageContaining("--sequences");
  }

  @Test
  void determinedPositionsOfHandMadeSequences() {
    // | k1 v1 k2 v2 k3 v3 k2 v2 k3 v3 k1: the first repeat is k2 at 7, so tokens 8.. are determined.
    int[] line = {0, 11, 21, 12, 22, 13, 23, 12, 22, 13, 23, 11};
    boolean[] d = RecallTask.determined(line);
    for (int i = 0; i < line.length; i++) assertThat(d[i]).as("token %d", i).isEqualTo(i >= 8);
    // No repeat: nothing determined; a repeat at the very end: nothing after it.
    assertThat(RecallTask.determined(new int[] {5, 6, 7})).containsOnly(false);
    assertThat(RecallTask.determined(new int[] {5, 6, 5})).containsOnly(false);
    assertThat(RecallTask.determined(new int[] {5, 5, 9})).containsExactly(false, false, true);
    assertThat(RecallTask.determined(new int[0])).isEmpty();
  }

  @Test
  void aDeterminedTokenIsWhatAnInductionHeadPredictsAndTheRestIsNot() throws Exception {
    Tokenizer t = TokenizerJson.parse(WordVocabulary.tokenizerJson(words(SMALL)), "recall");
    for (String line : RecallTask.generate(VARIED, 11, 60)) {
      int[] ids = t.encode(line);
      assertThat(ids).hasSize(VARIED.length() - 1);
      int pairs = (int) java.util.Arrays.stream(ids).distinct().count() / 2;  // the marker and 2 x pairs words
      boolean[] d = RecallTask.determined(ids);
      int first = -1;
      for (int i = 0; i < ids.length; i++) if (d[i] && first < 0) first = i;
      assertThat(first).isEqualTo(2 * pairs + 2);  // after the marker, the pairs and the repeat's first key
      assertThat(RecallTask.firstRepeat(ids)).isEqualTo(2 * pairs + 1);
      assertThat(RecallTask.prompt(ids, 7)).isEqualTo(java.util.Arrays.copyOf(ids, 2 * pairs + 8));
      Map<Integer, Integer> next = new HashMap<>();  // token -> the token after its last occurrence
      for (int i = 1; i < ids.length; i++) {
        Integer predicted = next.get(ids[i - 1]);
        // The one exception: the repeat's first wrap-around (the first pair after the last) follows the first
        // section's last value, which the text showed followed by the repeat's first key: the rule, not the
        // previous occurrence, determines it.
        boolean firstWrap = ids[i - 1] == ids[2 * pairs] && ids[i] == ids[1] && i > 2 * pairs + 1
            && i < 2 * pairs + 2 + 2 * pairs;
        if (d[i] && !firstWrap) assertThat(predicted).as("token %d of %s", i, line).isEqualTo(ids[i]);
        if (!d[i]) assertThat(predicted).as("token %d of %s", i, line).isNull();
        next.put(ids[i - 1], ids[i]);
      }
    }
  }

  @Test
  void theWordVocabularyKeepsEveryWordOneTokenAndEveryTextExact() throws Exception {
    List<String> learnt = WordVocabulary.learn(RecallTask.generate(SMALL, 1, 200), 1000);
    assertThat(learnt).containsExactlyInAnyOrderElementsOf(words(SMALL));
    Tokenizer t = TokenizerJson.parse(WordVocabulary.tokenizerJson(learnt), "recall");
    assertThat(t.vocabSize()).isEqualTo(256 + learnt.size() + 1);
    assertThat(t.eosId()).hasValue(256 + learnt.size());
    for (String w : learnt) assertThat(t.encode(w)).hasSize(1);
    String line = RecallTask.generate(SMALL, 2, 1).getFirst() + "\n" + RecallTask.generate(SMALL, 3, 1).getFirst();
    assertThat(t.encode(line)).hasSize(2 * (SMALL.length() - 1) + 1);
    assertThatThrownBy(() -> RecallTask.prompt(new int[] {1, 2, 3}, 1)).hasMessageContaining("no repeat");
    for (String text : List.of(line, "k99 unknown wörds\t k1\n\n v3  x", "", " ", "|k1")) {
      assertThat(t.decode(t.encode(text))).isEqualTo(text);
    }
    assertThat(t.encode(" k99")).hasSize(4);  // not a word of the vocabulary: its bytes
    // The most frequent words come first; a cap keeps the most frequent.
    assertThat(WordVocabulary.learn(List.of("a bb bb cc cc cc dd"), 2)).containsExactly(" cc", " bb");
    assertThatThrownBy(() -> WordVocabulary.tokenizerJson(List.of(" k1", " k1"))).hasMessageContaining("twice");
  }

  @Test
  void heldOutFilesSplitByFileIntoStreamsWithoutGaps(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
      throws Exception {
    java.nio.file.Path train = dir.resolve("train.txt"), val = dir.resolve("val.txt");
    java.nio.file.Files.writeString(train, String.join("\n", RecallTask.generate(SMALL, 1, 300)) + "\n");
    java.nio.file.Files.writeString(val, String.join("\n", RecallTask.generate(SMALL, 2, 40)) + "\n");
    Tokenizer t = TokenizerJson.parse(WordVocabulary.tokenizerJson(words(SMALL)), "recall");
    dev.tandem.train.data.TextSplit split = dev.tandem.train.data.TextSplit.byFile(List.of(train), List.of(val), 512);
    assertThat(split.segments().size()).isGreaterThan(10);  // cut into many segments, joined again without a gap
    dev.tandem.train.data.TokenData data = dev.tandem.train.data.TokenData.of(split, t, null);
    assertThat(data.train()).isEqualTo(t.encode(java.nio.file.Files.readString(train)));
    assertThat(data.validation()).isEqualTo(t.encode(java.nio.file.Files.readString(val)));
    // So packed sequences of --length tokens each start at a line's marker.
    dev.tandem.train.data.PackedSequences packed = new dev.tandem.train.data.PackedSequences(data.train(),
        SMALL.length(), 0);
    int[] in = new int[SMALL.length()], out = new int[SMALL.length()];
    int marker = t.encode(RecallTask.MARKER)[0];
    for (int i = 0; i < packed.count(); i++) {
      packed.copy(i, in, out, 0);
      assertThat(in[0]).isEqualTo(marker);
    }
    assertThat(split.fingerprint()).isNotEqualTo(dev.tandem.train.data.TextSplit.of(List.of(train, val), 512, 0)
        .fingerprint());
  }

  /** The task's words as they appear in text (after a space). */
  static List<String> words(RecallTask.Options o) {
    List<String> out = new ArrayList<>();
    for (String w : RecallTask.words(o)) out.add(" " + w);
    return out;
  }
}
