package dev.tandem.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.io.gguf.GgufFile;
import dev.tandem.model.LlamaConfig;
import dev.tandem.model.ModelWeights;
import dev.tandem.model.WeightPrecision;
import dev.tandem.tokenizer.ByteLevelBpeTokenizer;
import dev.tandem.tokenizer.GgufTokenizer;
import dev.tandem.tokenizer.SentencePieceBpeTokenizer;
import dev.tandem.tokenizer.Tokenizer;
import dev.tandem.tokenizer.TokenizerJson;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;

/**
 * The one entry point that reads a model: a Hugging Face model directory ({@code config.json},
 * {@code model.safetensors} or shards with {@code model.safetensors.index.json}, and where present
 * {@code tokenizer.json}, {@code tokenizer_config.json}, {@code generation_config.json}) or a GGUF
 * file (weights, config and tokenizer in one file). The CLI and every later caller load through here.
 */
public final class ModelLoader {
  public static final String TOKENIZER_FILE = "tokenizer.json";
  public static final String TOKENIZER_CONFIG_FILE = "tokenizer_config.json";
  public static final String GENERATION_CONFIG_FILE = "generation_config.json";

  private static final ObjectMapper JSON = new ObjectMapper();

  private ModelLoader() {}

  /** Whether {@code path} is a GGUF file (by its magic bytes). */
  public static boolean isGguf(Path path) throws IOException {
    if (!Files.isRegularFile(path)) return false;
    try (InputStream in = Files.newInputStream(path)) {
      byte[] magic = in.readNBytes(4);
      return magic.length == 4 && magic[0] == 'G' && magic[1] == 'G' && magic[2] == 'U' && magic[3] == 'F';
    }
  }

  /**
   * Reads a model directory or GGUF file.
   *
   * @throws IOException naming the file and the problem: missing files, corrupt files, an
   *     unsupported architecture or field
   */
  public static LoadedModel load(Path path) throws IOException {
    return load(path, WeightPrecision.DEFAULT);
  }

  /**
   * As {@link #load(Path)}, with the weight matrices kept in their checkpoint format ({@link
   * WeightPrecision#STORED}: GGUF quantized and 16-bit matrices, BF16 and F16 safetensors) or converted
   * to fp32 ({@link WeightPrecision#FP32}, {@link WeightPrecision#DEFAULT} for now).
   */
  public static LoadedModel load(Path path, WeightPrecision precision) throws IOException {
    if (Files.isDirectory(path)) return loadDirectory(path, precision);
    if (!Files.exists(path)) throw new IOException("model not found: " + path);
    if (!isGguf(path)) {
      throw new IOException(path + " is neither a model directory nor a GGUF file (it does not start with 'GGUF')");
    }
    // Kept mapped after close() when the weights stay as stored: they are slices of the mapping.
    try (GgufFile f = GgufFile.open(path, precision == WeightPrecision.STORED)) {
      String hfConfig = f.string(GgufCheckpoint.HF_CONFIG).orElse(null);
      if (hfConfig != null && readTandemKey(hfConfig)) {
        throw new IOException(path + " holds a tandem secondary, which runs from a model directory only: convert it"
            + " back first (tandem convert --in " + path + " --out DIR)");
      }
      LlamaConfig config = GgufCheckpoint.readConfig(f);
      ModelWeights weights = GgufCheckpoint.readWeights(f, config, precision);
      Tokenizer tokenizer = GgufTokenizer.present(f) ? GgufTokenizer.load(f) : null;
      checkVocabulary(path, tokenizer, config);
      return new LoadedModel(path, weights, tokenizer, ggufDefaults(f, tokenizer));
    }
  }

  private static boolean readTandemKey(String configJson) {
    try {
      return JSON.readTree(configJson).has("tandem");
    } catch (IOException e) {
      return false; // readConfig reports the malformed text
    }
  }

