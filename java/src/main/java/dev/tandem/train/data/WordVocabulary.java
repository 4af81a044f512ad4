package dev.tandem.train.data;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.tokenizer.ByteLevelBpeTokenizer;
import dev.tandem.tokenizer.Tokenizer;
import dev.tandem.tokenizer.TokenizerJson;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A word-level vocabulary written as a byte-level BPE tokenizer.json that any Hugging Face
 * {@code tokenizers} reader (and ours) loads: the 256 byte tokens, then one token per word, then
 * {@code <|endoftext|>}; no merges, and {@code ignore_merges} so that a piece that is a vocabulary
 * token is taken whole. The pre-tokenizer cuts the text into words with their leading space
 * ({@code Split} on {@value #WORD_PATTERN}, then {@code ByteLevel} without GPT-2's regex, which would cut
 * {@code k17} into {@code k} and {@code 17}). A word in the vocabulary is one token; any other piece
 * falls back to its bytes, so every text still encodes and decodes exactly.
 */
public final class WordVocabulary {
  /** The pieces: a word with the one space before it, or (between them) the other whitespace. */
  public static final String WORD_PATTERN = " ?\\S+";
  public static final String END_OF_TEXT = "<|endoftext|>";
  private static final Pattern WORD = Pattern.compile(WORD_PATTERN, Pattern.UNICODE_CHARACTER_CLASS);
  private static final ObjectMapper JSON = new ObjectMapper();

  private WordVocabulary() {}

  /**
   * The pieces of two bytes or more in {@code texts} (one byte is a byte token already), most frequent
   * first (ties in byte order), at most {@code maxWords}.
   */
  public static List<String> learn(List<String> texts, int maxWords) {
    Map<String, long[]> counts = new HashMap<>();
    for (String text : texts) {
      Matcher m = WORD.matcher(text);
      while (m.find()) {
        String piece = m.group();
        if (piece.getBytes(StandardCharsets.UTF_8).length >= 2) counts.computeIfAbsent(piece, k -> new long[1])[0]++;
      }
    }
    List<String> words = new ArrayList<>(counts.keySet());
    words.sort((a, b) -> {
      int c = Long.compare(counts.get(b)[0], counts.get(a)[0]);
      return c != 0 ? c : java.util.Arrays.compareUnsigned(a.getBytes(StandardCharsets.UTF_8),
          b.getBytes(StandardCharsets.UTF_8));
    });
    return List.copyOf(words.subList(0, Math.min(maxWords, words.size())));
  }

  /** The tokenizer.json text of a vocabulary of these words (each as it appears in text, e.g. " k17"). */
  public static String tokenizerJson(List<String> words) throws IOException {
    ByteLevelBpeTokenizer bytes = ByteLevelBpeTokenizer.bytes(List.of());
    ObjectNode root = (ObjectNode) JSON.readTree(TokenizerJson.toJsonString(bytes));
    ObjectNode model = (ObjectNode) root.get("model");
    model.put("ignore_merges", true);
    ObjectNode vocab = (ObjectNode) model.get("vocab");
    int id = 256;
    for (String w : words) {
      byte[] b = w.getBytes(StandardCharsets.UTF_8);
      if (b.length < 2) throw new IllegalArgumentException("word '" + w + "' is one byte: it is a byte token already");
      StringBuilder s = new StringBuilder();
      for (byte x : b) s.append(bytes.token(x & 0xFF));
      if (vocab.has(s.toString())) throw new IllegalArgumentException("word '" + w + "' is listed twice");
      vocab.put(s.toString(), id++);
    }
    ArrayNode added = root.putArray("added_tokens");
    added.addObject().put("id", id).put("content", END_OF_TEXT).put("single_word", false).put("lstrip", false)
        .put("rstrip", false).put("normalized", false).put("special", true);
    ObjectNode pre = JSON.createObjectNode().put("type", "Sequence");
    ArrayNode steps = pre.putArray("pretokenizers");
    ObjectNode split = steps.addObject().put("type", "Split");
    split.putObject("pattern").put("Regex", WORD_PATTERN);
    split.put("behavior", "Isolated").put("invert", false);
    steps.addObject().put("type", "ByteLevel").put("add_prefix_space", false).put("trim_offsets", true)
        .put("use_regex", false);
    root.set("pre_tokenizer", pre);
    String text = JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root) + "\n";
    Tokenizer check = TokenizerJson.parse(text, "word vocabulary");
    for (String w : words) {
      if (check.encode(w).length != 1) throw new IllegalStateException("word '" + w + "' does not encode to one token");
    }
    return text;
  }
}
