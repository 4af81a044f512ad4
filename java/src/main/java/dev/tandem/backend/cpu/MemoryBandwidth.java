package dev.tandem.backend.cpu;

import java.util.Arrays;
import jdk.incubator.vector.FloatVector;

/**
 * Measures this machine's memory read bandwidth the way a decode step reads weights: every thread
 * streams its share of a large float array once with vector loads (several accumulators, so the
 * loop is bound by memory, not by add latency). The figure decode throughput is judged against.
 */
public final class MemoryBandwidth {
  private MemoryBandwidth() {}

  /** Median read bandwidth in GB/s (1e9 bytes) over {@code repeats} passes over {@code bytes} of memory. */
  public static double readGigabytesPerSecond(WorkerPool pool, long bytes, int repeats) {
    int floats = (int) Math.min(Integer.MAX_VALUE - 16, bytes / 4);
    float[] data = new float[floats];
    for (int i = 0; i < floats; i += 1024) data[i] = i;  // touch every page
    int lanes = VectorOps.LANES;
    int tasks = pool.threads();
    int perTask = floats / tasks / (4 * lanes) * (4 * lanes);
    float[] sink = new float[tasks];
    double[] rates = new double[repeats];
    for (int r = -1; r < repeats; r++) {  // r = -1: warm-up
      long start = System.nanoTime();
      pool.run(tasks, (task, worker) -> {
        int from = task * perTask;
        FloatVector a = FloatVector.zero(VectorOps.SPECIES), b = a, c = a, d = a;
        for (int i = from; i < from + perTask; i += 4 * lanes) {
          a = a.add(FloatVector.fromArray(VectorOps.SPECIES, data, i));
          b = b.add(FloatVector.fromArray(VectorOps.SPECIES, data, i + lanes));
          c = c.add(FloatVector.fromArray(VectorOps.SPECIES, data, i + 2 * lanes));
          d = d.add(FloatVector.fromArray(VectorOps.SPECIES, data, i + 3 * lanes));
        }
        sink[task] = VectorOps.sumLanes(a.add(b).add(c).add(d));
      });
      long nanos = System.nanoTime() - start;
      if (r >= 0) rates[r] = (double) perTask * tasks * 4 / nanos;
    }
    if (Float.isNaN(sink[0])) throw new AssertionError();  // keep the sums alive
    Arrays.sort(rates);
    return rates[repeats / 2];
  }
}
