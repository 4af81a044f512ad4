package dev.tandem.secondary;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.model.LlamaConfig;
import dev.tandem.util.AtomicFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * A tandem secondary: a Llama-style decoder ({@link #secondary}) whose layer j also owns a linear
 * projection T_j from the primary's width to its own and reads the primary's residual stream after
 * primary layer {@code layerMap[j]} (0 = the primary's embeddings). Stored in the secondary's
 * {@code config.json} as the usual LlamaConfig fields plus a {@code "tandem"} object:
 * <pre>{"tandem": {"layer_map": [..], "training_block_length": 2, "primary": {fingerprint}}}</pre>
 * Projection weights are {@code model.layers.J.tandem_proj.weight}, shape [d_S][d_P].
 */
public record TandemConfig(LlamaConfig secondary, int[] layerMap, int trainingBlockLength,
    PrimaryFingerprint primary) {
  private static final ObjectMapper JSON = new ObjectMapper();

  public TandemConfig {
    int layers = secondary.numHiddenLayers();
    if (layerMap.length != layers) {
      throw new IllegalArgumentException("layer_map has " + layerMap.length + " entries, the secondary has "
          + layers + " layers");
    }
    for (int j = 0; j < layers; j++) {
      if (layerMap[j] < 0 || layerMap[j] > primary.numHiddenLayers()) {
        throw new IllegalArgumentException("layer_map[" + j + "] = " + layerMap[j] + " outside [0, "
            + primary.numHiddenLayers() + "]");
      }
    }
    if (trainingBlockLength < 1) throw new IllegalArgumentException("training_block_length must be >= 1");
    if (secondary.vocabSize() != primary.vocabSize()) {
      throw new IllegalArgumentException("the secondary's vocab_size " + secondary.vocabSize()
          + " differs from its primary's " + primary.vocabSize());
    }
    layerMap = layerMap.clone();
  }

  /** The default map of DESIGN.md: l(j) = floor((j + 1) * L_P / L_S). */
  public static int[] defaultLayerMap(int secondaryLayers, int primaryLayers) {
    int[] map = new int[secondaryLayers];
    for (int j = 0; j < secondaryLayers; j++) map[j] = (j + 1) * primaryLayers / secondaryLayers;
    return map;
  }

  public static String projectionName(int layer) {
    return "model.layers." + layer + ".tandem_proj.weight";
  }

  /** Primary layers whose residual streams the secondary reads, distinct and ascending. */
  public int[] primaryLayersRead() {
    return Arrays.stream(layerMap).distinct().sorted().toArray();
  }

  @Override
  public int[] layerMap() {
    return layerMap.clone();
  }

  public ObjectNode toJson() {
    ObjectNode n = secondary.toJson();
    ObjectNode t = n.putObject("tandem");
    var map = t.putArray("layer_map");
    for (int l : layerMap) map.add(l);
    t.put("training_block_length", trainingBlockLength);
    t.set("primary", primary.toJson());
    return n;
  }

  public void write(Path file) throws IOException {
    AtomicFiles.writeString(file, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(toJson()) + "\n");
  }

  private static JsonNode readJson(Path file) throws IOException {
    try {
      JsonNode n = JSON.readTree(file.toFile());
      if (n == null || !n.isObject()) throw new IOException(file + ": not a JSON object");
      return n;
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IOException(file + ": malformed JSON: " + dev.tandem.util.JsonErrors.describe(e), e);
    }
  }

  /** True when the config.json at {@code file} describes a tandem secondary. */
  public static boolean isTandem(Path file) throws IOException {
    return Files.isRegularFile(file) && readJson(file).has("tandem");
  }

  public static TandemConfig read(Path file) throws IOException {
    LlamaConfig secondary = LlamaConfig.read(file);
    JsonNode root = readJson(file);
    JsonNode t = root.get("tandem");
    if (t == null || !t.isObject()) throw new IOException(file + ": not a tandem secondary (no \"tandem\" object)");
    try {
      JsonNode map = t.get("layer_map");
      if (map == null || !map.isArray()) throw new IllegalArgumentException("missing \"layer_map\" array");
      int[] layerMap = new int[map.size()];
      for (int j = 0; j < layerMap.length; j++) layerMap[j] = map.get(j).asInt(-1);
      return new TandemConfig(secondary, layerMap, t.path("training_block_length").asInt(2),
          PrimaryFingerprint.fromJson(t.get("primary")));
    } catch (IllegalArgumentException e) {
      throw new IOException(file + ": " + e.getMessage(), e);
    }
  }
}
