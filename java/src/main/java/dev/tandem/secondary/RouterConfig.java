package dev.tandem.secondary;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.util.AtomicFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The block-length router of SPEED (DESIGN.md, "Adaptive block length"): a 2-layer MLP that reads the
 * secondary's distribution at a draft step and predicts the total-variation distance between the
 * secondary's and the primary's distributions there. {@link #stopRule} says how the predictions stop
 * drafting: {@code "token"} (the paper's) when one exceeds {@link #threshold}, {@code "survival"} when
 * the product of (1 - prediction) over the round's drafts falls below it (see {@code RouterPolicy}).
 *
 * <p><b>Checkpoint format</b> (a directory): {@code config.json}
 * <pre>{"model_type": "tandem_router", "top_k": K, "embedding_dim": D, "hidden_size": H,
 *  "feature_size": 1 + K + K*D, "threshold": 0.5, "stop_rule": "token", "secondary_hidden_size": D,
 *  "secondary_vocab_size": V}</pre> ({@code stop_rule} absent: {@code "token"})
 * and {@code model.safetensors} with {@code router.feature_mean} [F], {@code router.feature_std} [F]
 * (input standardisation), {@code router.fc1.weight} [H][F], {@code router.fc1.bias} [H],
 * {@code router.fc2.weight} [1][H], {@code router.fc2.bias} [1]. See {@link RouterFeatures} for the
 * feature vector and {@link RouterWeights#forward} for the computation.
 */
public record RouterConfig(int topK, int embeddingDim, int hiddenSize, double threshold, int secondaryVocabSize,
    String stopRule) {
  public static final String MODEL_TYPE = "tandem_router";
  public static final String TOKEN_RULE = "token";
  public static final String SURVIVAL_RULE = "survival";
  private static final ObjectMapper JSON = new ObjectMapper();

  public RouterConfig {
    if (topK < 1) throw new IllegalArgumentException("top_k must be >= 1, got " + topK);
    if (embeddingDim < 1 || hiddenSize < 1) throw new IllegalArgumentException("sizes must be >= 1");
    if (!(threshold > 0 && threshold <= 1)) throw new IllegalArgumentException("threshold must be in (0, 1]");
    if (topK > secondaryVocabSize) throw new IllegalArgumentException("top_k exceeds the vocabulary");
    if (!TOKEN_RULE.equals(stopRule) && !SURVIVAL_RULE.equals(stopRule)) {
      throw new IllegalArgumentException("stop_rule must be \"token\" or \"survival\", got \"" + stopRule + "\"");
    }
  }

  /** A router with the paper's per-token stop rule. */
  public RouterConfig(int topK, int embeddingDim, int hiddenSize, double threshold, int secondaryVocabSize) {
    this(topK, embeddingDim, hiddenSize, threshold, secondaryVocabSize, TOKEN_RULE);
  }

  /** 1 (entropy) + K (top-k probabilities) + K * D (embeddings of the top-k tokens). */
  public int featureSize() {
    return 1 + topK + topK * embeddingDim;
  }

  public RouterConfig withThreshold(double t) {
    return withStop(stopRule, t);
  }

  public RouterConfig withStop(String rule, double t) {
    return new RouterConfig(topK, embeddingDim, hiddenSize, t, secondaryVocabSize, rule);
  }

  public ObjectNode toJson() {
    ObjectNode n = JSON.createObjectNode();
    n.put("model_type", MODEL_TYPE);
    n.put("top_k", topK);
    n.put("embedding_dim", embeddingDim);
    n.put("hidden_size", hiddenSize);
    n.put("feature_size", featureSize());
    n.put("threshold", threshold);
    n.put("stop_rule", stopRule);
    n.put("secondary_hidden_size", embeddingDim);
    n.put("secondary_vocab_size", secondaryVocabSize);
    n.put("features", "entropy of the secondary's distribution (nats); its top-k probabilities, descending;"
        + " the secondary's input embeddings (model.embed_tokens.weight rows) of those k tokens, in that order");
    n.put("output", "sigmoid(fc2(relu(fc1((x - mean) / std)))): predicted total-variation distance to the primary");
    return n;
  }

  public void write(Path file) throws IOException {
    AtomicFiles.writeString(file, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(toJson()) + "\n");
  }

  public static RouterConfig read(Path file) throws IOException {
    if (!Files.isRegularFile(file)) throw new IOException("router config not found: " + file);
    JsonNode n;
    try {
      n = JSON.readTree(file.toFile());
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IOException(file + ": malformed JSON: " + dev.tandem.util.JsonErrors.describe(e), e);
    }
    if (n == null || !n.isObject()) throw new IOException(file + ": not a JSON object");
    if (!MODEL_TYPE.equals(n.path("model_type").asText())) {
      throw new IOException(file + ": not a router config (model_type is not \"" + MODEL_TYPE + "\")");
    }
    try {
      RouterConfig c = new RouterConfig(n.path("top_k").asInt(), n.path("embedding_dim").asInt(),
          n.path("hidden_size").asInt(), n.path("threshold").asDouble(0.8), n.path("secondary_vocab_size").asInt(),
          n.path("stop_rule").asText(TOKEN_RULE));
      if (n.has("feature_size") && n.get("feature_size").asInt() != c.featureSize()) {
        throw new IllegalArgumentException("feature_size " + n.get("feature_size").asInt() + " does not match 1 + k + k*d = "
            + c.featureSize());
      }
      return c;
    } catch (IllegalArgumentException e) {
      throw new IOException(file + ": " + e.getMessage(), e);
    }
  }
}
