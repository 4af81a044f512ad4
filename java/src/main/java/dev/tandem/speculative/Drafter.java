package dev.tandem.speculative;

import dev.tandem.backend.BatchRows;
import dev.tandem.backend.KvCache;
import dev.tandem.model.Decoder;

/**
 * The small model that proposes drafts: its decoder and KV cache (one slot per sequence, the same
 * slots as the primary's), and what it does after each primary pass. The speculative loop feeds it
 * tokens; a drafter only keeps its cache consistent with what was committed.
 */
public interface Drafter extends AutoCloseable {
  Decoder decoder();

  KvCache cache();

  /** The primary layers whose residual streams the primary must capture for this drafter. */
  int[] primaryCaptureLayers();

  /**
   * Called after every primary pass (prefill chunks and verification blocks): of each sequence s
   * of {@code primaryRows}, the first {@code kept[s]} rows are now committed and the primary's
   * cache ends after them. The tandem secondary rewrites those positions from the primary's states;
   * a plain draft model drops whatever it holds beyond them.
   */
  void afterPrimaryPass(Decoder primary, BatchRows primaryRows, int[] kept);

  /** "tandem" or "draft-model", for reports. */
  String kind();

  @Override
  void close();
}
