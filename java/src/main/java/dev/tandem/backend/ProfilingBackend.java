package dev.tandem.backend;

import dev.tandem.sampling.SamplingParams;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A decorator that times every operation of another backend (synchronizing after each, so device
 * backends report true per-operation times) and prints a table: operation, calls, total ms, share.
 * For finding where a forward pass spends its time, not for production runs.
 */
public final class ProfilingBackend implements Backend {
  private final Backend inner;
  private final Map<String, long[]> stats = new LinkedHashMap<>();  // op -> {calls, nanos}

  public ProfilingBackend(Backend inner) {
    this.inner = inner;
  }

  private void time(String op, Runnable body) {
    long start = System.nanoTime();
    body.run();
    inner.synchronize();
    long[] s = stats.computeIfAbsent(op, k -> new long[2]);
    s[0]++;
    s[1] += System.nanoTime() - start;
  }

  public void reset() {
    stats.clear();
  }

  /** The table, operations by descending total time. */
  public String report() {
    long total = stats.values().stream().mapToLong(s -> s[1]).sum();
    List<Map.Entry<String, long[]>> rows = new ArrayList<>(stats.entrySet());
    rows.sort((a, b) -> Long.compare(b.getValue()[1], a.getValue()[1]));
    StringBuilder out = new StringBuilder(String.format("%-14s %8s %10s %7s%n", "operation", "calls", "total ms", "share"));
    for (Map.Entry<String, long[]> e : rows) {
      out.append(String.format("%-14s %8d %10.2f %6.1f%%%n", e.getKey(), e.getValue()[0], e.getValue()[1] / 1e6,
          100.0 * e.getValue()[1] / Math.max(1, total)));
    }
    return out.toString();
  }

  @Override public String name() { return inner.name() + "+profile"; }
  @Override public Tensor weights(String name, float[] data, int rows, int cols) { return inner.weights(name, data, rows, cols); }
  @Override public Tensor weights(StoredMatrix m) { return inner.weights(m); }
  @Override public Tensor table(String name, float[] data, int rows, int cols) { return inner.table(name, data, rows, cols); }
  @Override public Tensor allocate(String name, int rows, int cols) { return inner.allocate(name, rows, cols); }
  @Override public long availableBytes() {
    return inner.availableBytes();
  }

  @Override public String memoryName() {
    return inner.memoryName();
  }

  @Override public KvCache allocateKvCache(int layers, int slots, int capacity, int kvDim) {
    return inner.allocateKvCache(layers, slots, capacity, kvDim);
  }
  @Override public void embed(Tensor table, BatchRows rows, Tensor out) { time("embed", () -> inner.embed(table, rows, out)); }
  @Override public void rmsNorm(Tensor x, Tensor gain, float eps, int n, Tensor out) {
    time("rmsNorm", () -> inner.rmsNorm(x, gain, eps, n, out));
  }
  @Override public void normMatmul(Tensor x, Tensor gain, float eps, Tensor normed, Tensor[] ws, int n, Tensor[] outs) {
    time("normMatmul", () -> inner.normMatmul(x, gain, eps, normed, ws, n, outs));
  }
  @Override public void matmulAdd(Tensor x, Tensor w, int n, Tensor residual, Tensor product) {
    time("matmulAdd", () -> inner.matmulAdd(x, w, n, residual, product));
  }
  @Override public void normGateUpSwiglu(Tensor x, Tensor gain, float eps, Tensor normed, Tensor wGate, Tensor wUp,
      int n, Tensor gate, Tensor up, Tensor hidden) {
    time("normGateUpSwiglu", () -> inner.normGateUpSwiglu(x, gain, eps, normed, wGate, wUp, n, gate, up, hidden));
  }
  @Override public void matmul(Tensor x, Tensor w, int n, Tensor out) { time("matmul", () -> inner.matmul(x, w, n, out)); }
  @Override public void matmul(Tensor x, Tensor[] ws, int n, Tensor[] outs) {
    time("matmul", () -> inner.matmul(x, ws, n, outs));
  }
  @Override public void rope(Tensor x, int heads, int headDim, Tensor ropeTable, BatchRows rows) {
    time("rope", () -> inner.rope(x, heads, headDim, ropeTable, rows));
  }
  @Override public void kvStore(KvCache cache, int layer, Tensor k, Tensor v, BatchRows rows) {
    time("kvStore", () -> inner.kvStore(cache, layer, k, v, rows));
  }
  @Override public void ropeAndStore(Tensor q, int heads, Tensor k, Tensor v, int kvHeads, int headDim,
      Tensor ropeTable, KvCache cache, int layer, BatchRows rows) {
    time("ropeAndStore", () -> inner.ropeAndStore(q, heads, k, v, kvHeads, headDim, ropeTable, cache, layer, rows));
  }
  @Override public void attention(Tensor q, KvCache cache, int layer, int heads, int headDim, BatchRows rows, Tensor out) {
    time("attention", () -> inner.attention(q, cache, layer, heads, headDim, rows, out));
  }
  @Override public void swiglu(Tensor gate, Tensor up, int n, Tensor out) { time("swiglu", () -> inner.swiglu(gate, up, n, out)); }
  @Override public void add(Tensor x, Tensor delta, int n) { time("add", () -> inner.add(x, delta, n)); }
  @Override public void addBias(Tensor x, Tensor bias, int n) { time("addBias", () -> inner.addBias(x, bias, n)); }
  @Override public void copyRows(Tensor src, int srcRow, Tensor dst, int dstRow, int count) {
    time("copyRows", () -> inner.copyRows(src, srcRow, dst, dstRow, count));
  }
  @Override public void argmaxRows(Tensor t, int n, int[] dst) { time("argmax", () -> inner.argmaxRows(t, n, dst)); }
  @Override public void sampleRows(Tensor logits, int n, SamplingParams[] params, long[] sequences, int[] positions,
      int[] dst) {
    time("sample", () -> inner.sampleRows(logits, n, params, sequences, positions, dst));
  }
  @Override public void argmaxToDraftTable(Tensor logits, BatchRows rows, Tensor table, int column) {
    time("argmax", () -> inner.argmaxToDraftTable(logits, rows, table, column));
  }
  @Override public void greedyAccept(Tensor logits, BatchRows rows, Tensor table, int[] out) {
    time("greedy accept", () -> inner.greedyAccept(logits, rows, table, out));
  }
  @Override public void setSlotSampling(SamplingParams[] params, long[] sequences, int n) {
    inner.setSlotSampling(params, sequences, n);
  }
  @Override public void sampleToDraftTable(Tensor logits, BatchRows rows, Tensor table, Tensor q, int column) {
    time("sample", () -> inner.sampleToDraftTable(logits, rows, table, q, column));
  }
  @Override public void rejectionAccept(Tensor logits, BatchRows rows, Tensor table, Tensor q, int[] out) {
    time("rejection", () -> inner.rejectionAccept(logits, rows, table, q, out));
  }
  @Override public void download(Tensor t, int n, float[] dst) { time("download", () -> inner.download(t, n, dst)); }
  @Override public void release(Tensor t) { inner.release(t); }
  @Override public void synchronize() { inner.synchronize(); }
  @Override public void close() { inner.close(); }
}