  /**
   * Reads only the tokenizer of a tokenizer.json file, a model directory or a GGUF file, with BOS and
   * EOS as the checkpoint names them.
   */
  public static Tokenizer loadTokenizer(Path path) throws IOException {
    if (Files.isDirectory(path)) {
      Path file = path.resolve(TOKENIZER_FILE);
      if (!Files.isRegularFile(file)) throw new IOException("model directory " + path + " has no " + TOKENIZER_FILE);
      return withTokenizerConfig(TokenizerJson.load(file), readJsonIfPresent(path.resolve(TOKENIZER_CONFIG_FILE)));
    }
    if (!Files.isRegularFile(path)) throw new IOException("tokenizer not found: " + path);
    if (isGguf(path)) {
      try (GgufFile f = GgufFile.open(path)) {
        if (!GgufTokenizer.present(f)) throw new IOException(path + " holds no tokenizer (no tokenizer.ggml.model)");
        return GgufTokenizer.load(f);
      }
    }
    Tokenizer t = TokenizerJson.load(path);
    Path config = path.resolveSibling(TOKENIZER_CONFIG_FILE);
    return withTokenizerConfig(t, readJsonIfPresent(config));
  }

  /** The generation defaults of a checkpoint (directory or GGUF) without reading its weights. */
  public static GenerationDefaults loadDefaults(Path path, Tokenizer tokenizer) throws IOException {
    if (Files.isDirectory(path)) return directoryDefaults(path, tokenizer);
    try (GgufFile f = GgufFile.open(path)) {
      return ggufDefaults(f, tokenizer);
    }
  }

  private static LoadedModel loadDirectory(Path dir, WeightPrecision precision) throws IOException {
    ModelWeights weights = ModelWeights.load(dir, precision);
    Path tokenizerFile = dir.resolve(TOKENIZER_FILE);
    Tokenizer tokenizer = Files.isRegularFile(tokenizerFile) ? loadTokenizer(dir) : null;
    checkVocabulary(tokenizerFile, tokenizer, weights.config());
    return new LoadedModel(dir, weights, tokenizer, directoryDefaults(dir, tokenizer));
  }

  private static void checkVocabulary(Path where, Tokenizer tokenizer, LlamaConfig config) throws IOException {
    if (tokenizer != null && tokenizer.vocabSize() > config.vocabSize()) {
      throw new IOException(where + ": the tokenizer has " + tokenizer.vocabSize()
          + " tokens but the model's vocab_size is " + config.vocabSize());
    }
  }

  // ---------------------------------------------------------------------------------------------
  // tokenizer_config.json and generation_config.json

  static JsonNode readJsonIfPresent(Path file) throws IOException {
    if (!Files.isRegularFile(file)) return null;
    try {
      JsonNode n = JSON.readTree(file.toFile());
      if (n != null && !n.isObject()) throw new IOException(file + ": not a JSON object");
      return n;
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IOException(file + ": not valid JSON: " + dev.tandem.util.JsonErrors.describe(e), e);
    }
  }

  /** A token named in tokenizer_config.json: a string, or an object with "content". */
  private static String tokenName(JsonNode n) {
    if (n == null || n.isNull() || n.isMissingNode()) return null;
    if (n.isTextual()) return n.asText();
    return n.path("content").isTextual() ? n.path("content").asText() : null;
  }

  /** The tokenizer with BOS and EOS as tokenizer_config.json names them (where it does). */
  static Tokenizer withTokenizerConfig(Tokenizer t, JsonNode tokenizerConfig) {
    if (tokenizerConfig == null) return t;
    OptionalInt bos = idOf(t, tokenName(tokenizerConfig.get("bos_token")), t.bosId());
    OptionalInt eos = idOf(t, tokenName(tokenizerConfig.get("eos_token")), t.eosId());
    return withBosEos(t, bos, eos);
  }

  static Tokenizer withBosEos(Tokenizer t, OptionalInt bos, OptionalInt eos) {
    return switch (t) {
      case ByteLevelBpeTokenizer b -> b.withBosEos(bos, eos);
      case SentencePieceBpeTokenizer s -> s.withBosEos(bos, eos);
      default -> t;
    };
  }

