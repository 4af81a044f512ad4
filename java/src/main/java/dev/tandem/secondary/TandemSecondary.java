package dev.tandem.secondary;

import dev.tandem.backend.Backend;
import dev.tandem.backend.BatchRows;
import dev.tandem.backend.KvCache;
import dev.tandem.backend.Tensor;
import dev.tandem.model.Decoder;
import dev.tandem.model.LlamaConfig;
import java.util.ArrayList;
import java.util.List;

/**
 * The tandem secondary at inference: a Llama-style {@link Decoder} that runs one position per step,
 * plus the refresh that rewrites its KV cache from the primary's states.
 *
 * <p>DESIGN.md's two-source attention, in cache form: layer j's cache holds, at positions the
 * primary has processed (r < b), keys and values computed from u_r = T_j(hP[l(j)][r]) through layer
 * j's own pre-norm, W_k, W_v and RoPE; at r >= b, the secondary's own. A draft step is therefore an
 * ordinary decoder step; {@link #refresh} overwrites the entries of the positions a primary pass
 * has just processed, from that pass's captured residual streams (no extra primary run).
 */
public final class TandemSecondary implements AutoCloseable {
  private final TandemConfig config;
  private final Decoder decoder;
  private final Backend backend;
  private final Tensor[] projections;   // [layer] of [d_S][d_P]
  private final int[] primaryLayers;    // distinct primary layers read, ascending (the primary's capture list)
  private final int[] captureIndex;     // [layer]: index into primaryLayers of layerMap[layer]
  private final Tensor[] gathered;      // [primaryLayers.length] of [maxRows][d_P]: the rows being refreshed
  private final Tensor projected;       // [maxRows][d_S]: T_j applied to them
  private final BatchRows refreshRows;

  /**
   * @param maxRows rows per pass, at least the primary decoder's (a refresh may cover a whole
   *                primary pass)
   */
  public TandemSecondary(TandemWeights weights, Backend backend, int contextLength, int maxRows) {
    this.config = weights.config();
    this.backend = backend;
    this.decoder = new Decoder(weights.decoder(), backend, contextLength, maxRows);
    LlamaConfig s = config.secondary();
    int dS = s.hiddenSize(), dP = config.primary().hiddenSize();
    this.primaryLayers = config.primaryLayersRead();
    int[] map = config.layerMap();
    this.captureIndex = new int[map.length];
    this.projections = new Tensor[map.length];
    for (int j = 0; j < map.length; j++) {
      captureIndex[j] = java.util.Arrays.binarySearch(primaryLayers, map[j]);
      projections[j] = backend.weights(TandemConfig.projectionName(j), weights.projections()[j], dS, dP);
    }
    this.gathered = new Tensor[primaryLayers.length];
    for (int i = 0; i < gathered.length; i++) gathered[i] = backend.allocate("tandem_h" + primaryLayers[i], maxRows, dP);
    this.projected = backend.allocate("tandem_projected", maxRows, dS);
    this.refreshRows = new BatchRows(maxRows);
  }

  public TandemConfig config() { return config; }

  public Decoder decoder() { return decoder; }

  /** The primary layers whose residual streams the primary decoder must capture, in this order. */
  public int[] primaryCaptureLayers() {
    return primaryLayers.clone();
  }

  /**
   * Refreshes the secondary's cache from the primary's last pass: for each sequence s of
   * {@code primaryRows}, its first {@code counts[s]} rows (positions from the sequence's first
   * row on) get keys and values from the primary's captured states, and the slot's length becomes
   * the position after them. {@code primary} must have been built with
   * {@link #primaryCaptureLayers()} and must not have run since that pass.
   */
  public void refresh(Decoder primary, BatchRows primaryRows, int[] counts, KvCache cache) {
    refreshRows.clear();
    int n = 0;
    for (int s = 0; s < primaryRows.sequenceCount(); s++) {
      int count = counts[s];
      if (count <= 0) continue;
      if (count > primaryRows.sequenceLength(s)) {
        throw new IllegalArgumentException("refresh of " + count + " rows, the pass has " + primaryRows.sequenceLength(s));
      }
      int first = primaryRows.sequenceStart(s);
      for (int i = 0; i < gathered.length; i++) backend.copyRows(primary.captured(i), first, gathered[i], n, count);
      refreshRows.addSequence(primaryRows.sequenceSlot(s), primaryRows.tokensArray(), first, count,
          primaryRows.position(first));
      n += count;
    }
    if (n == 0) return;
    for (int j = 0; j < projections.length; j++) {
      backend.matmul(gathered[captureIndex[j]], projections[j], n, projected);
      decoder.storeKeysValues(cache, j, projected, refreshRows);
    }
    for (int s = 0; s < refreshRows.sequenceCount(); s++) {
      int last = refreshRows.lastRow(s);
      cache.setLength(refreshRows.sequenceSlot(s), refreshRows.position(last) + 1);
    }
  }

  @Override
  public void close() {
    List<Tensor> owned = new ArrayList<>(List.of(projections));
    owned.addAll(List.of(gathered));
    owned.add(projected);
    for (Tensor t : owned) backend.release(t);
    decoder.close();
  }
}
