package dev.tandem.bench;

import dev.tandem.backend.cpu.VectorOps;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * One query head attending over a cached context on one thread (head dim 64, one KV head's keys and
 * values read once: 2 * 4 * 64 * length bytes per call).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
public class AttentionBenchmark {
  @Param({"256", "4096"})
  int length;

  static final int HEAD_DIM = 64;
  float[] q;
  float[] keys;
  float[] values;
  float[] out;
  float[] scores;

  @Setup
  public void setup() {
    SplittableRandom random = new SplittableRandom(2);
    q = new float[HEAD_DIM];
    keys = new float[length * HEAD_DIM];
    values = new float[length * HEAD_DIM];
    for (int i = 0; i < q.length; i++) q[i] = (float) random.nextGaussian();
    for (int i = 0; i < keys.length; i++) {
      keys[i] = (float) random.nextGaussian();
      values[i] = (float) random.nextGaussian();
    }
    out = new float[HEAD_DIM];
    scores = new float[length];
  }

  @Benchmark
  public float[] attendHead() {
    VectorOps.attendHead(q, 0, keys, values, 0, HEAD_DIM, length, HEAD_DIM, 0.125f, out, 0, scores);
    return out;
  }
}