  private static OptionalInt idOf(Tokenizer t, String name, OptionalInt fallback) {
    if (name == null) return fallback;
    OptionalInt id = t.tokenId(name);
    return id.isPresent() ? id : fallback;
  }

  private static GenerationDefaults directoryDefaults(Path dir, Tokenizer tokenizer) throws IOException {
    JsonNode tokenizerConfig = readJsonIfPresent(dir.resolve(TOKENIZER_CONFIG_FILE));
    JsonNode generationConfig = readJsonIfPresent(dir.resolve(GENERATION_CONFIG_FILE));
    boolean addBos;
    if (tokenizerConfig != null && tokenizerConfig.has("add_bos_token")) {
      addBos = tokenizerConfig.path("add_bos_token").asBoolean(false);
    } else {
      addBos = tokenizer instanceof SentencePieceBpeTokenizer || postProcessorAddsBos(dir.resolve(TOKENIZER_FILE));
    }
    List<Integer> stops = new ArrayList<>();
    if (tokenizer != null) tokenizer.eosId().ifPresent(stops::add);
    if (generationConfig != null) {
      JsonNode eos = generationConfig.get("eos_token_id");
      if (eos != null && eos.isIntegralNumber()) stops.add(eos.asInt());
      if (eos != null && eos.isArray()) eos.forEach(e -> stops.add(e.asInt()));
    }
    return new GenerationDefaults(addBos && tokenizer != null && tokenizer.bosId().isPresent(),
        stops.stream().mapToInt(Integer::intValue).toArray(), chatTemplate(tokenizerConfig));
  }

  /** Whether tokenizer.json's post-processor puts a special token first (Llama 3's TemplateProcessing). */
  private static boolean postProcessorAddsBos(Path tokenizerFile) throws IOException {
    JsonNode root = readJsonIfPresent(tokenizerFile);
    if (root == null) return false;
    List<JsonNode> processors = new ArrayList<>();
    JsonNode pp = root.path("post_processor");
    if (pp.path("type").asText().equals("Sequence")) pp.path("processors").forEach(processors::add);
    else processors.add(pp);
    for (JsonNode p : processors) {
      if (p.path("type").asText().equals("TemplateProcessing")) {
        JsonNode first = p.path("single").path(0);
        return first.has("SpecialToken");
      }
    }
    return false;
  }

  /** tokenizer_config.json's chat_template: a string, or the "default" of a list of named templates. */
  static String chatTemplate(JsonNode tokenizerConfig) {
    if (tokenizerConfig == null) return null;
    JsonNode t = tokenizerConfig.get("chat_template");
    if (t == null || t.isNull()) return null;
    if (t.isTextual()) return t.asText();
    if (t.isArray()) {
      for (JsonNode named : t) if (named.path("name").asText().equals("default")) return named.path("template").asText();
    }
    return null;
  }

  private static GenerationDefaults ggufDefaults(GgufFile f, Tokenizer tokenizer) throws IOException {
    boolean addBos = f.bool("tokenizer.ggml.add_bos_token")
        .orElse(f.string("tokenizer.ggml.model").orElse("").equals("llama"));
    List<Integer> stops = new ArrayList<>();
    if (tokenizer != null) tokenizer.eosId().ifPresent(stops::add);
    f.integer("tokenizer.ggml.eot_token_id").ifPresent(id -> stops.add((int) (long) id));
    String generationConfig = f.string(GgufCheckpoint.HF_GENERATION_CONFIG).orElse(null);
    if (generationConfig != null) {
      JsonNode eos = JSON.readTree(generationConfig).get("eos_token_id");
      if (eos != null && eos.isIntegralNumber()) stops.add(eos.asInt());
      if (eos != null && eos.isArray()) eos.forEach(e -> stops.add(e.asInt()));
    }
    return new GenerationDefaults(addBos && tokenizer != null && tokenizer.bosId().isPresent(),
        stops.stream().mapToInt(Integer::intValue).toArray(), f.string("tokenizer.chat_template").orElse(null));
  }
}
