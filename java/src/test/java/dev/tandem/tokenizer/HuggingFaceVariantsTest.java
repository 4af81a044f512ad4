package dev.tandem.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Our tokenizers against Hugging Face {@code tokenizers} (goldens in {@code hf-tokenizers-golden-2.json},
 * see the resources README): Llama 3's and Qwen 2's pre-tokenizer regexes (Qwen 2's with NFC) as tokenizer.json Splits and
 * as GGUF {@code tokenizer.ggml.pre} names, and Llama 2's SentencePiece tokenizer.json as we write it.
 */
class HuggingFaceVariantsTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static JsonNode cases;

  @TempDir static Path dir;

  @BeforeAll
  static void load() throws IOException {
    cases = JSON.readTree(ByteLevelBpeTokenizerTest.resourceText("hf-tokenizers-golden-2.json"));
  }

  private static int[] ids(JsonNode array) {
    int[] out = new int[array.size()];
    for (int i = 0; i < out.length; i++) out[i] = array.get(i).asInt();
    return out;
  }

  /** GPT-2's tokenizer.json with a Split pre-tokenizer before ByteLevel, as the goldens were made. */
  private static Tokenizer gpt2WithSplit(String pattern, boolean ignoreMerges, boolean nfc, String name)
      throws IOException {
    ObjectNode root = (ObjectNode) JSON.readTree(Gpt2Fixture.unpack(Files.createTempDirectory(dir, name)).toFile());
    if (nfc) root.putObject("normalizer").put("type", "NFC");
    ObjectNode seq = root.putObject("pre_tokenizer").put("type", "Sequence");
    ArrayNode list = seq.putArray("pretokenizers");
    ObjectNode split = list.addObject().put("type", "Split");
    split.putObject("pattern").put("Regex", pattern);
    split.put("behavior", "Isolated").put("invert", false);
    list.addObject().put("type", "ByteLevel").put("add_prefix_space", false).put("trim_offsets", true)
        .put("use_regex", false);
    ((ObjectNode) root.get("model")).put("type", "BPE").put("ignore_merges", ignoreMerges);
    Path file = dir.resolve(name + ".json");
    Files.writeString(file, JSON.writeValueAsString(root));
    return TokenizerJson.load(file);
  }

  @Test
  void llama3AndQwen2PreTokenizersMatchHuggingFace() throws IOException { // Qwen 2 with its NFC normalizer
    Tokenizer llama3 = gpt2WithSplit(TokenizerJson.LLAMA3_PATTERN, true, false, "llama3");
    Tokenizer qwen2 = gpt2WithSplit(TokenizerJson.QWEN2_PATTERN, false, true, "qwen2");
    assertThat(cases.size()).isGreaterThan(200);
    for (JsonNode c : cases) {
      String text = c.path("text").asText();
      assertThat(llama3.encode(text)).as("llama3, %s", ByteLevelBpeTokenizerTest.show(text))
          .containsExactly(ids(c.path("llama3")));
      assertThat(qwen2.encode(text)).as("qwen2, %s", ByteLevelBpeTokenizerTest.show(text))
          .containsExactly(ids(c.path("qwen2")));
    }
  }

  @Test
  void smolLmDigitsThenByteLevelMatchesHuggingFaceAndSurvivesSaving() throws IOException {
    ObjectNode root = (ObjectNode) JSON.readTree(Gpt2Fixture.unpack(Files.createTempDirectory(dir, "smollm")).toFile());
    ObjectNode seq = root.putObject("pre_tokenizer").put("type", "Sequence");
    ArrayNode list = seq.putArray("pretokenizers");
    list.addObject().put("type", "Digits").put("individual_digits", true);
    list.addObject().put("type", "ByteLevel").put("add_prefix_space", false).put("trim_offsets", true)
        .put("use_regex", true);
    Path file = dir.resolve("smollm.json");
    Files.writeString(file, JSON.writeValueAsString(root));
    ByteLevelBpeTokenizer smollm = (ByteLevelBpeTokenizer) TokenizerJson.load(file);
    Path again = dir.resolve("smollm-again.json");
    TokenizerJson.save(smollm, again);
    ByteLevelBpeTokenizer reloaded = (ByteLevelBpeTokenizer) TokenizerJson.load(again);
    assertThat(reloaded.preTokenizer()).isEqualTo(smollm.preTokenizer());
    for (JsonNode c : cases) {
      String text = c.path("text").asText();
      assertThat(smollm.encode(text)).as("smollm, %s", ByteLevelBpeTokenizerTest.show(text))
          .containsExactly(ids(c.path("smollm")));
      assertThat(reloaded.encode(text)).containsExactly(ids(c.path("smollm")));
    }
  }

  @Test
  void llamaSpmTokenizerJsonMatchesHuggingFace() throws IOException {
    Path file = dir.resolve("spm.json");
    TokenizerJson.save(VocabFixtures.llamaSpm(), file);
    Tokenizer fromJson = TokenizerJson.load(file);
    Tokenizer fromGguf = VocabFixtures.llamaSpm();
    for (JsonNode c : cases) {
      String text = c.path("text").asText();
      int[] expected = ids(c.path("spm"));
      assertThat(fromJson.encode(text)).as("spm json, %s", ByteLevelBpeTokenizerTest.show(text)).containsExactly(expected);
      assertThat(fromGguf.encode(text)).as("spm gguf, %s", ByteLevelBpeTokenizerTest.show(text)).containsExactly(expected);
      // Hugging Face's decoder strips the one space that encoding put in front; ours keeps it.
      String hf = c.path("spmDecoded").asText();
      String ours = fromJson.decode(expected);
      assertThat(ours.startsWith(" ") ? ours.substring(1) : ours).isEqualTo(hf);
    }
  }
}
