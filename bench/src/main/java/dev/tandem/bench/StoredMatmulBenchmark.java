package dev.tandem.bench;

import dev.tandem.backend.StoredMatrix;
import dev.tandem.backend.Tensor;
import dev.tandem.backend.cpu.CpuBackend;
import dev.tandem.io.gguf.GgufTensorType;
import dev.tandem.io.quant.Quantize;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The CPU matrix product with weights in each stored format (F32 through the packed fp32 panels;
 * BF16, F16, Q8_0, Q4_0, Q4_K, Q6_K read from their bytes, in native memory as a mapped checkpoint
 * is), one thread, a block of {@code rows} activation rows against a weight matrix [m][k]. Bytes of
 * weights per call: the format's bytes for m k weights (Q8_0 34/32 per weight, Q4_0 and Q4_K 18/32,
 * Q6_K 210/256, BF16 and F16 2, F32 4); divide by the time for GB/s; 2 rows m k / time is the FLOP/s.
 *
 * <p>Run: {@code $JAVA --add-modules jdk.incubator.vector -cp "bench/target/tandem-bench.jar:bench/target/lib/*"
 * org.openjdk.jmh.Main StoredMatmul -p rows=1,8} (see bench/README.md).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
public class StoredMatmulBenchmark {
  @Param({"F32", "BF16", "F16", "Q8_0", "Q4_0", "Q4_K", "Q6_K"})
  String format;

  @Param({"1", "8"})
  int rows;

  @Param({"1536x1536"})
  String shape;  // m x k (outputs x inputs); k a multiple of 256 for the K-quants

  CpuBackend backend;
  Tensor w;
  Tensor x;
  Tensor out;

  @Setup
  public void setup() {
    String[] mk = shape.split("x");
    int m = Integer.parseInt(mk[0]), k = Integer.parseInt(mk[1]);
    SplittableRandom random = new SplittableRandom(1);
    float[] weights = new float[m * k];
    for (int i = 0; i < weights.length; i++) weights[i] = (float) (random.nextGaussian() * 0.02);
    backend = CpuBackend.fast(1);
    GgufTensorType type = GgufTensorType.valueOf(format);
    if (type == GgufTensorType.F32) {
      w = backend.weights("w", weights, m, k);
    } else {
      byte[] bytes = Quantize.matrix(type, weights, m, k);
      MemorySegment native_ = Arena.ofAuto().allocate(bytes.length, 64);
      MemorySegment.copy(MemorySegment.ofArray(bytes), 0, native_, 0, bytes.length);
      w = backend.weights(new StoredMatrix("w", type, m, k, native_, null));
    }
    x = backend.allocate("x", rows, k);
    out = backend.allocate("out", rows, m);
    float[] xs = new float[rows * k];
    for (int i = 0; i < xs.length; i++) xs[i] = (float) random.nextGaussian();
    Tensor staging = backend.table("x0", xs, rows, k);
    backend.copyRows(staging, 0, x, 0, rows);
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    backend.close();
  }

  @Benchmark
  public Tensor product() {
    backend.matmul(x, w, rows, out);
    return out;
  }
}
