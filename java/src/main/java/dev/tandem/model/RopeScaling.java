package dev.tandem.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * How the rotary inverse frequencies are rescaled for long contexts, as the Hugging Face
 * {@code rope_scaling} entry of config.json says. {@link RopeTable#inverseFrequencies} applies it.
 *
 * @param type           none, linear (every frequency divided by {@code factor}) or llama3 (Llama 3.1+:
 *                       low frequencies divided by {@code factor}, high ones kept, a smooth blend between)
 * @param factor         the scaling factor (1 for none)
 * @param lowFreqFactor  llama3 only: wavelengths above original / lowFreqFactor are scaled fully
 * @param highFreqFactor llama3 only: wavelengths below original / highFreqFactor are not scaled
 * @param originalMaxPositionEmbeddings llama3 only: the context length the model was pretrained with
 */
public record RopeScaling(Type type, double factor, double lowFreqFactor, double highFreqFactor,
    int originalMaxPositionEmbeddings) {

  public enum Type { NONE, LINEAR, LLAMA3 }

  public static final RopeScaling NONE = new RopeScaling(Type.NONE, 1, 0, 0, 0);

  public RopeScaling {
    if (type == null) throw new IllegalArgumentException("rope_scaling type is null");
    if (!(factor > 0)) throw new IllegalArgumentException("rope_scaling factor must be > 0, got " + factor);
    if (type == Type.LLAMA3) {
      if (!(lowFreqFactor > 0) || !(highFreqFactor > lowFreqFactor)) {
        throw new IllegalArgumentException("rope_scaling llama3 needs 0 < low_freq_factor < high_freq_factor, got "
            + lowFreqFactor + " and " + highFreqFactor);
      }
      if (originalMaxPositionEmbeddings <= 0) {
        throw new IllegalArgumentException("rope_scaling llama3 needs original_max_position_embeddings > 0, got "
            + originalMaxPositionEmbeddings);
      }
    }
  }

  public static RopeScaling linear(double factor) {
    return new RopeScaling(Type.LINEAR, factor, 0, 0, 0);
  }

  public static RopeScaling llama3(double factor, double lowFreqFactor, double highFreqFactor, int original) {
    return new RopeScaling(Type.LLAMA3, factor, lowFreqFactor, highFreqFactor, original);
  }

  /**
   * Reads config.json's {@code rope_scaling} (null or missing: none). The type is {@code rope_type}
   * (or the older {@code type}); {@code default} means none.
   *
   * @throws IllegalArgumentException for a type this engine does not implement, naming it
   */
  public static RopeScaling fromJson(JsonNode n) {
    if (n == null || n.isNull() || n.isMissingNode()) return NONE;
    if (!n.isObject()) throw new IllegalArgumentException("rope_scaling must be an object or null, got " + n);
    String type = n.path("rope_type").asText(n.path("type").asText(""));
    return switch (type) {
      case "default", "" -> NONE;
      case "linear" -> linear(number(n, "factor"));
      case "llama3" -> llama3(number(n, "factor"), number(n, "low_freq_factor"), number(n, "high_freq_factor"),
          (int) number(n, "original_max_position_embeddings"));
      default -> throw new IllegalArgumentException("rope_scaling type '" + type
          + "' is not supported (supported: linear, llama3)");
    };
  }

  private static double number(JsonNode n, String field) {
    JsonNode v = n.get(field);
    if (v == null || !v.isNumber()) {
      throw new IllegalArgumentException("rope_scaling needs a number \"" + field + "\", got " + v);
    }
    return v.asDouble();
  }

  /** The config.json form; null for none. */
  public ObjectNode toJson() {
    if (type == Type.NONE) return null;
    ObjectNode n = JsonNodeFactory.instance.objectNode();
    n.put("rope_type", type == Type.LINEAR ? "linear" : "llama3");
    n.put("factor", factor);
    if (type == Type.LLAMA3) {
      n.put("low_freq_factor", lowFreqFactor);
      n.put("high_freq_factor", highFreqFactor);
      n.put("original_max_position_embeddings", originalMaxPositionEmbeddings);
    }
    return n;
  }
}
