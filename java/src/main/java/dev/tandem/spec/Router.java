package dev.tandem.spec;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.io.DType;
import dev.tandem.io.SafetensorsFile;
import dev.tandem.io.SafetensorsWriter;
import dev.tandem.util.AtomicFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * The adaptive block-length router (DESIGN.md): a 2-layer MLP that looks at the drafter's
 * distribution at a draft step and predicts the disagreement with the primary there (trained on the
 * total-variation distance between the two distributions, so the output is in [0, 1]).
 *
 * <p>Features, in order: the entropy of the drafter's distribution (nats); its top-k
 * probabilities, largest first; the drafter's input embeddings of those top-k tokens, concatenated.
 * Network: {@code h = relu(W1 x + b1)}, {@code disagreement = sigmoid(w2 . h + b2)}.
 *
 * <p>Checkpoint: a directory with {@code config.json} = {"router": {"top_k", "hidden_size",
 * "embedding_dim", "vocab_size", "threshold"}} and {@code model.safetensors} holding
 * {@code router.fc1.weight} [hidden][inputs], {@code router.fc1.bias} [hidden],
 * {@code router.fc2.weight} [1][hidden], {@code router.fc2.bias} [1].
 */
public final class Router {
  public static final String CONFIG_FILE = "config.json";
  public static final String WEIGHTS_FILE = "model.safetensors";
  private static final ObjectMapper JSON = new ObjectMapper();

  /**
   * @param embeddingDim the drafter's hidden size (its embeddings are features)
   * @param vocabSize    the drafter's vocabulary size
   * @param threshold    drafting continues while the predicted agreement 1 - disagreement is at
   *                     least this (0.8 in the paper)
   */
  public record Config(int topK, int hiddenSize, int embeddingDim, int vocabSize, float threshold) {
    public Config {
      if (topK < 1 || topK > vocabSize) throw new IllegalArgumentException("router top_k must be in [1, vocab], got " + topK);
      if (hiddenSize < 1) throw new IllegalArgumentException("router hidden_size must be >= 1, got " + hiddenSize);
      if (embeddingDim < 1) throw new IllegalArgumentException("router embedding_dim must be >= 1");
      if (!(threshold >= 0 && threshold <= 1)) {
        throw new IllegalArgumentException("router threshold must be in [0, 1], got " + threshold);
      }
    }

    public int inputSize() {
      return 1 + topK + topK * embeddingDim;
    }

    public Config withThreshold(float t) {
      return new Config(topK, hiddenSize, embeddingDim, vocabSize, t);
    }
  }

  private final Config config;
  private final float[] w1;  // [hidden][inputs]
  private final float[] b1;  // [hidden]
  private final float[] w2;  // [hidden]
  private final float b2;
  private final float[] features;  // [inputs] scratch
  private final float[] hidden;    // [hidden] scratch
  private final int[] topIds;      // [topK] scratch

  public Router(Config config, float[] w1, float[] b1, float[] w2, float b2) {
    if (w1.length != config.hiddenSize() * config.inputSize() || b1.length != config.hiddenSize()
        || w2.length != config.hiddenSize()) {
      throw new IllegalArgumentException("router weights do not match its config " + config);
    }
    this.config = config;
    this.w1 = w1;
    this.b1 = b1;
    this.w2 = w2;
    this.b2 = b2;
    this.features = new float[config.inputSize()];
    this.hidden = new float[config.hiddenSize()];
    this.topIds = new int[config.topK()];
  }

  public Config config() { return config; }

  /** The same network with another stopping threshold. */
  public Router withThreshold(float threshold) {
    return new Router(config.withThreshold(threshold), w1, b1, w2, b2);
  }

  /** A router with random weights (it runs; its decisions mean nothing until trained). */
  public static Router random(Config config, long seed) {
    SplittableRandom random = new SplittableRandom(seed);
    float[] w1 = new float[config.hiddenSize() * config.inputSize()];
    double std1 = 1 / Math.sqrt(config.inputSize());
    for (int i = 0; i < w1.length; i++) w1[i] = (float) (random.nextGaussian() * std1);
    float[] w2 = new float[config.hiddenSize()];
    double std2 = 1 / Math.sqrt(config.hiddenSize());
    for (int i = 0; i < w2.length; i++) w2[i] = (float) (random.nextGaussian() * std2);
    return new Router(config, w1, new float[config.hiddenSize()], w2, 0f);
  }

