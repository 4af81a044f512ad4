package dev.tandem.bench;

import dev.tandem.secondary.RouterConfig;
import dev.tandem.secondary.RouterFeatures;
import dev.tandem.secondary.RouterWeights;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What the router adds to each draft step of SPEED, on one thread, at the demo models' sizes (vocabulary
 * 2048, drafter width 64, top 4, MLP hidden 64): the features from the drafter's logits, and the MLP.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
public class RouterBenchmark {
  static final int VOCAB = 2048, DIM = 64, TOP_K = 4, HIDDEN = 64;
  float[] logits;      // [VOCAB]
  float[] embeddings;  // [VOCAB][DIM]
  float[] features;    // [1 + TOP_K + TOP_K * DIM]
  float[] standardised;  // [1 + TOP_K + TOP_K * DIM] the forward's scratch, as in the draft loop
  int[] topIds;
  RouterWeights router;

  @Setup
  public void setup() {
    SplittableRandom random = new SplittableRandom(3);
    logits = new float[VOCAB];
    for (int v = 0; v < VOCAB; v++) logits[v] = (float) (3 * random.nextGaussian());
    embeddings = new float[VOCAB * DIM];
    for (int i = 0; i < embeddings.length; i++) embeddings[i] = (float) (0.02 * random.nextGaussian());
    router = RouterWeights.random(new RouterConfig(TOP_K, DIM, HIDDEN, 0.5, VOCAB), 4);
    features = new float[router.config().featureSize()];
    standardised = new float[features.length];
    topIds = new int[TOP_K];
    RouterFeatures.compute(logits, 0, VOCAB, TOP_K, embeddings, DIM, features, 0, topIds);
  }

  @Benchmark
  public float[] features() {
    RouterFeatures.compute(logits, 0, VOCAB, TOP_K, embeddings, DIM, features, 0, topIds);
    return features;
  }

  @Benchmark
  public float forward() {
    return router.forward(features, 0, standardised);
  }
}
