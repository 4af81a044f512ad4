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

  @Override
  public void afterPrimaryPass(Decoder primary, BatchRows primaryRows, int[] kept) {
    secondary.refresh(primary, primaryRows, kept, cache);
  }

  @Override
  public void close() {
    cache.close();
    secondary.close();
  }
}