  /**
   * Writes the features of a distribution into {@code out} ([inputSize]).
   *
   * @param probabilities the drafter's distribution, [vocab]
   * @param embeddings    the drafter's input embedding table, [vocab][embeddingDim]
   */
  public void features(float[] probabilities, float[] embeddings, float[] out) {
    int k = config.topK(), dim = config.embeddingDim();
    double entropy = 0;
    for (float p : probabilities) if (p > 0) entropy -= p * Math.log(p);
    topK(probabilities, topIds);
    out[0] = (float) entropy;
    for (int i = 0; i < k; i++) {
      out[1 + i] = probabilities[topIds[i]];
      System.arraycopy(embeddings, topIds[i] * dim, out, 1 + k + i * dim, dim);
    }
  }

  /** Ids of the k largest probabilities, largest first (lower id first on ties). */
  static void topK(float[] p, int[] ids) {
    int k = ids.length, filled = 0;
    for (int t = 0; t < p.length; t++) {
      if (filled == k && p[t] <= p[ids[k - 1]]) continue;
      int at = Math.min(filled, k - 1);
      while (at > 0 && p[t] > p[ids[at - 1]]) {
        ids[at] = ids[at - 1];
        at--;
      }
      ids[at] = t;
      if (filled < k) filled++;
    }
  }

  /** The MLP on a feature vector: predicted disagreement in (0, 1). */
  public float predict(float[] x) {
    int in = config.inputSize();
    float z = b2;
    for (int h = 0; h < config.hiddenSize(); h++) {
      float a = b1[h];
      for (int i = 0; i < in; i++) a += w1[h * in + i] * x[i];
      hidden[h] = Math.max(0f, a);
      z += w2[h] * hidden[h];
    }
    return (float) (1 / (1 + Math.exp(-z)));
  }

  /** Predicted disagreement with the primary for a drafter distribution. */
  public float predictDisagreement(float[] probabilities, float[] embeddings) {
    features(probabilities, embeddings, features);
    return predict(features);
  }

  public void save(Path dir) throws IOException {
    Files.createDirectories(dir);
    ObjectNode root = JSON.createObjectNode();
    ObjectNode r = root.putObject("router");
    r.put("top_k", config.topK());
    r.put("hidden_size", config.hiddenSize());
    r.put("embedding_dim", config.embeddingDim());
    r.put("vocab_size", config.vocabSize());
    r.put("threshold", config.threshold());
    r.put("features", "entropy, top-k probabilities, top-k embeddings");
    SafetensorsWriter writer = new SafetensorsWriter();
    writer.putMetadata("format", "pt");
    writer.add("router.fc1.weight", DType.F32, new long[] {config.hiddenSize(), config.inputSize()}, w1);
    writer.add("router.fc1.bias", DType.F32, new long[] {config.hiddenSize()}, b1);
    writer.add("router.fc2.weight", DType.F32, new long[] {1, config.hiddenSize()}, w2);
    writer.add("router.fc2.bias", DType.F32, new long[] {1}, new float[] {b2});
    writer.write(dir.resolve(WEIGHTS_FILE));
    AtomicFiles.writeString(dir.resolve(CONFIG_FILE), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root));
  }

  public static Router load(Path dir) throws IOException {
    Path configFile = dir.resolve(CONFIG_FILE);
    if (!Files.isRegularFile(configFile)) throw new IOException("router directory " + dir + " has no " + CONFIG_FILE);
    JsonNode r = JSON.readTree(configFile.toFile()).get("router");
    if (r == null || !r.isObject()) throw new IOException(configFile + ": not a router (no \"router\" object)");
    Config config;
    try {
      config = new Config(r.path("top_k").asInt(-1), r.path("hidden_size").asInt(-1), r.path("embedding_dim").asInt(-1),
          r.path("vocab_size").asInt(-1), (float) r.path("threshold").asDouble(0.8));
    } catch (IllegalArgumentException e) {
      throw new IOException(configFile + ": " + e.getMessage(), e);
    }
    try (SafetensorsFile file = SafetensorsFile.open(dir.resolve(WEIGHTS_FILE))) {
      return new Router(config,
          file.readFloats("router.fc1.weight", config.hiddenSize(), config.inputSize()),
          file.readFloats("router.fc1.bias", config.hiddenSize()),
          file.readFloats("router.fc2.weight", 1, config.hiddenSize()),
          file.readFloats("router.fc2.bias", 1)[0]);
    }
  }
}
