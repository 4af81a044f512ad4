package dev.tandem.secondary;

import dev.tandem.io.DType;
import dev.tandem.io.SafetensorsFile;
import dev.tandem.io.SafetensorsWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * A router's weights (see {@link RouterConfig} for the format) and its forward pass:
 * {@code sigmoid(w2 . relu(W1 ((x - mean) / std) + b1) + b2)}, the predicted total-variation distance
 * between the secondary's and the primary's next-token distributions.
 *
 * @param mean [F] feature means (training data)
 * @param std  [F] feature standard deviations (floored, never 0)
 * @param w1   [H][F]
 * @param b1   [H]
 * @param w2   [H] (fc2.weight, shape [1][H])
 * @param b2   fc2.bias
 */
public record RouterWeights(RouterConfig config, float[] mean, float[] std, float[] w1, float[] b1, float[] w2,
    float b2) {
  public static final String CONFIG_FILE = "config.json";
  public static final String WEIGHTS_FILE = "model.safetensors";
  private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;

  public RouterWeights {
    int f = config.featureSize(), h = config.hiddenSize();
    if (mean.length != f || std.length != f || w1.length != h * f || b1.length != h || w2.length != h) {
      throw new IllegalArgumentException("router tensors do not match the config (features " + f + ", hidden " + h + ")");
    }
  }

  /** The same network with another stop rule and threshold. */
  public RouterWeights withStop(String rule, double threshold) {
    return new RouterWeights(config.withStop(rule, threshold), mean, std, w1, b1, w2, b2);
  }

  /** The same network with another stopping threshold. */
  public RouterWeights withThreshold(double threshold) {
    return withStop(config.stopRule(), threshold);
  }

  /**
   * A router with random weights (standard-normal features assumed): it runs, and its decisions
   * mean nothing until it is trained (tests and benchmarks).
   */
  public static RouterWeights random(RouterConfig config, long seed) {
    int f = config.featureSize(), h = config.hiddenSize();
    java.util.SplittableRandom random = new java.util.SplittableRandom(seed);
    float[] mean = new float[f], std = new float[f], w1 = new float[h * f], w2 = new float[h];
    java.util.Arrays.fill(std, 1f);
    for (int i = 0; i < w1.length; i++) w1[i] = (float) (random.nextGaussian() / Math.sqrt(f));
    for (int i = 0; i < w2.length; i++) w2[i] = (float) (random.nextGaussian() / Math.sqrt(h));
    return new RouterWeights(config, mean, std, w1, new float[h], w2, 0f);
  }

  /** The predicted total-variation distance for one feature vector (allocates its scratch; training, tests). */
  public float forward(float[] features, int at) {
    return forward(features, at, new float[config.featureSize()]);
  }

  /**
   * The predicted total-variation distance for one feature vector, allocating nothing (the draft loop).
   *
   * @param x scratch [F], overwritten with the standardised features
   */
  public float forward(float[] features, int at, float[] x) {
    int f = config.featureSize(), h = config.hiddenSize();
    for (int i = 0; i < f; i++) x[i] = (features[at + i] - mean[i]) / std[i];
    int vectorEnd = SPECIES.loopBound(f);
    double z = b2;
    for (int j = 0; j < h; j++) {
      int row = j * f;
      FloatVector lanes = FloatVector.zero(SPECIES);
      for (int i = 0; i < vectorEnd; i += SPECIES.length()) {
        lanes = FloatVector.fromArray(SPECIES, w1, row + i).fma(FloatVector.fromArray(SPECIES, x, i), lanes);
      }
      double a = b1[j] + lanes.reduceLanes(VectorOperators.ADD);
      for (int i = vectorEnd; i < f; i++) a += w1[row + i] * x[i];
      if (a > 0) z += w2[j] * a;
    }
    return (float) (1 / (1 + Math.exp(-z)));
  }

  /** True when drafting should stop: the predicted disagreement exceeds the threshold. */
  public boolean stop(float[] features, int at) {
    return forward(features, at) > config.threshold();
  }

  /** Saves everything as F32. */
  public void save(Path dir) throws IOException {
    save(dir, DType.F32);
  }

  /** Saves with the two matrices stored as {@code matrices} (e.g. BF16); standardisation and biases stay F32. */
  public void save(Path dir, DType matrices) throws IOException {
    Files.createDirectories(dir);
    int f = config.featureSize(), h = config.hiddenSize();
    SafetensorsWriter w = new SafetensorsWriter();
    w.putMetadata("format", "pt");
    w.putMetadata("tandem", "router");
    w.add("router.feature_mean", DType.F32, new long[] {f}, mean);
    w.add("router.feature_std", DType.F32, new long[] {f}, std);
    w.add("router.fc1.weight", matrices, new long[] {h, f}, w1);
    w.add("router.fc1.bias", DType.F32, new long[] {h}, b1);
    w.add("router.fc2.weight", matrices, new long[] {1, h}, w2);
    w.add("router.fc2.bias", DType.F32, new long[] {1}, new float[] {b2});
    w.write(dir.resolve(WEIGHTS_FILE));
    config.write(dir.resolve(CONFIG_FILE));
  }

  public static RouterWeights load(Path dir) throws IOException {
    RouterConfig c = RouterConfig.read(dir.resolve(CONFIG_FILE));
    Path file = dir.resolve(WEIGHTS_FILE);
    if (!Files.isRegularFile(file)) throw new IOException("router directory " + dir + " has no " + WEIGHTS_FILE);
    int f = c.featureSize(), h = c.hiddenSize();
    try (SafetensorsFile st = SafetensorsFile.open(file)) {
      return new RouterWeights(c, st.readFloats("router.feature_mean", f), st.readFloats("router.feature_std", f),
          st.readFloats("router.fc1.weight", h, f), st.readFloats("router.fc1.bias", h),
          st.readFloats("router.fc2.weight", 1, h), st.readFloats("router.fc2.bias", 1)[0]);
    }
  }
}
