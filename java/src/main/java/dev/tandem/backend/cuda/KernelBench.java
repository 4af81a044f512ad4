package dev.tandem.backend.cuda;

import dev.tandem.backend.BatchRows;
import dev.tandem.backend.KvCache;
import dev.tandem.backend.Tensor;
import dev.tandem.model.LlamaConfig;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import jcuda.driver.JCudaDriver;

/**
 * Kernel benchmarks against the device's copy bandwidth, measured in the same run: the small-n
 * matmul on a model's shapes for n = 1, 8, 64, block-wise attention at long contexts with blocks of
 * 1, 8 and 64 queries, and the split-KV decode attention for 1, 8 and 64 sequences. Timed with CUDA
 * events around a replayed graph of a batch of launches after a warm-up, median of the replays; the inputs rotate over
 * copies that together exceed the L2 cache several times, so memory, not L2, serves them. Each
 * figure counts the bytes a kernel must move at least (weights or keys/values once, inputs and
 * outputs once).
 */
public final class KernelBench {
  /** One measured line. */
  public record Line(String kernel, String shape, double microseconds, double gigabytesPerSecond, double ofCopy) {}

  private static final long ROTATION_BYTES = 512L << 20;  // several times any L2 (H100 50 MB, H200 60 MB)
  private static final int SAMPLES = 9;

  private final CudaBackend gpu;
  private final PrintStream out;
  private final SplittableRandom random = new SplittableRandom(7);
  private final List<Line> lines = new ArrayList<>();
  private double copy;
  private int failures;

  public KernelBench(CudaBackend gpu, PrintStream out) {
    this.gpu = gpu;
    this.out = out;
  }

  public List<Line> lines() {
    return List.copyOf(lines);
  }

  public double copyBandwidth() {
    return copy;
  }

  /** Runs every benchmark for a model shape (heads, widths) at the given contexts. */
  public void run(LlamaConfig c, int[] contexts) {
    copy = gpu.copyBandwidth(1L << 30, SAMPLES);
    out.printf("device          %s%n", gpu.probe().describe());
    out.printf("copy bandwidth  %.1f GB/s (cuMemcpyDtoD of 1 GiB, bytes read + written, median of %d)%n", copy, SAMPLES);
    out.printf("%-22s %-44s %10s %10s %8s%n", "kernel", "shape", "us", "GB/s", "of copy");
    int d = c.hiddenSize(), f = c.intermediateSize(), kv = c.kvDim();
    int[][] products = {{d, d}, {d, kv}, {d, f}, {f, d}, {d, c.vocabSize()}};
    String[] names = {"q/o", "k/v", "gate/up", "down", "lm head"};
    for (int p = 0; p < products.length; p++) {
      int at = p;
      guarded("matmul " + names[p], () -> matmul(names[at], products[at][0], products[at][1], new int[] {1, 8, 64}));
    }
    int heads = c.numAttentionHeads(), kvHeads = c.numKeyValueHeads(), headDim = c.headDim();
    for (int context : contexts) {
      for (int q : new int[] {1, 8, 64}) {
        guarded("block attention", () -> blockAttention(heads, kvHeads, headDim, context, q));
      }
    }
    // A decode step's attention at a short context: one sequence, a tile or a few (latency, not bandwidth).
    guarded("decode attention", () -> decodeAttention(heads, kvHeads, headDim, 128, 1));
    for (int context : contexts) {
      for (int batch : new int[] {1, 8, 64}) {
        guarded("decode attention", () -> decodeAttention(heads, kvHeads, headDim, context, batch));
      }
    }
  }

  /** Runs one measurement; a failure is reported and the next measurement goes on. */
  private void guarded(String what, Runnable measurement) {
    try {
      measurement.run();
    } catch (RuntimeException e) {
      out.println("FAILED " + what + ": " + e);
      failures++;
    }
  }

  /** Measurements that failed (reported in the output). */
  public int failures() {
    return failures;
  }

  private void report(String kernel, String shape, double ms, double bytes) {
    double gbs = bytes / (ms * 1e6);
    Line line = new Line(kernel, shape, ms * 1000, gbs, gbs / copy);
    lines.add(line);
    out.printf("%-22s %-44s %10.1f %10.1f %7.0f%%%n", kernel, shape, line.microseconds(), gbs, 100 * line.ofCopy());
  }

