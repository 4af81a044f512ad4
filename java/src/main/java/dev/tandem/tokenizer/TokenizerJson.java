package dev.tandem.tokenizer;

import dev.tandem.util.AtomicFiles;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads and writes byte-level BPE tokenizers in the Hugging Face {@code tokenizers} format
 * (tokenizer.json).
 *
 * <p>Reading accepts: model {@code BPE} (or no type with {@code merges} present, as in old files),
 * merges as {@code "a b"} strings or as {@code ["a", "b"]} pairs; pre-tokenizer {@code ByteLevel}
 * (its {@code add_prefix_space} and {@code use_regex} honoured), alone or in a {@code Sequence} after
 * {@code Split} regexes with behavior {@code Isolated} (Llama 3, Qwen 2); decoder {@code ByteLevel} or
 * none; no normalizer, or NFC (Qwen 2). The post-processor is ignored (callers add BOS themselves); so are the
 * {@code lstrip}/{@code rstrip}/{@code single_word} options of added tokens. Anything else is an
 * IOException naming the file and what is not supported.
 *
 * <p>BOS and EOS are not part of tokenizer.json: they are guessed from the names of the added tokens
 * (see {@link ByteLevelBpeTokenizer#withBosEos} to set them).
 */
public final class TokenizerJson {
  private static final ObjectMapper JSON = new ObjectMapper();

  private TokenizerJson() {}

  /** The pre-tokenizer regex of Llama 3 (tokenizer.json Split; GGUF {@code tokenizer.ggml.pre = "llama-bpe"}). */
  public static final String LLAMA3_PATTERN = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+"
      + "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  /** The pre-tokenizer regex of Qwen 2 (GGUF {@code tokenizer.ggml.pre = "qwen2"}): Llama 3's with single digits. */
  public static final String QWEN2_PATTERN = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+"
      + "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

  /**
   * Loads a tokenizer.json: byte-level BPE (GPT-2, Llama 3, Qwen 2, SmolLM) or SentencePiece-style
   * BPE with byte fallback (Llama 2, TinyLlama, Mistral), told apart by {@code byte_fallback}, a
   * {@code Prepend} normalizer or a {@code Metaspace} pre-tokenizer.
   */
  public static Tokenizer load(Path file) throws IOException {
    return parse(readJson(file), file.toString());
  }

  /** Parses the text of a tokenizer.json (e.g. GGUF's {@code tokenizer.huggingface.json}); {@code source} names it in errors. */
  public static Tokenizer parse(String json, String source) throws IOException {
    JsonNode root;
    try {
      root = JSON.readTree(json);
    } catch (JsonProcessingException e) {
      throw new IOException(source + ": not valid JSON: " + dev.tandem.util.JsonErrors.describe(e), e);
    }
    if (root == null || !root.isObject()) throw new IOException(source + ": not a JSON object");
    return parse(root, source);
  }

  private static Tokenizer parse(JsonNode root, String source) throws IOException {
    Path name = Path.of(source);
    try {
      return isSentencePiece(root) ? SentencePieceJson.parse(root, source) : parse(root, name);
    } catch (IllegalArgumentException e) {
      throw new IOException(source + ": " + e.getMessage(), e);
    }
  }

  static boolean isSentencePiece(JsonNode root) {
    if (root.path("model").path("byte_fallback").asBoolean(false)) return true;
    if (root.path("pre_tokenizer").path("type").asText().equals("Metaspace")) return true;
    JsonNode normalizer = root.path("normalizer");
    List<JsonNode> steps = new ArrayList<>();
    if (normalizer.path("type").asText().equals("Sequence")) normalizer.path("normalizers").forEach(steps::add);
    else steps.add(normalizer);
    return steps.stream().anyMatch(n -> n.path("type").asText().equals("Prepend")
        || n.path("type").asText().equals("Replace") && n.path("content").asText().equals("\u2581"));
  }

  private static JsonNode readJson(Path file) throws IOException {
    JsonNode root;
    try {
      root = JSON.readTree(file.toFile());
    } catch (JsonProcessingException e) {
      throw new IOException(file + ": not valid JSON: " + dev.tandem.util.JsonErrors.describe(e), e);
    }
    if (root == null || !root.isObject()) throw new IOException(file + ": not a JSON object");
    return root;
  }

  /** Writes any tokenizer this package makes (byte-level or SentencePiece BPE) as tokenizer.json, atomically. */
  public static void save(Tokenizer tokenizer, Path file) throws IOException {
    switch (tokenizer) {
      case ByteLevelBpeTokenizer b -> save(b, file);
      case SentencePieceBpeTokenizer s -> write(SentencePieceJson.toJson(s), file);
      default -> throw new IllegalArgumentException("cannot save a " + tokenizer.getClass().getSimpleName());
    }
  }

  /** The tokenizer.json text of any tokenizer this package makes. */
  public static String toJsonString(Tokenizer tokenizer) throws IOException {
    ObjectNode root = switch (tokenizer) {
      case ByteLevelBpeTokenizer b -> toJson(b);
      case SentencePieceBpeTokenizer s -> SentencePieceJson.toJson(s);
      default -> throw new IllegalArgumentException("cannot save a " + tokenizer.getClass().getSimpleName());
    };
    return new String(JSON.writer(printer()).writeValueAsBytes(root), java.nio.charset.StandardCharsets.UTF_8);
  }

  private static DefaultPrettyPrinter printer() {
    return new DefaultPrettyPrinter()
        .withSeparators(Separators.createDefaultInstance().withObjectFieldValueSpacing(Separators.Spacing.AFTER))
        .withObjectIndenter(new DefaultIndenter("  ", "\n"))
        .withArrayIndenter(new DefaultIndenter("  ", "\n"));
  }

  private static void write(ObjectNode root, Path file) throws IOException {
    AtomicFiles.write(file, JSON.writer(printer()).writeValueAsBytes(root));
  }

  /** Loads a tokenizer.json that holds a byte-level BPE tokenizer (the only kind supported so far). */
  public static ByteLevelBpeTokenizer loadByteLevelBpe(Path file) throws IOException {
    JsonNode root;
    try {
      root = JSON.readTree(file.toFile());
    } catch (JsonProcessingException e) {
      throw new IOException(file + ": not valid JSON: " + dev.tandem.util.JsonErrors.describe(e), e);
    }
    if (root == null || !root.isObject()) throw new IOException(file + ": not a JSON object");
    try {
      return parse(root, file);
    } catch (IllegalArgumentException e) {
      throw new IOException(file + ": " + e.getMessage(), e);
    }
  }

  private static ByteLevelBpeTokenizer parse(JsonNode root, Path file) throws IOException {
    JsonNode model = root.path("model");
    if (!model.isObject()) throw new IOException(file + ": no \"model\" object");
    String type = model.path("type").asText(model.has("merges") ? "BPE" : "");
    if (!type.equals("BPE")) {
      throw new IOException(file + ": model type '" + type + "' is not supported (only BPE)");
    }
    for (String field : List.of("continuing_subword_prefix", "end_of_word_suffix")) {
      if (!model.path(field).asText("").isEmpty()) {
        throw new IOException(file + ": model." + field + " '" + model.path(field).asText()
            + "' is not supported (byte-level BPE has none)");
      }
    }
    if (model.path("byte_fallback").asBoolean(false)) {
      throw new IOException(file + ": model.byte_fallback is not supported (that is SentencePiece-style"
          + " BPE, not byte-level)");
    }
    JsonNode normalizer = root.path("normalizer");
    boolean nfc = normalizer.path("type").asText().equals("NFC");
    if (!nfc && !normalizer.isMissingNode() && !normalizer.isNull() && !isEmptySequence(normalizer, "normalizers")) {
      throw new IOException(file + ": normalizer '" + normalizer.path("type").asText()
          + "' is not supported (only NFC, or none)");
    }
    JsonNode decoder = root.path("decoder");
    if (!decoder.isMissingNode() && !decoder.isNull() && !decoder.path("type").asText().equals("ByteLevel")) {
      throw new IOException(file + ": decoder '" + decoder.path("type").asText()
          + "' is not supported (only ByteLevel)");
    }

    // Pre-tokenizer: [Split...] then ByteLevel.
    List<JsonNode> steps = new ArrayList<>();
    JsonNode pre = root.path("pre_tokenizer");
    if (pre.path("type").asText().equals("Sequence")) {
      pre.path("pretokenizers").forEach(steps::add);
    } else if (pre.isObject()) {
      steps.add(pre);
    }
    if (steps.isEmpty() || !steps.getLast().path("type").asText().equals("ByteLevel")) {
      throw new IOException(file + ": pre_tokenizer " + describe(pre)
          + " is not supported (byte-level BPE needs ByteLevel, alone or last in a Sequence)");
    }
    JsonNode byteLevel = steps.getLast();
    boolean addPrefixSpace = byteLevel.path("add_prefix_space").asBoolean(false);
    boolean useRegex = byteLevel.path("use_regex").asBoolean(true);
    List<PreTokenizer> splits = new ArrayList<>();
    for (JsonNode step : steps.subList(0, steps.size() - 1)) {
      splits.add(parseSplit(step, file));
    }
    if (useRegex) splits.add(new Gpt2PreTokenizer());
    PreTokenizer preTokenizer = splits.isEmpty() ? new PreTokenizer.Whole()
        : splits.size() == 1 ? splits.getFirst() : new PreTokenizer.Sequence(splits);

    // Vocabulary and merges.
    JsonNode vocab = model.path("vocab");
    if (!vocab.isObject()) throw new IOException(file + ": model.vocab is not an object");
    Map<String, Integer> idOf = new HashMap<>(vocab.size() * 2);
    int size = 0;
    for (Map.Entry<String, JsonNode> e : vocab.properties()) {
      if (!e.getValue().canConvertToInt() || e.getValue().asInt() < 0) {
        throw new IOException(file + ": vocab entry '" + e.getKey() + "' has no valid id: " + e.getValue());
      }
      idOf.put(e.getKey(), e.getValue().asInt());
      size = Math.max(size, e.getValue().asInt() + 1);
    }
    String[] modelTokens = new String[size];
    for (Map.Entry<String, Integer> e : idOf.entrySet()) {
      if (modelTokens[e.getValue()] != null) {
        throw new IOException(file + ": vocab ids " + e.getValue() + " is used by both '"
            + modelTokens[e.getValue()] + "' and '" + e.getKey() + "'");
      }
      modelTokens[e.getValue()] = e.getKey();
    }
    for (int b = 0; b < 256; b++) {
      if (!idOf.containsKey(String.valueOf(ByteLevel.charOf(b)))) {
        throw new IOException(String.format("%s: the vocabulary has no token for byte 0x%02X ('%c');"
            + " byte-level BPE needs all 256", file, b, ByteLevel.charOf(b)));
      }
    }
    JsonNode mergesNode = model.path("merges");
    if (!mergesNode.isArray()) throw new IOException(file + ": model.merges is not an array");
    int[][] merges = new int[mergesNode.size()][];
    for (int r = 0; r < merges.length; r++) {
      JsonNode m = mergesNode.get(r);
      String left;
      String right;
      if (m.isTextual()) {
        String s = m.asText();
        int space = s.indexOf(' ');
        if (space < 0 || s.indexOf(' ', space + 1) >= 0) {
          throw new IOException(file + ": merge " + r + " '" + s + "' is not two tokens separated by a space");
        }
        left = s.substring(0, space);
        right = s.substring(space + 1);
      } else if (m.isArray() && m.size() == 2 && m.get(0).isTextual() && m.get(1).isTextual()) {
        left = m.get(0).asText();
        right = m.get(1).asText();
      } else {
        throw new IOException(file + ": merge " + r + " is neither \"a b\" nor [\"a\", \"b\"]: " + m);
      }
      Integer a = idOf.get(left);
      Integer b = idOf.get(right);
      Integer z = idOf.get(left + right);
      if (a == null || b == null || z == null) {
        throw new IOException(file + ": merge " + r + " (" + left + ", " + right + "): '"
            + (a == null ? left : b == null ? right : left + right) + "' is not in the vocabulary");
      }
      merges[r] = new int[] {a, b, z};
    }

    List<AddedToken> added = new ArrayList<>();
    for (JsonNode t : root.path("added_tokens")) {
      if (!t.path("id").canConvertToInt() || !t.path("content").isTextual()) {
        throw new IOException(file + ": added token without id or content: " + t);
      }
      added.add(new AddedToken(t.path("id").asInt(), t.path("content").asText(),
          t.path("special").asBoolean(false)));
    }
    return new ByteLevelBpeTokenizer(modelTokens, merges, added, preTokenizer, addPrefixSpace,
        model.path("ignore_merges").asBoolean(false)).withNfc(nfc);
  }

  private static PreTokenizer parseSplit(JsonNode step, Path file) throws IOException {
    String type = step.path("type").asText();
    if (type.equals("Digits")) return new PreTokenizer.Digits(step.path("individual_digits").asBoolean(false));
    if (!type.equals("Split")) {
      throw new IOException(file + ": pre-tokenizer '" + type + "' is not supported before ByteLevel"
          + " (only Split and Digits)");
    }
    String behavior = step.path("behavior").asText();
    if (!behavior.equals("Isolated") || step.path("invert").asBoolean(false)) {
      throw new IOException(file + ": Split with behavior '" + behavior + "'"
          + (step.path("invert").asBoolean(false) ? " and invert" : "") + " is not supported (only Isolated)");
    }
    JsonNode pattern = step.path("pattern");
    try {
      if (pattern.path("Regex").isTextual()) return new PreTokenizer.RegexSplit(pattern.get("Regex").asText(), false);
      if (pattern.path("String").isTextual()) return new PreTokenizer.RegexSplit(pattern.get("String").asText(), true);
    } catch (java.util.regex.PatternSyntaxException e) {
      throw new IOException(file + ": Split regex is not supported by java.util.regex: " + e.getMessage(), e);
    }
    throw new IOException(file + ": Split pattern " + pattern + " is neither Regex nor String");
  }

  private static boolean isEmptySequence(JsonNode node, String listField) {
    return node.path("type").asText().equals("Sequence") && node.path(listField).isEmpty();
  }

  private static String describe(JsonNode pre) {
    if (pre.isMissingNode() || pre.isNull()) return "null";
    if (pre.path("type").asText().equals("Sequence")) {
      List<String> types = new ArrayList<>();
      pre.path("pretokenizers").forEach(p -> types.add(p.path("type").asText()));
      return "Sequence" + types;
    }
    return "'" + pre.path("type").asText() + "'";
  }

  /** Writes {@code tokenizer} to {@code file} atomically (a temporary file, then a move). */
  public static void save(ByteLevelBpeTokenizer tokenizer, Path file) throws IOException {
    write(toJson(tokenizer), file);
  }

  static ObjectNode toJson(ByteLevelBpeTokenizer t) {
    JsonNodeFactory f = JsonNodeFactory.instance;
    ObjectNode root = f.objectNode();
    root.put("version", "1.0");
    root.putNull("truncation");
    root.putNull("padding");
    ArrayNode added = root.putArray("added_tokens");
    for (AddedToken a : t.addedTokens()) {
      added.addObject()
          .put("id", a.id())
          .put("content", a.content())
          .put("single_word", false)
          .put("lstrip", false)
          .put("rstrip", false)
          .put("normalized", false)
          .put("special", a.special());
    }
    if (t.nfc()) root.putObject("normalizer").put("type", "NFC");
    else root.putNull("normalizer");
    List<PreTokenizer> steps = t.preTokenizer() instanceof PreTokenizer.Sequence s ? new ArrayList<>(s.steps())
        : new ArrayList<>(List.of(t.preTokenizer()));
    boolean useRegex = steps.getLast() instanceof Gpt2PreTokenizer;
    if (useRegex || steps.getLast() instanceof PreTokenizer.Whole) steps.removeLast();
    ObjectNode byteLevel = f.objectNode()
        .put("type", "ByteLevel")
        .put("add_prefix_space", t.addPrefixSpace())
        .put("trim_offsets", true)
        .put("use_regex", useRegex);
    if (steps.isEmpty()) {
      root.set("pre_tokenizer", byteLevel);
    } else {
      ObjectNode seq = root.putObject("pre_tokenizer").put("type", "Sequence");
      ArrayNode list = seq.putArray("pretokenizers");
      for (PreTokenizer step : steps) {
        switch (step) {
          case PreTokenizer.RegexSplit s -> {
            ObjectNode split = list.addObject().put("type", "Split");
            split.putObject("pattern").put(s.literal() ? "String" : "Regex", s.source());
            split.put("behavior", "Isolated").put("invert", false);
          }
          case PreTokenizer.Digits d -> list.addObject().put("type", "Digits").put("individual_digits", d.individual());
          default -> throw new IllegalArgumentException("cannot write pre-tokenizer " + step);
        }
      }
      list.add(byteLevel);
    }
    root.putNull("post_processor");
    root.putObject("decoder")
        .put("type", "ByteLevel")
        .put("add_prefix_space", true)
        .put("trim_offsets", true)
        .put("use_regex", true);
    ObjectNode model = root.putObject("model");
    model.put("type", "BPE");
    model.putNull("dropout");
    model.putNull("unk_token");
    model.putNull("continuing_subword_prefix");
    model.putNull("end_of_word_suffix");
    model.put("fuse_unk", false);
    model.put("byte_fallback", false);
    model.put("ignore_merges", t.ignoreMerges());
    ObjectNode vocab = model.putObject("vocab");
    String[] tokens = t.modelTokens();
    for (int id = 0; id < tokens.length; id++) {
      if (tokens[id] != null) vocab.put(tokens[id], id);
    }
    ArrayNode merges = model.putArray("merges");
    MergeTable m = t.mergeTable();
    for (int r = 0; r < m.size(); r++) {
      merges.addArray().add(tokens[m.left(r)]).add(tokens[m.right(r)]);
    }
    return root;
  }
}
