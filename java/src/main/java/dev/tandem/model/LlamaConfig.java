package dev.tandem.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.util.AtomicFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Architecture of a Llama-style decoder, with the field names of Hugging Face {@code LlamaConfig}
 * ({@code config.json}). Pre-norm RMSNorm, rotary embeddings ("rotate half"), grouped-query
 * attention, SwiGLU MLP.
 *
 * @param torchDtype the dtype the weights are stored in: "float32", "bfloat16" or "float16"
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
    String torchDtype) {

  private static final ObjectMapper JSON = new ObjectMapper();

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
    long perLayer = d * d * 2 + d * kv * 2 + 3 * d * f + 2 * d;
    long embed = (long) vocabSize * d;
    return embed + (tieWordEmbeddings ? 0 : embed) + numHiddenLayers * perLayer + d;
  }

  /** Weight elements read from memory to decode one token (every matrix once, one embedding row). */
  public long weightsReadPerToken() {
    long d = hiddenSize, f = intermediateSize, kv = kvDim();
    long perLayer = d * d * 2 + d * kv * 2 + 3 * d * f + 2 * d;
    return numHiddenLayers * perLayer + d + (long) vocabSize * d + d;
  }

  public LlamaConfig withDtype(String dtype) {
    return new LlamaConfig(vocabSize, hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads,
        numKeyValueHeads, ropeTheta, rmsNormEps, maxPositionEmbeddings, tieWordEmbeddings, dtype);
  }

  public static LlamaConfig read(Path file) throws IOException {
    if (!Files.isRegularFile(file)) throw new IOException("config file not found: " + file);
    JsonNode node;
    try {
      node = JSON.readTree(file.toFile());
    } catch (IOException e) {
      throw new IOException(file + ": malformed JSON: " + e.getMessage(), e);
    }
    try {
      return fromJson(node);
    } catch (IllegalArgumentException e) {
      throw new IOException(file + ": " + e.getMessage(), e);
    }
  }

  public static LlamaConfig fromJson(JsonNode n) {
    if (n == null || !n.isObject()) throw new IllegalArgumentException("config is not a JSON object");
    int heads = requiredInt(n, "num_attention_heads");
    return new LlamaConfig(
        requiredInt(n, "vocab_size"),
        requiredInt(n, "hidden_size"),
        requiredInt(n, "intermediate_size"),
        requiredInt(n, "num_hidden_layers"),
        heads,
        n.has("num_key_value_heads") && !n.get("num_key_value_heads").isNull()
            ? requiredInt(n, "num_key_value_heads") : heads,
        n.path("rope_theta").asDouble(10000.0),
        n.path("rms_norm_eps").asDouble(1e-6),
        n.has("max_position_embeddings") ? requiredInt(n, "max_position_embeddings") : 2048,
        n.path("tie_word_embeddings").asBoolean(false),
        n.path("torch_dtype").asText(n.path("dtype").asText("float32")));
  }

  private static int requiredInt(JsonNode n, String field) {
    JsonNode v = n.get(field);
    if (v == null || v.isNull()) throw new IllegalArgumentException("missing field \"" + field + "\"");
    if (!v.canConvertToInt() || !v.isIntegralNumber()) {
      throw new IllegalArgumentException("field \"" + field + "\" must be an integer, got " + v);
    }
    return v.intValue();
  }

  public ObjectNode toJson() {
    ObjectNode n = JSON.createObjectNode();
    n.putArray("architectures").add("LlamaForCausalLM");
    n.put("model_type", "llama");
    n.put("vocab_size", vocabSize);
    n.put("hidden_size", hiddenSize);
    n.put("intermediate_size", intermediateSize);
    n.put("num_hidden_layers", numHiddenLayers);
    n.put("num_attention_heads", numAttentionHeads);
    n.put("num_key_value_heads", numKeyValueHeads);
    n.put("head_dim", headDim());
    n.put("hidden_act", "silu");
    n.put("rope_theta", ropeTheta);
    n.put("rms_norm_eps", rmsNormEps);
    n.put("max_position_embeddings", maxPositionEmbeddings);
    n.put("tie_word_embeddings", tieWordEmbeddings);
    n.put("torch_dtype", torchDtype);
    n.put("attention_bias", false);
    n.put("mlp_bias", false);
    return n;
  }

  public void write(Path file) throws IOException {
    AtomicFiles.writeString(file, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(toJson()) + "\n");
  }
}