  /**
   * Milliseconds per launch. The {@code inner} launches (rotating over the input copies) are run
   * once uncaptured (warm-up, scratch sizes), then captured into a CUDA graph so that host launch
   * overhead does not hide the kernel time; each of SAMPLES replays is timed between two events and
   * the median is taken. Without a graph (capture failed) the launches are timed directly.
   */
  private double time(java.util.function.IntConsumer launch, int inner) {
    try (CudaEvent start = new CudaEvent(); CudaEvent end = new CudaEvent()) {
      for (int i = 0; i < inner; i++) launch.accept(i);
      gpu.synchronize();
      CudaGraph graph = null;
      try {
        graph = gpu.capture(() -> {
          for (int i = 0; i < inner; i++) launch.accept(i);
        });
      } catch (RuntimeException e) {
        out.println("  (graph capture failed, timing direct launches: " + e.getMessage() + ")");
      }
      try {
        double[] ms = new double[SAMPLES];
        for (int s = -1; s < SAMPLES; s++) {
          start.record(gpu.stream());
          if (graph != null) {
            graph.launch();
          } else {
            for (int i = 0; i < inner; i++) launch.accept(i);
          }
          end.record(gpu.stream());
          end.synchronize();
          if (s >= 0) ms[s] = end.millisSince(start) / inner;
        }
        Arrays.sort(ms);
        return ms[SAMPLES / 2];
      } finally {
        if (graph != null) graph.close();
      }
    }
  }

