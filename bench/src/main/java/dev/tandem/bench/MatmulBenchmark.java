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
 * The CPU matrix-product kernel on one thread: a block of n rows against a packed weight matrix
 * [m][k]. Bytes of weights per call: 4 m k; divide by the time for GB/s (memory-bound at n = 1)
 * and 2 n m k by the time for FLOP/s (compute-bound for large n).
 *
 * <p>Run: {@code java --add-modules jdk.incubator.vector -jar bench/target/tandem-bench.jar Matmul}
 * (see bench/README.md).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
public class MatmulBenchmark {
  @Param({"1", "2", "4", "8", "16"})
  int rows;

  @Param({"2048x2048", "8192x2048"})
  String shape;  // m x k (outputs x inputs)

  float[] x;        // [rows][k]
  float[] grouped;  // the rows grouped for the block tiles (VectorOps.groupRows), null for one row
  float[] packed;
  float[] out;
  int m;
  int k;
  int panels;

  @Setup
  public void setup() {
    String[] mk = shape.split("x");
    m = Integer.parseInt(mk[0]);
    k = Integer.parseInt(mk[1]);
    SplittableRandom random = new SplittableRandom(1);
    float[] w = new float[m * k];
    for (int i = 0; i < w.length; i++) w[i] = (float) random.nextGaussian();
    packed = VectorOps.packPanels(w, m, k);
    x = new float[rows * k];
    for (int i = 0; i < x.length; i++) x[i] = (float) random.nextGaussian();
    grouped = rows > 1 ? VectorOps.groupRows(x, rows, k, null) : null;
    out = new float[rows * m];
    panels = (m + laneCount() - 1) / laneCount();
  }

  private static int laneCount() {
    return jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.length();
  }

  @Benchmark
  public float[] matmul() {
    VectorOps.matmulPanels(x, grouped, rows, k, packed, m, out, 0, panels);
    return out;
  }
}
