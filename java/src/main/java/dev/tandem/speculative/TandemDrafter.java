package dev.tandem.speculative;

import dev.tandem.backend.Backend;
import dev.tandem.backend.BatchRows;
import dev.tandem.backend.KvCache;
import dev.tandem.model.Decoder;
import dev.tandem.secondary.TandemSecondary;
import dev.tandem.secondary.TandemWeights;

/**
 * The tandem secondary as a drafter: after every primary pass its cache is refreshed from the
 * primary's states of the committed positions, so it never needs a catch-up block.
 */
public final class TandemDrafter implements Drafter {
  private final TandemSecondary secondary;
  private final KvCache cache;

  public TandemDrafter(TandemWeights weights, Backend backend, int contextLength, int maxRows, int slots) {
    this.secondary = new TandemSecondary(weights, backend, contextLength, maxRows);
    this.cache = secondary.decoder().newCache(slots);
  }

  public TandemSecondary secondary() { return secondary; }
  @Override public Decoder decoder() { return secondary.decoder(); }
  @Override public KvCache cache() { return cache; }
  @Override public int[] primaryCaptureLayers() { return secondary.primaryCaptureLayers(); }
  @Override public String kind() { return "tandem"; }

  /**
   * Refreshes the positions the pass kept, for each sequence whose cache reaches the pass's first
   * position. A sequence whose secondary lags behind (the engine skipped refreshes in rounds that
   * drafted nothing) is left as it is: before its next draft it catches up on the committed tokens
   * with its own states, as a plain draft model does (drafts are only proposals, so the output is
   * unchanged; the positions caught up that way carry the secondary's states, not the primary's).
   */
  @Override
  public void afterPrimaryPass(Decoder primary, BatchRows primaryRows, int[] kept) {
    int[] counts = kept;
    for (int s = 0; s < primaryRows.sequenceCount(); s++) {
      int start = primaryRows.position(primaryRows.sequenceStart(s));
      if (cache.length(primaryRows.sequenceSlot(s)) < start) {
        if (counts == kept) counts = kept.clone();
        counts[s] = 0;
      }
    }
    secondary.refresh(primary, primaryRows, counts, cache);
  }

  @Override
  public void close() {
    cache.close();
    secondary.close();
  }
}