  private float[] randomFloats(int n, double scale) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) a[i] = (float) ((random.nextDouble() * 2 - 1) * scale);
    return a;
  }

  /** One weight shape: the weights (and device copies for rotation) uploaded once, then n = 1, 8, 64. */
  private void matmul(String name, int k, int m, int[] ns) {
    long weightBytes = (long) m * k * 2;
    int copies = (int) Math.max(2, Math.min(64, ROTATION_BYTES / weightBytes));
    Tensor[] ws = new Tensor[copies];
    ws[0] = gpu.weights(name + " weight", randomFloats(m * k, 0.02), m, k);
    for (int i = 1; i < copies; i++) ws[i] = cloneWeight((CudaTensor) ws[0]);  // device copies of the upload
    for (int n : ns) {
      Tensor x = gpu.allocate("x", n, k), o = gpu.allocate("out", n, m);
      gpu.upload(x, randomFloats(n * k, 1.0), n);
      double ms = time(i -> gpu.matmul(x, ws[i % copies], n, o), Math.max(copies, 16));
      report("matmul_bf16_n" + nr(n), String.format("%s n=%d k=%d m=%d", name, n, k, m), ms,
          weightBytes + (long) n * k * 4 + (long) n * m * 4);
      gpu.release(x);
      gpu.release(o);
    }
    for (Tensor t : ws) gpu.release(t);
  }

  private static int nr(int n) {
    return n == 1 ? 1 : n == 2 ? 2 : n <= 4 ? 4 : 8;
  }

  /** A device-side copy of a bf16 weight (avoids converting the same floats again). */
  private CudaTensor cloneWeight(CudaTensor source) {
    DeviceBuffer buffer = new DeviceBuffer(source.name(), source.bytes());
    Cu.check("cuMemcpyDtoD(weight copy)", () -> JCudaDriver.cuMemcpyDtoD(buffer.pointer(), source.buffer().pointer(),
        source.bytes()));
    Cu.afterSynchronousCopy("device-to-device copies");
    return gpu.adopt(new CudaTensor(source.name(), source.rows(), source.cols(), CudaTensor.Type.BF16, buffer));
  }

  /**
   * A cache of {@code layers} layers whose every slot of every layer holds the same random bf16
   * keys and values: one slot is uploaded, the rest are device-side copies of it.
   */
  private KvCache filledCache(int layers, int slots, int capacity, int kvDim) {
    KvCache cache = gpu.allocateKvCache(layers, slots, capacity, kvDim);
    CudaKvCache c = CudaKvCache.of(cache);
    long slotBytes = (long) capacity * kvDim * 2;
    short[] keys = new short[capacity * kvDim], values = new short[capacity * kvDim];
    for (int i = 0; i < keys.length; i++) {
      keys[i] = dev.tandem.io.FloatFormats.floatToBf16((float) (random.nextDouble() * 2 - 1));
      values[i] = dev.tandem.io.FloatFormats.floatToBf16((float) (random.nextDouble() * 2 - 1));
    }
    gpu.synchronize();
    Cu.check("cuMemcpyHtoD(KV slot)", () -> JCudaDriver.cuMemcpyHtoD(DevicePointer.at(c.keysAddress(0)),
        jcuda.Pointer.to(keys), slotBytes));
    Cu.check("cuMemcpyHtoD(KV slot)", () -> JCudaDriver.cuMemcpyHtoD(DevicePointer.at(c.valuesAddress(0)),
        jcuda.Pointer.to(values), slotBytes));
    for (int l = 0; l < layers; l++) {
      for (int s = 0; s < slots; s++) {
        if (l == 0 && s == 0) continue;
        long offset = s * slotBytes;
        int layer = l;
        Cu.check("cuMemcpyDtoD(KV slot)", () -> JCudaDriver.cuMemcpyDtoD(DevicePointer.at(c.keysAddress(layer) + offset),
            DevicePointer.at(c.keysAddress(0)), slotBytes));
        Cu.check("cuMemcpyDtoD(KV slot)", () -> JCudaDriver.cuMemcpyDtoD(DevicePointer.at(c.valuesAddress(layer) + offset),
            DevicePointer.at(c.valuesAddress(0)), slotBytes));
      }
    }
    Cu.afterSynchronousCopy("device-to-device copies");
    return cache;
  }

  private void blockAttention(int heads, int kvHeads, int headDim, int context, int q) {
    int kvDim = kvHeads * headDim;
    long layerBytes = (long) context * kvDim * 2 * 2;
    int layers = (int) Math.max(2, Math.min(64, ROTATION_BYTES / layerBytes));
    KvCache cache = filledCache(layers, 1, context, kvDim);
    BatchRows rows = new BatchRows(q);
    rows.addSequence(0, new int[q], 0, q, context - q);
    Tensor qs = gpu.allocate("q", q, heads * headDim), o = gpu.allocate("out", q, heads * headDim);
    gpu.upload(qs, randomFloats(q * heads * headDim, 1.0), q);
    gpu.prepare(rows);
    double ms = time(i -> gpu.attention(qs, cache, i % layers, heads, headDim, rows, o, false), Math.max(layers, 16));
    report("attention_bf16_block", String.format("context %d, q=%d, %d/%d heads x %d", context, q, heads, kvHeads,
        headDim), ms, layerBytes + 2L * q * heads * headDim * 4);
    // The same block through the split-KV kernel (what verification blocks of up to 64 rows use).
    double split = time(i -> gpu.attention(qs, cache, i % layers, heads, headDim, rows, o, true), Math.max(layers, 16));
    report("attention_split", String.format("context %d, q=%d (one sequence), %d/%d heads x %d", context, q, heads,
        kvHeads, headDim), split, layerBytes + 2L * q * heads * headDim * 4);
    cache.close();
    gpu.release(qs);
    gpu.release(o);
  }

  private void decodeAttention(int heads, int kvHeads, int headDim, int context, int batch) {
    int kvDim = kvHeads * headDim;
    long layerBytes = (long) batch * context * kvDim * 2 * 2;
    int layers = (int) Math.max(1, Math.min(64, ROTATION_BYTES / layerBytes));
    KvCache cache = filledCache(layers, batch, context, kvDim);
    BatchRows rows = new BatchRows(batch);
    int[] token = new int[1];
    for (int s = 0; s < batch; s++) rows.addSequence(s, token, 0, 1, context - 1);
    Tensor qs = gpu.allocate("q", batch, heads * headDim), o = gpu.allocate("out", batch, heads * headDim);
    gpu.upload(qs, randomFloats(batch * heads * headDim, 1.0), batch);
    gpu.prepare(rows);
    double ms = time(i -> gpu.attention(qs, cache, i % layers, heads, headDim, rows, o, true), Math.max(layers, 16));
    report("attention_bf16_decode", String.format("context %d, %d sequences, %d/%d heads x %d", context, batch, heads,
        kvHeads, headDim), ms, layerBytes + 2L * batch * heads * headDim * 4);
    cache.close();
    gpu.release(qs);
    gpu.release(o);
  }
}
