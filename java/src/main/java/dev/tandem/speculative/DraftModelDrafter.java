package dev.tandem.speculative;

import dev.tandem.backend.Backend;
import dev.tandem.backend.BatchRows;
import dev.tandem.backend.KvCache;
import dev.tandem.model.Decoder;
import dev.tandem.model.ModelWeights;

/**
 * A plain draft model: an ordinary small decoder with its own KV for every position. It never
 * reads the primary; after a pass it only drops its entries for rejected drafts. It may lag behind
 * the committed tokens (it never ran on its last draft), which the loop makes up with a catch-up
 * block before its next draft.
 */
public final class DraftModelDrafter implements Drafter {
  private final Decoder decoder;
  private final KvCache cache;

  public DraftModelDrafter(ModelWeights weights, Backend backend, int contextLength, int maxRows, int slots) {
    this.decoder = new Decoder(weights, backend, contextLength, maxRows);
    this.cache = decoder.newCache(slots);
  }

  @Override public Decoder decoder() { return decoder; }
  @Override public KvCache cache() { return cache; }
  @Override public int[] primaryCaptureLayers() { return new int[0]; }
  @Override public String kind() { return "draft-model"; }

  @Override
  public void afterPrimaryPass(Decoder primary, BatchRows primaryRows, int[] kept) {
    for (int s = 0; s < primaryRows.sequenceCount(); s++) {
      int slot = primaryRows.sequenceSlot(s);
      int committedEnd = primaryRows.position(primaryRows.sequenceStart(s)) + kept[s];
      if (cache.length(slot) > committedEnd) cache.setLength(slot, committedEnd);
    }
  }

  @Override
  public void close() {
    cache.close();
    decoder.close();
  }
}
