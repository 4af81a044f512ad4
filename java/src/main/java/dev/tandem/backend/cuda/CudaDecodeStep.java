package dev.tandem.backend.cuda;

import dev.tandem.backend.BatchRows;
import dev.tandem.backend.KvCache;
import dev.tandem.model.Decoder;
import dev.tandem.model.LogitsMode;

/**
 * A greedy decode step for a fixed batch shape (one row for each of the given cache slots),
 * captured once as a CUDA graph ({@code Decoder.forward(rows, cache, LAST)} + the device argmax)
 * and replayed every step. Per step only the batch rows (tokens, positions) are uploaded, before
 * the replay and outside the graph; the kernels read them from the device. The first step runs
 * uncaptured once (sizing scratch buffers, loading modules) and then captures.
 *
 * <p>Equal, bit for bit, to calling {@code forward} and {@code argmaxLogits} per step: the graph
 * replays the same launches.
 */
public final class CudaDecodeStep implements AutoCloseable {
  private final CudaBackend backend;
  private final Decoder decoder;
  private final KvCache cache;
  private final int[] slots;
  private final int[] lengths;
  private final BatchRows rows;
  private CudaGraph graph;

  public CudaDecodeStep(Decoder decoder, KvCache cache, int... slots) {
    if (!(decoder.backend() instanceof CudaBackend cuda)) {
      throw new IllegalArgumentException("a CUDA graph step needs a decoder on the CUDA backend, not " + decoder.backend().name());
    }
    if (slots.length == 0 || slots.length > Math.min(decoder.maxRows(), Matmul.SMALL_N_MAX)) {
      throw new IllegalArgumentException("a captured decode step takes 1.." + Math.min(decoder.maxRows(), Matmul.SMALL_N_MAX)
          + " sequences, got " + slots.length);
    }
    this.backend = cuda;
    this.decoder = decoder;
    this.cache = cache;
    this.slots = slots.clone();
    this.lengths = new int[slots.length];
    this.rows = new BatchRows(decoder.maxRows());
  }

  /** Whether the graph has been captured (after the first step). */
  public boolean captured() {
    return graph != null;
  }

  /**
   * Feeds {@code tokens[s]} to the sequence in {@code slots[s]} at its cache length and writes the
   * greedy next token of each to {@code next}; every slot's length grows by one.
   */
  public void step(int[] tokens, int[] next) {
    rows.clear();
    for (int s = 0; s < slots.length; s++) {
      lengths[s] = cache.length(slots[s]);
      rows.addSequence(slots[s], tokens, s, 1, lengths[s]);
    }
    if (graph == null) {
      backend.prepare(rows);
      decoder.forward(rows, cache, LogitsMode.LAST);  // writes this step's keys and values, rewritten below
      backend.launchArgmax(decoder.logits(), slots.length);
      backend.synchronize();
      restoreLengths();
      try {
        graph = backend.capture(() -> {
          decoder.forward(rows, cache, LogitsMode.LAST);
          backend.launchArgmax(decoder.logits(), slots.length);
        });
      } finally {
        restoreLengths();  // forward counted the captured (not executed) pass
      }
    }
    backend.prepare(rows);
    graph.launch();
    for (int s = 0; s < slots.length; s++) cache.setLength(slots[s], lengths[s] + 1);
    backend.collectIds(slots.length, next);
  }

  /** Replays the graph {@code times} times without reading results (benchmarks: launch cost). */
  void replay(int times) {
    for (int i = 0; i < times; i++) graph.launch();
  }

  private void restoreLengths() {
    for (int s = 0; s < slots.length; s++) cache.setLength(slots[s], lengths[s]);
  }

  @Override
  public void close() {
    if (graph != null) graph.close();
  }
}
