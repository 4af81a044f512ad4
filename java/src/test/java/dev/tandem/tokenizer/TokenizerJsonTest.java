package dev.tandem.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalInt;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenizerJsonTest {
  @TempDir Path dir;

  /** The 256 byte tokens of a GPT-2 vocabulary, as JSON members {@code "Ġ": 32, ...}. */
  static String byteVocab() {
    return IntStream.range(0, 256)
        .mapToObj(b -> jsonString(String.valueOf(ByteLevel.charOf(b))) + ": " + b)
        .collect(Collectors.joining(", "));
  }

  static String jsonString(String s) {
    return s.equals("\"") ? "\"\\\"\"" : s.equals("\\") ? "\"\\\\\"" : "\"" + s + "\"";
  }

  /** A GPT-2-style file as old Hugging Face files are written: string merges, model without type. */
  static String gpt2Style(boolean addPrefixSpace, String merges) {
    return """
        {
          "version": "1.0",
          "truncation": null,
          "padding": null,
          "added_tokens": [
            {"id": 265, "special": true, "content": "<|endoftext|>", "single_word": false,
             "lstrip": false, "rstrip": false, "normalized": true}
          ],
          "normalizer": null,
          "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": %s, "trim_offsets": true},
          "post_processor": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false},
          "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true},
          "model": {
            "dropout": null, "unk_token": null, "continuing_subword_prefix": "", "end_of_word_suffix": "",
            "fuse_unk": false,
            "vocab": {%s, "he": 256, "ll": 257, "llo": 258, "hello": 259, "Ġw": 260, "or": 261,
                      "Ġwor": 262, "ld": 263, "Ġworld": 264, "<|endoftext|>": 265},
            "merges": %s
          }
        }
        """.formatted(addPrefixSpace, byteVocab(), merges);
  }

  static final String STRING_MERGES =
      "[\"h e\", \"l l\", \"ll o\", \"he llo\", \"Ġ w\", \"o r\", \"Ġw or\", \"l d\", \"Ġwor ld\"]";
  static final String PAIR_MERGES = "[[\"h\", \"e\"], [\"l\", \"l\"], [\"ll\", \"o\"], [\"he\", \"llo\"],"
      + " [\"Ġ\", \"w\"], [\"o\", \"r\"], [\"Ġw\", \"or\"], [\"l\", \"d\"], [\"Ġwor\", \"ld\"]]";

  private Path write(String name, String json) throws IOException {
    return Files.writeString(dir.resolve(name), json);
  }

  @Test
  void loadsHandWrittenGpt2StyleFileWithStringMerges() throws IOException {
    Tokenizer t = TokenizerJson.load(write("old.json", gpt2Style(false, STRING_MERGES)));
    assertThat(t.vocabSize()).isEqualTo(266);
    assertThat(t.encode("hello world")).containsExactly(259, 264);
    assertThat(t.encode("hello world<|endoftext|>")).containsExactly(259, 264, 265);
    assertThat(t.encode("helloworld")).containsExactly(259, 'w', 261, 263); // no "Ġ" inside a word
    assertThat(t.decode(new int[] {259, 264, 265})).isEqualTo("hello world<|endoftext|>");
    assertThat(t.eosId()).hasValue(265);
    Tokenizer pairs = TokenizerJson.load(write("new.json", gpt2Style(false, PAIR_MERGES)));
    assertThat(pairs.encode("hello world hello")).isEqualTo(t.encode("hello world hello"));
  }

  @Test
  void honoursAddPrefixSpace() throws IOException {
    Tokenizer t = TokenizerJson.load(write("prefix.json", gpt2Style(true, STRING_MERGES)));
    assertThat(t.encode("world")).containsExactly(264);
    assertThat(t.encode(" world")).containsExactly(264);
    assertThat(t.encode("world<|endoftext|>world")).containsExactly(264, 265, 264);
  }

  @Test
  void acceptsByteLevelInsideASequenceAndSplitRegexes() throws IOException {
    String sequence = gpt2Style(false, STRING_MERGES).replace(
        "\"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true}",
        "\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"ByteLevel\", "
            + "\"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true}]}");
    assertThat(TokenizerJson.load(write("seq.json", sequence)).encode("hello world")).containsExactly(259, 264);

    // Llama 3's pre-tokenizer: its own regex (digits in groups of 3), then ByteLevel without regex.
    String llama3Regex = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}|"
        + " ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+";
    String split = gpt2Style(false, STRING_MERGES).replace(
        "\"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true}",
        "\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": "
            + "{\"Regex\": \"" + llama3Regex + "\"}, \"behavior\": \"Isolated\", \"invert\": false}, "
            + "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": false}]}");
    ByteLevelBpeTokenizer t = TokenizerJson.loadByteLevelBpe(write("split.json", split));
    assertThat(t.preTokenizer()).isInstanceOf(PreTokenizer.RegexSplit.class);
    assertThat(t.encode("12345")).containsExactly('1', '2', '3', '4', '5');
    assertThat(t.decode(t.encode("It's 12345 HELLO world's!\n\n"))).isEqualTo("It's 12345 HELLO world's!\n\n");
    // save writes the Sequence back, and loading it again gives the same tokenizer
    Path again = dir.resolve("again.json");
    TokenizerJson.save(t, again);
    ByteLevelBpeTokenizer reloaded = TokenizerJson.loadByteLevelBpe(again);
    assertThat(reloaded.preTokenizer()).isEqualTo(t.preTokenizer());
    assertThat(reloaded.encode("It's 12345 hello world")).isEqualTo(t.encode("It's 12345 hello world"));
  }

  @Test
  void unsupportedThingsAreNamed() throws IOException {
    String base = gpt2Style(false, STRING_MERGES);
    Path wordPiece = write("wp.json", base.replace("\"dropout\": null,", "\"type\": \"WordPiece\", \"dropout\": null,"));
    assertThatThrownBy(() -> TokenizerJson.load(wordPiece)).isInstanceOf(IOException.class)
        .hasMessageContaining("wp.json").hasMessageContaining("WordPiece");
    Path metaspace = write("ms.json", base.replace("\"type\": \"ByteLevel\", \"add_prefix_space\": false",
        "\"type\": \"Metaspace\", \"add_prefix_space\": false"));
    assertThatThrownBy(() -> TokenizerJson.load(metaspace)).isInstanceOf(IOException.class)
        .hasMessageContaining("ms.json").hasMessageContaining("Metaspace");
    // NFC is supported (Qwen 2); NFKC is not.
    Path nfkc = write("nfkc.json", base.replace("\"normalizer\": null", "\"normalizer\": {\"type\": \"NFKC\"}"));
    assertThatThrownBy(() -> TokenizerJson.load(nfkc)).hasMessageContaining("normalizer 'NFKC'");
    Path badMerge = write("bad.json", base.replace("\"ll o\"", "\"ll q\""));
    assertThatThrownBy(() -> TokenizerJson.load(badMerge)).hasMessageContaining("merge 2 (ll, q)");
    Path noByte = write("nobyte.json", base.replace("\"Ġ\": 32, ", ""));
    assertThatThrownBy(() -> TokenizerJson.load(noByte)).hasMessageContaining("byte 0x20");
    Path notJson = write("broken.json", "{\"model\": ");
    assertThatThrownBy(() -> TokenizerJson.load(notJson)).hasMessageContaining("broken.json");
  }

  @Test
  void saveThenLoadGivesTheSameTokenizer() throws IOException {
    ByteLevelBpeTokenizer trained = new BpeTrainer(700, List.of("<|endoftext|>", "<|pad|>"))
        .train(List.of(ByteLevelBpeTokenizerTest.resourceText("austen-excerpt.txt")));
    Path file = dir.resolve("sub/tokenizer.json");
    TokenizerJson.save(trained, file);
    TokenizerJson.save(trained, file); // replaces
    try (Stream<Path> files = Files.list(file.getParent())) {
      assertThat(files).containsExactly(file); // no temporary file left
    }
    ByteLevelBpeTokenizer loaded = TokenizerJson.loadByteLevelBpe(file);
    assertThat(loaded.vocabSize()).isEqualTo(trained.vocabSize());
    assertThat(loaded.merges()).isEqualTo(trained.merges());
    assertThat(loaded.specialTokens()).isEqualTo(trained.specialTokens());
    assertThat(loaded.eosId()).isEqualTo(trained.eosId());
    RandomText random = new RandomText(31);
    for (int i = 0; i < 500; i++) {
      byte[] text = random.bytes(80);
      assertThat(loaded.encode(text)).isEqualTo(trained.encode(text));
    }
    for (int id = 0; id < trained.vocabSize(); id++) assertThat(loaded.token(id)).isEqualTo(trained.token(id));

    JsonNode json = new ObjectMapper().readTree(file.toFile());
    assertThat(json.path("model").path("type").asText()).isEqualTo("BPE");
    assertThat(json.path("model").path("merges").get(0).isArray()).isTrue();
    assertThat(json.path("model").path("vocab").size()).isEqualTo(698); // the specials are added tokens only
    assertThat(json.path("added_tokens").get(1).path("id").asInt()).isEqualTo(699);
    assertThat(json.path("pre_tokenizer").path("type").asText()).isEqualTo("ByteLevel");
  }

  @Test
  void gpt2SurvivesSaveAndLoadInTheNewerFormat() throws IOException {
    ByteLevelBpeTokenizer gpt2 = TokenizerJson.loadByteLevelBpe(Gpt2Fixture.unpack(dir));
    Path file = dir.resolve("gpt2-new.json");
    TokenizerJson.save(gpt2, file);
    ByteLevelBpeTokenizer loaded = TokenizerJson.loadByteLevelBpe(file);
    assertThat(loaded.vocabSize()).isEqualTo(50257);
    assertThat(loaded.merges()).isEqualTo(gpt2.merges());
    RandomText random = new RandomText(32);
    for (int i = 0; i < 300; i++) {
      String text = random.text(40);
      assertThat(loaded.encode(text)).isEqualTo(gpt2.encode(text));
    }
  }

  /**
   * Encodings by Hugging Face {@code tokenizers} 0.23.2 (npm package, see the resources README) of
   * texts with every awkward kind of character, with GPT-2 and with the file our trainer writes for
   * this same training run; so this also checks that Hugging Face reads our files as we mean them.
   */
  @Test
  void matchesHuggingFaceTokenizers() throws IOException {
    ByteLevelBpeTokenizer trained = new BpeTrainer(1000, List.of("<|endoftext|>", "<|pad|>"))
        .train(List.of(ByteLevelBpeTokenizerTest.resourceText("austen-excerpt.txt")));
    ByteLevelBpeTokenizer gpt2 = Gpt2Fixture.tokenizer();
    JsonNode cases = new ObjectMapper().readTree(ByteLevelBpeTokenizerTest.resourceText("hf-tokenizers-golden.json"));
    assertThat(cases.size()).isGreaterThan(150);
    for (JsonNode c : cases) {
      String text = c.path("text").asText();
      assertThat(trained.encode(text)).as("trained, %s", ByteLevelBpeTokenizerTest.show(text))
          .containsExactly(ids(c.path("trained")));
      assertThat(gpt2.encode(text)).as("gpt2, %s", ByteLevelBpeTokenizerTest.show(text))
          .containsExactly(ids(c.path("gpt2")));
    }
  }

  private static int[] ids(JsonNode array) {
    int[] out = new int[array.size()];
    for (int i = 0; i < out.length; i++) out[i] = array.get(i).asInt();
    return out;
  }

  @Test
  void callerCanChooseBosAndEos() throws IOException {
    ByteLevelBpeTokenizer t = TokenizerJson.loadByteLevelBpe(write("t.json", gpt2Style(false, STRING_MERGES)));
    assertThat(t.bosId()).hasValue(265);
    ByteLevelBpeTokenizer none = t.withBosEos(OptionalInt.empty(), OptionalInt.of(259));
    assertThat(none.bosId()).isEmpty();
    assertThat(none.eosId()).hasValue(259);
    assertThat(none.encode("hello world")).containsExactly(259, 264);
  }
}
