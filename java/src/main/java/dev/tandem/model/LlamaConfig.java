package dev.tandem.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.util.AtomicFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Architecture of a Llama-style decoder, with the field names of Hugging Face {@code LlamaConfig}
 * ({@code config.json}). Pre-norm RMSNorm, rotary embeddings ("rotate half"), grouped-query
 * attention, SwiGLU MLP.
 *
 * <p>Supported Hugging Face {@code model_type}s: {@code llama} (Llama 2/3.x, SmolLM, TinyLlama),
 * {@code mistral} (without a sliding window shorter than the context) and {@code qwen2} (the same
 * decoder with biases on the query, key and value projections). {@link #fromJson} rejects any
 * field value this engine does not implement, naming it.
 *
 * @param torchDtype the dtype the weights are stored in: "float32", "bfloat16" or "float16"
 * @param ropeScaling rotary frequency scaling ({@link RopeScaling#NONE} for none)
 * @param modelType "llama", "mistral" or "qwen2"
 */
public record LlamaConfig(
    int vocabSize,
    int hiddenSize,
    int intermediateSize,
    int numHiddenLayers,
    int numAttentionHeads,
    int numKeyValueHeads,
    double ropeTheta,
    double rmsNormEps,
    int maxPositionEmbeddings,
    boolean tieWordEmbeddings,
    String torchDtype,
    RopeScaling ropeScaling,
    String modelType) {

  private static final ObjectMapper JSON = new ObjectMapper();
  public static final String LLAMA = "llama";
  public static final String MISTRAL = "mistral";
  public static final String QWEN2 = "qwen2";
  private static final List<String> MODEL_TYPES = List.of(LLAMA, MISTRAL, QWEN2);

  /** A plain Llama (no rope scaling). */
  public LlamaConfig(int vocabSize, int hiddenSize, int intermediateSize, int numHiddenLayers, int numAttentionHeads,
      int numKeyValueHeads, double ropeTheta, double rmsNormEps, int maxPositionEmbeddings,
      boolean tieWordEmbeddings, String torchDtype) {
    this(vocabSize, hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads, numKeyValueHeads, ropeTheta,
        rmsNormEps, maxPositionEmbeddings, tieWordEmbeddings, torchDtype, RopeScaling.NONE, LLAMA);
  }

  public LlamaConfig {
    requirePositive("vocab_size", vocabSize);
    requirePositive("hidden_size", hiddenSize);
    requirePositive("intermediate_size", intermediateSize);
    requirePositive("num_hidden_layers", numHiddenLayers);
    requirePositive("num_attention_heads", numAttentionHeads);
    requirePositive("num_key_value_heads", numKeyValueHeads);
    requirePositive("max_position_embeddings", maxPositionEmbeddings);
    if (hiddenSize % numAttentionHeads != 0) {
      throw new IllegalArgumentException("hidden_size " + hiddenSize
          + " is not a multiple of num_attention_heads " + numAttentionHeads);
    }
    if (numAttentionHeads % numKeyValueHeads != 0) {
      throw new IllegalArgumentException("num_attention_heads " + numAttentionHeads
          + " is not a multiple of num_key_value_heads " + numKeyValueHeads);
    }
    if ((hiddenSize / numAttentionHeads) % 2 != 0) {
      throw new IllegalArgumentException("head dimension " + hiddenSize / numAttentionHeads
          + " must be even for rotary embeddings");
    }
    if (!(ropeTheta > 0)) throw new IllegalArgumentException("rope_theta must be > 0, got " + ropeTheta);
    if (!(rmsNormEps > 0)) throw new IllegalArgumentException("rms_norm_eps must be > 0, got " + rmsNormEps);
    if (torchDtype == null) torchDtype = "float32";
    if (!torchDtype.equals("float32") && !torchDtype.equals("bfloat16") && !torchDtype.equals("float16")) {
      throw new IllegalArgumentException("torch_dtype must be float32, bfloat16 or float16, got " + torchDtype);
    }
    if (ropeScaling == null) ropeScaling = RopeScaling.NONE;
    if (modelType == null) modelType = LLAMA;
    if (!MODEL_TYPES.contains(modelType)) {
      throw new IllegalArgumentException("model_type '" + modelType + "' is not supported (supported: "
          + String.join(", ", MODEL_TYPES) + ")");
    }
  }

  /** Whether the query, key and value projections have biases (Qwen2; the output projection has none). */
  public boolean attentionBias() {
    return modelType.equals(QWEN2);
  }

  private static void requirePositive(String field, int value) {
    if (value <= 0) throw new IllegalArgumentException(field + " must be > 0, got " + value);
  }

  public int headDim() { return hiddenSize / numAttentionHeads; }

  /** Width of one position's keys (or values): kvHeads * headDim. */
  public int kvDim() { return numKeyValueHeads * headDim(); }

  /** Query heads per key/value head. */
  public int groupSize() { return numAttentionHeads / numKeyValueHeads; }

  /** Number of weights (parameters), counting tied embeddings once. */
  public long parameterCount() {
    long d = hiddenSize, f = intermediateSize, kv = kvDim();
    long perLayer = d * d * 2 + d * kv * 2 + 3 * d * f + 2 * d + (attentionBias() ? d + 2 * kv : 0);
    long embed = (long) vocabSize * d;
    return embed + (tieWordEmbeddings ? 0 : embed) + numHiddenLayers * perLayer + d;
  }

  /** Weight elements read from memory to decode one token (every matrix once, one embedding row). */
  public long weightsReadPerToken() {
    long d = hiddenSize, f = intermediateSize, kv = kvDim();
    long perLayer = d * d * 2 + d * kv * 2 + 3 * d * f + 2 * d + (attentionBias() ? d + 2 * kv : 0);
    return numHiddenLayers * perLayer + d + (long) vocabSize * d + d;
  }

  public LlamaConfig withDtype(String dtype) {
    return new LlamaConfig(vocabSize, hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads,
        numKeyValueHeads, ropeTheta, rmsNormEps, maxPositionEmbeddings, tieWordEmbeddings, dtype, ropeScaling, modelType);
  }

  public LlamaConfig withRopeScaling(RopeScaling scaling) {
    return new LlamaConfig(vocabSize, hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads,
        numKeyValueHeads, ropeTheta, rmsNormEps, maxPositionEmbeddings, tieWordEmbeddings, torchDtype, scaling, modelType);
  }

  public LlamaConfig withModelType(String type) {
    return new LlamaConfig(vocabSize, hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads,
        numKeyValueHeads, ropeTheta, rmsNormEps, maxPositionEmbeddings, tieWordEmbeddings, torchDtype, ropeScaling, type);
  }

  public static LlamaConfig read(Path file) throws IOException {
    if (!Files.isRegularFile(file)) throw new IOException("config file not found: " + file);
    JsonNode node;
    try {
      node = JSON.readTree(file.toFile());
    } catch (IOException e) {
      throw new IOException(file + ": malformed JSON: " + dev.tandem.util.JsonErrors.describe(e), e);
    }
    try {
      return fromJson(node);
    } catch (IllegalArgumentException e) {
      throw new IOException(file + ": " + e.getMessage(), e);
    }
  }

  /**
   * Reads a Hugging Face config.json. Unsupported architectures and fields are errors naming them:
   * an unknown {@code model_type}, {@code hidden_act} other than silu, {@code attention_bias} or
   * {@code mlp_bias} on a Llama, a sliding window shorter than the context, an explicit
   * {@code head_dim} other than hidden_size / num_attention_heads, a rope scaling type other than
   * linear and llama3.
   */
  public static LlamaConfig fromJson(JsonNode n) {
    if (n == null || !n.isObject()) throw new IllegalArgumentException("config is not a JSON object");
    String modelType = n.path("model_type").asText(LLAMA);
    if (!MODEL_TYPES.contains(modelType)) {
      throw new IllegalArgumentException("model_type '" + modelType + "' is not supported (supported: "
          + String.join(", ", MODEL_TYPES) + ")");
    }
    String act = n.path("hidden_act").asText("silu");
    if (!act.equals("silu")) {
      throw new IllegalArgumentException("hidden_act '" + act + "' is not supported (only silu)");
    }
    if (!modelType.equals(QWEN2) && n.path("attention_bias").asBoolean(false)) {
      throw new IllegalArgumentException("attention_bias true is not supported for model_type " + modelType
          + " (only qwen2's query/key/value biases are)");
    }
    if (n.path("mlp_bias").asBoolean(false)) {
      throw new IllegalArgumentException("mlp_bias true is not supported");
    }
    int heads = requiredInt(n, "num_attention_heads");
    int hidden = requiredInt(n, "hidden_size");
    int maxPositions = n.has("max_position_embeddings") ? requiredInt(n, "max_position_embeddings") : 2048;
    JsonNode headDim = n.get("head_dim");
    if (headDim != null && !headDim.isNull() && heads > 0 && headDim.asInt() != hidden / heads) {
      throw new IllegalArgumentException("head_dim " + headDim.asInt() + " is not supported (only hidden_size / "
          + "num_attention_heads = " + hidden / heads + ")");
    }
    JsonNode window = n.get("sliding_window");
    boolean windowUsed = modelType.equals(QWEN2) ? n.path("use_sliding_window").asBoolean(false)
        : window != null && !window.isNull();
    if (windowUsed && window != null && !window.isNull() && window.asLong() < maxPositions) {
      throw new IllegalArgumentException("sliding_window " + window.asLong() + " is not supported: it is smaller than"
          + " max_position_embeddings " + maxPositions + " (only full attention is implemented)");
    }
    // Newer transformers write rope_parameters {rope_type, rope_theta, ...} instead of rope_theta + rope_scaling.
    JsonNode ropeParameters = n.get("rope_parameters");
    double theta = n.path("rope_theta").asDouble(ropeParameters != null ? ropeParameters.path("rope_theta").asDouble(10000.0)
        : 10000.0);
    JsonNode scaling = n.has("rope_scaling") ? n.get("rope_scaling") : ropeParameters;
    return new LlamaConfig(
        requiredInt(n, "vocab_size"),
        hidden,
        requiredInt(n, "intermediate_size"),
        requiredInt(n, "num_hidden_layers"),
        heads,
        n.has("num_key_value_heads") && !n.get("num_key_value_heads").isNull()
            ? requiredInt(n, "num_key_value_heads") : heads,
        theta,
        n.path("rms_norm_eps").asDouble(1e-6),
        maxPositions,
        n.path("tie_word_embeddings").asBoolean(false),
        n.path("torch_dtype").asText(n.path("dtype").asText("float32")),
        RopeScaling.fromJson(scaling),
        modelType);
  }

  private static int requiredInt(JsonNode n, String field) {
    JsonNode v = n.get(field);
    if (v == null || v.isNull()) throw new IllegalArgumentException("missing field \"" + field + "\"");
    if (v.isIntegralNumber() && !v.canConvertToInt()) {
      throw new IllegalArgumentException("field \"" + field + "\" is " + v + ", out of range (at most "
          + Integer.MAX_VALUE + ")");
    }
    if (!v.canConvertToInt() || !v.isIntegralNumber()) {
      throw new IllegalArgumentException("field \"" + field + "\" must be an integer, got " + v);
    }
    return v.intValue();
  }

  public ObjectNode toJson() {
    ObjectNode n = JSON.createObjectNode();
    n.putArray("architectures").add(switch (modelType) {
      case MISTRAL -> "MistralForCausalLM";
      case QWEN2 -> "Qwen2ForCausalLM";
      default -> "LlamaForCausalLM";
    });
    n.put("model_type", modelType);
    n.put("vocab_size", vocabSize);
    n.put("hidden_size", hiddenSize);
    n.put("intermediate_size", intermediateSize);
    n.put("num_hidden_layers", numHiddenLayers);
    n.put("num_attention_heads", numAttentionHeads);
    n.put("num_key_value_heads", numKeyValueHeads);
    n.put("head_dim", headDim());
    n.put("hidden_act", "silu");
    n.put("rope_theta", ropeTheta);
    if (ropeScaling.type() != RopeScaling.Type.NONE) n.set("rope_scaling", ropeScaling.toJson());
    n.put("rms_norm_eps", rmsNormEps);
    n.put("max_position_embeddings", maxPositionEmbeddings);
    n.put("tie_word_embeddings", tieWordEmbeddings);
    n.put("torch_dtype", torchDtype);
    switch (modelType) {
      case QWEN2 -> n.put("use_sliding_window", false);
      case MISTRAL -> n.putNull("sliding_window");
      default -> {
        n.put("attention_bias", false);
        n.put("mlp_bias", false);
      }
    }
    return n;
  }

  public void write(Path file) throws IOException {
    AtomicFiles.writeString(file, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(toJson()) + "\n");
  }
}
