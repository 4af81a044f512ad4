package dev.tandem.engine;

import dev.tandem.backend.Backend;
import dev.tandem.backend.BatchRows;
import dev.tandem.backend.KvCache;
import dev.tandem.backend.Tensor;
import dev.tandem.model.Decoder;
import dev.tandem.model.LogitsMode;
import dev.tandem.sampling.Acceptance;
import dev.tandem.sampling.Philox;
import dev.tandem.sampling.RejectionSampler;
import dev.tandem.sampling.Sampler;
import dev.tandem.sampling.SamplingParams;
import dev.tandem.speculative.BlockLengthPolicy;
import dev.tandem.speculative.Drafter;
import dev.tandem.speculative.GreedyVerifier;
import dev.tandem.speculative.SpeedMetrics;
import java.util.ArrayList;
import java.util.List;

/**
 * Runs what the scheduler decided for one engine step on the models: a prefill pass over prompt
 * chunks, and a decoding round over the running sequences (DESIGN.md, "SPEED loop"):
 * <ol>
 *   <li>draft: sequences with k &gt; 0 feed the drafter every committed token it has not seen (for
 *       the tandem secondary only the pending one; a plain draft model may also owe its last
 *       accepted draft), then its own drafts, one per step, until k or the block-length policy stops;
 *   <li>verify: one primary pass over [t_{n-1}, d_0..d_{k-1}] of every running sequence (k = 0 is a
 *       plain decoding step);
 *   <li>accept: greedy prefix match or rejection sampling, giving a accepted drafts and one primary token;
 *   <li>commit: the primary's cache is cut to n+a positions, the drafter is told which rows of the pass
 *       stand ({@link Drafter#afterPrimaryPass}), and the tokens are emitted.
 * </ol>
 * A round where nobody drafts picks its tokens on the backend (only the ids leave it). Rounds with a
 * block length that does not read the drafter's logits, all greedy or all sampled, keep the drafts on
 * the backend ({@link #deviceRound}): each draft step's token goes into a draft table that the next
 * step's rows and the verification pass read there, and the acceptance is computed where the
 * primary's logits are, so a round waits for the device once. The router and mixed rounds read
 * logits on the host every step ({@link #hostRound}).
 */
final class ModelRunner implements AutoCloseable {
  /** Receives each emitted token; returns whether the sequence is still active afterwards. */
  interface Emitter {
    boolean emit(Sequence s, int token, boolean drafted);
  }

  private final Decoder primary;
  private final Drafter drafter;            // null: plain decoding only
  private final BlockLengthPolicy blocks;   // null without a drafter
  private final int slots;
  private final int vocab;
  private final boolean standalone;
  private final KvCache primaryCache;
  private final BatchRows primaryRows;
  private final BatchRows drafterRows;      // null without a drafter
  private final int catchUpChunk;           // most rows one sequence feeds the drafter in a batched step
  private final float[] primaryLogits;      // [primary maxRows][vocab], host copy (sampling only)
  private final float[] drafterLogits;      // [drafter maxRows][vocab], host copy (sampling / router only)
  private final int[] primaryTokens;        // [primary maxRows]: argmax or sampled ids
  private final int[] drafterArgmax;        // [drafter maxRows]
  private final int[] block;                // [maxDrafts + 1]: a verification block (host rounds)
  private final SamplingParams[] rowParams; // [primary maxRows]: each logits row's sampling parameters
  private final long[] rowSequences;        // [primary maxRows]
  private final int[] rowPositions;         // [primary maxRows]
  private final Sampler sampler;
  private final RejectionSampler rejection;
  private final SamplingParams[] slotParams;  // [slots]: what the backend's sampled device rounds use
  private final long[] slotSequences;         // [slots]
  private boolean slotSamplingChanged = true;
  private boolean deviceRounds = true;
  private Tensor draftTable;                // [slots][maxDrafts] token ids as floats (device rounds)
  private Tensor qTable;                    // [slots * maxDrafts][vocab] the drafter's distributions (sampled)
  private int[] acceptance;                 // [slots][2 + maxDrafts] (device rounds)
  final SpeedMetrics totals = new SpeedMetrics();

  /**
   * @param primary the primary, built with {@code drafter.primaryCaptureLayers()} as its capture
   *                layers and at least slots x (maxDrafts + 1) rows per pass
   * @param drafter the drafter with one cache slot per engine slot, or null
   * @param standalone Tandem generation as in the paper instead of SPEED: every draft is kept and the
   *                   primary only adds its own token after each block
   */
  ModelRunner(Decoder primary, Drafter drafter, BlockLengthPolicy blocks, int slots, boolean standalone) {
    this.primary = primary;
    this.drafter = drafter;
    this.blocks = drafter == null ? null : blocks;
    this.slots = slots;
    this.standalone = standalone;
    this.vocab = primary.config().vocabSize();
    int maxDrafts = maxDrafts();
    if (drafter != null) {
      if (drafter.decoder().config().vocabSize() != vocab) {
        throw new IllegalArgumentException("the drafter's vocabulary has " + drafter.decoder().config().vocabSize()
            + " tokens, the primary's " + vocab + ": they must share one vocabulary");
      }
      if (!java.util.Arrays.equals(primary.captureLayers(), drafter.primaryCaptureLayers())) {
        throw new IllegalArgumentException("the primary captures layers "
            + java.util.Arrays.toString(primary.captureLayers()) + " but the drafter reads "
            + java.util.Arrays.toString(drafter.primaryCaptureLayers()));
      }
      if (drafter.cache().slots() != slots) {
        throw new IllegalArgumentException("the drafter has " + drafter.cache().slots() + " cache slots, the engine " + slots);
      }
      if (drafter.primaryCaptureLayers().length > 0 && drafter.decoder().maxRows() < primary.maxRows()) {
        throw new IllegalArgumentException("a tandem drafter refreshes whole primary passes: it needs "
            + primary.maxRows() + " rows per pass, like the primary; it has " + drafter.decoder().maxRows());
      }
      if (drafter.decoder().maxRows() < 2 * slots) {
        throw new IllegalArgumentException("the drafter needs at least " + 2 * slots + " rows per pass");
      }
    }
    int neededRows = slots * (maxDrafts + 1);
    if (primary.maxRows() < neededRows) {
      throw new IllegalArgumentException("the primary needs " + neededRows + " rows per pass for " + slots
          + " sequences and blocks of " + maxDrafts + " drafts; it has " + primary.maxRows());
    }
    this.catchUpChunk = drafter == null ? 0 : drafter.decoder().maxRows() / slots;
    this.primaryCache = primary.newCache(slots);
    this.primaryRows = new BatchRows(primary.maxRows());
    this.drafterRows = drafter == null ? null : new BatchRows(drafter.decoder().maxRows());
    this.primaryLogits = new float[primary.maxRows() * vocab];
    this.drafterLogits = drafter == null ? null : new float[drafter.decoder().maxRows() * vocab];
    this.primaryTokens = new int[primary.maxRows()];
    this.drafterArgmax = drafter == null ? null : new int[drafter.decoder().maxRows()];
    this.block = new int[maxDrafts + 1];
    this.rowParams = new SamplingParams[primary.maxRows()];
    this.rowSequences = new long[primary.maxRows()];
    this.rowPositions = new int[primary.maxRows()];
    this.sampler = new Sampler(vocab);
    this.rejection = new RejectionSampler(vocab);
    this.slotParams = new SamplingParams[slots];
    this.slotSequences = new long[slots];
    java.util.Arrays.fill(slotParams, SamplingParams.greedy());
  }

  Decoder primary() { return primary; }
  Drafter drafter() { return drafter; }
  BlockLengthPolicy blockLengths() { return blocks; }
  boolean standalone() { return standalone; }
  int maxDrafts() { return blocks == null ? 0 : blocks.maxDrafts(); }
  int contextLength() {
    return drafter == null ? primary.contextLength() : Math.min(primary.contextLength(), drafter.decoder().contextLength());
  }
  int maxRows() { return primary.maxRows(); }
  int slots() { return slots; }
  KvCache primaryCache() { return primaryCache; }

  /** Whether suitable rounds keep drafts on the backend (default true; false: host rounds, for comparisons). */
  void useDeviceRounds(boolean on) { deviceRounds = on; }

  /** A sequence takes (or leaves) a slot: both caches start empty. */
  void resetSlot(Sequence s) {
    primaryCache.setLength(s.slot, 0);
    if (drafter != null) drafter.cache().setLength(s.slot, 0);
    s.processed = 0;
    slotParams[s.slot] = s.request.sampling();
    slotSequences[s.slot] = s.request.sequenceId();
    slotSamplingChanged = true;
  }

  /**
   * One primary pass over prompt chunks: sequence i feeds {@code chunks[i]} tokens from its
   * processed count. A sequence whose prompt completes picks its first token from the pass.
   */
  void prefill(List<Sequence> seqs, int[] chunks, Emitter emitter) {
    long start = System.nanoTime();
    primaryRows.clear();
    int[] kept = new int[seqs.size()];
    for (int i = 0; i < seqs.size(); i++) {
      Sequence s = seqs.get(i);
      primaryRows.addSequence(s.slot, s.committed, s.processed, chunks[i], s.processed);
      kept[i] = chunks[i];
    }
    primary.forward(primaryRows, primaryCache, LogitsMode.LAST);
    totals.primaryRuns++;
    for (int i = 0; i < seqs.size(); i++) {
      Sequence s = seqs.get(i);
      s.processed += chunks[i];
      s.metrics.primaryRuns++;
    }
    if (drafter != null) {
      long refreshStart = System.nanoTime();
      drafter.afterPrimaryPass(primary, primaryRows, kept);
      totals.refreshNanos += System.nanoTime() - refreshStart;
    }
    boolean anyFirst = false;
    for (int i = 0; i < seqs.size(); i++) {
      Sequence s = seqs.get(i);
      rowParams[i] = s.request.sampling();
      rowSequences[i] = s.request.sequenceId();
      rowPositions[i] = s.processed;  // where the first new token stands
      anyFirst |= s.generated == 0 && !s.prefilling();
    }
    if (anyFirst) pickTokens(seqs.size(), seqs);
    totals.prefillNanos += System.nanoTime() - start;
    for (int i = 0; i < seqs.size(); i++) {
      Sequence s = seqs.get(i);
      if (s.generated == 0 && !s.prefilling()) emitter.emit(s, primaryTokens[i], false);
    }
  }

  /** One decoding round over sequences whose {@code k} the policy set (each already limited). */
  void decodeRound(List<Sequence> seqs, Emitter emitter) {
    int maxK = 0;
    boolean allGreedy = true, allSampled = true;
    for (Sequence s : seqs) {
      s.drafting = s.k > 0;
      maxK = Math.max(maxK, s.k);
      allGreedy &= s.request.sampling().isGreedy();
      allSampled &= !s.request.sampling().isGreedy();
    }
    if (maxK == 0 && !standalone) {
      plainRound(seqs, emitter);
    } else if (deviceRounds && !standalone && !blocks.needsLogits() && (allGreedy || allSampled)
        && drafter.decoder().backend() == primary.backend()) {
      deviceRound(seqs, maxK, allSampled, emitter);
    } else {
      hostRound(seqs, maxK, emitter);
    }
  }

  /** No drafts: one row per sequence, tokens picked on the backend. */
  private void plainRound(List<Sequence> seqs, Emitter emitter) {
    long start = System.nanoTime();
    primaryRows.clear();
    for (int i = 0; i < seqs.size(); i++) {
      Sequence s = seqs.get(i);
      primaryRows.addSequence(s.slot, s.committed, s.n - 1, 1, s.pendingPosition());
      rowParams[i] = s.request.sampling();
      rowSequences[i] = s.request.sequenceId();
      rowPositions[i] = s.n;
    }
    primary.forward(primaryRows, primaryCache, LogitsMode.LAST);
    totals.primaryRuns++;
    pickTokens(seqs.size(), seqs);
    totals.verifyNanos += System.nanoTime() - start;
    Acceptance[] verdicts = new Acceptance[seqs.size()];
    for (int i = 0; i < seqs.size(); i++) {
      Sequence s = seqs.get(i);
      verdicts[i] = new Acceptance(0, primaryTokens[i]);
      settle(s, verdicts[i]);
    }
    // No refresh: a round without drafts leaves the drafter behind (a tandem secondary catches up
    // with its own states when drafting resumes), so a plain round costs what plain decoding costs.
    commit(seqs, verdicts, null, emitter);
  }

  /** Tokens of the last pass's logits rows 0..count, row i with rowParams[i]: argmax, or drawn on the backend. */
  private void pickTokens(int count, List<Sequence> seqs) {
    boolean anySampled = false;
    for (Sequence s : seqs) anySampled |= !s.request.sampling().isGreedy();
    if (anySampled) primary.sampleLogits(count, rowParams, rowSequences, rowPositions, primaryTokens);
    else primary.argmaxLogits(primaryTokens);
  }

  private void deviceRound(List<Sequence> seqs, int maxK, boolean sampled, Emitter emitter) {
    prepareDeviceRounds(sampled);
    long draftStart = System.nanoTime();
    catchUp(seqs);
    Decoder d = drafter.decoder();
    for (int step = 0; step < maxK; step++) {
      List<Sequence> stepping = draftRows(seqs, step, true);
      if (stepping.isEmpty()) break;
      d.forward(drafterRows, drafter.cache(), LogitsMode.LAST);
      if (sampled) d.sampleLogitsToDraftTable(drafterRows, draftTable, qTable, step);
      else d.argmaxLogitsToDraftTable(drafterRows, draftTable, step);
      totals.drafterRuns++;
      for (Sequence s : stepping) {
        s.metrics.drafterRuns++;
        if (!(step + 1 < s.k && blocks.continueDrafting(s.slot, step, null, 0))) {
          s.k = step + 1;
          s.drafting = false;
        }
      }
    }
    totals.draftNanos += System.nanoTime() - draftStart;

    long verifyStart = System.nanoTime();
    primaryRows.clear();
    for (Sequence s : seqs) primaryRows.addSequenceWithDrafts(s.slot, s.committed, s.n - 1, 1, 0, s.k, s.pendingPosition());
    primary.forward(primaryRows, primaryCache, LogitsMode.ALL);
    totals.primaryRuns++;
    if (sampled) primary.rejectionAccept(primaryRows, draftTable, qTable, acceptance);  // the round's one wait
    else primary.greedyAccept(primaryRows, draftTable, acceptance);
    int stride = 2 + maxDrafts();
    int[] kept = new int[seqs.size()];
    Acceptance[] verdicts = new Acceptance[seqs.size()];
    for (int i = 0; i < seqs.size(); i++) {
      Sequence s = seqs.get(i);
      System.arraycopy(acceptance, i * stride + 2, s.drafts, 0, s.k);
      verdicts[i] = new Acceptance(acceptance[i * stride], acceptance[i * stride + 1]);
      kept[i] = settle(s, verdicts[i]);
    }
    totals.verifyNanos += System.nanoTime() - verifyStart;
    commit(seqs, verdicts, kept, emitter);
  }

  /** The draft table (and, for sampling, the q table and the per-slot parameters) on the backend. */
  private void prepareDeviceRounds(boolean sampled) {
    Backend backend = primary.backend();
    if (draftTable == null) {
      draftTable = backend.allocate("SPEED draft table", slots, maxDrafts());
      acceptance = new int[slots * (2 + maxDrafts())];
      primaryRows.useDraftTable(draftTable);
      drafterRows.useDraftTable(draftTable);
    }
    if (sampled) {
      if (qTable == null) qTable = backend.allocate("SPEED draft distributions", slots * maxDrafts(), vocab);
      if (slotSamplingChanged) backend.setSlotSampling(slotParams, slotSequences, slots);
      slotSamplingChanged = false;
    }
  }

  private void hostRound(List<Sequence> seqs, int maxK, Emitter emitter) {
    long draftStart = System.nanoTime();
    if (maxK > 0) {
      catchUp(seqs);
      for (int step = 0; step < maxK; step++) {
        if (!draftStep(seqs, step)) break;
      }
    }
    totals.draftNanos += System.nanoTime() - draftStart;

    long verifyStart = System.nanoTime();
    primaryRows.clear();
    for (Sequence s : seqs) {
      block[0] = s.committed[s.n - 1];
      System.arraycopy(s.drafts, 0, block, 1, s.k);
      primaryRows.addSequence(s.slot, block, 0, s.k + 1, s.pendingPosition());
    }
    primary.forward(primaryRows, primaryCache, LogitsMode.ALL);
    totals.primaryRuns++;
    boolean anySampled = seqs.stream().anyMatch(s -> !s.request.sampling().isGreedy());
    primary.argmaxLogits(primaryTokens);
    if (anySampled) primary.downloadLogits(primaryLogits);
    int[] kept = new int[seqs.size()];
    Acceptance[] verdicts = new Acceptance[seqs.size()];
    for (int i = 0; i < seqs.size(); i++) {
      Sequence s = seqs.get(i);
      int first = primaryRows.sequenceStart(i);
      SamplingParams params = s.request.sampling();
      if (standalone) {
        verdicts[i] = new Acceptance(s.k, params.isGreedy() ? primaryTokens[first + s.k]
            : sampler.sample(primaryLogits, (first + s.k) * vocab, params, s.request.sequenceId(), s.n + s.k));
      } else {
        verdicts[i] = params.isGreedy()
            ? GreedyVerifier.verify(s.drafts, s.k, primaryTokens, first)
            : rejection.verify(primaryLogits, first, s.drafts, s.q, s.k, params, s.request.sequenceId(), s.n);
      }
      kept[i] = settle(s, verdicts[i]);
    }
    totals.verifyNanos += System.nanoTime() - verifyStart;
    commit(seqs, verdicts, kept, emitter);
  }

  /** Cuts the primary's cache to the sequence's kept rows and records the round; returns the kept rows. */
  private int settle(Sequence s, Acceptance verdict) {
    int kept = verdict.accepted() + 1;
    primaryCache.setLength(s.slot, s.pendingPosition() + kept);
    s.processed = s.pendingPosition() + kept;
    s.lastAccepted = verdict.accepted();
    s.metrics.primaryRuns++;
    if (s.k > 0) s.metrics.recordRound(s.k, verdict.accepted());
    return kept;
  }

  /** The drafter follows the verification pass; the accepted drafts and the primary's token are emitted. */
  private void commit(List<Sequence> seqs, Acceptance[] verdicts, int[] kept, Emitter emitter) {
    if (drafter != null && kept != null) {
      long refreshStart = System.nanoTime();
      drafter.afterPrimaryPass(primary, primaryRows, kept);
      totals.refreshNanos += System.nanoTime() - refreshStart;
    }
    for (int i = 0; i < seqs.size(); i++) {
      Sequence s = seqs.get(i);
      if (s.k > 0) totals.recordRound(s.k, verdicts[i].accepted());
      boolean active = true;
      for (int d = 0; d < verdicts[i].accepted() && active; d++) active = emitter.emit(s, s.drafts[d], true);
      if (active) emitter.emit(s, verdicts[i].next(), false);
    }
  }

  /** Feeds the drafter, in chunks, the committed tokens it lags behind by more than one batched step can take. */
  private void catchUp(List<Sequence> seqs) {
    for (Sequence s : seqs) {
      if (!s.drafting) continue;
      int seen = drafter.cache().length(s.slot);
      while (s.n - seen > catchUpChunk) {
        drafterRows.clear();
        drafterRows.addSequence(s.slot, s.committed, seen, catchUpChunk, seen);
        drafter.decoder().forward(drafterRows, drafter.cache(), LogitsMode.NONE);
        s.metrics.drafterRuns++;
        totals.drafterRuns++;
        seen += catchUpChunk;
      }
    }
  }

  /**
   * Fills the drafter's rows for draft step {@code step} of every sequence still drafting and returns
   * those sequences: at step 0 the committed tokens the drafter has not seen, later the previous
   * step's draft, from the sequence's drafts on the host or, with {@code fromTable}, from the draft
   * table on the backend.
   */
  private List<Sequence> draftRows(List<Sequence> seqs, int step, boolean fromTable) {
    drafterRows.clear();
    List<Sequence> stepping = new ArrayList<>();
    for (Sequence s : seqs) {
      if (!s.drafting) continue;
      if (step == 0) {
        int seen = drafter.cache().length(s.slot);
        drafterRows.addSequence(s.slot, s.committed, seen, s.n - seen, seen);
      } else if (fromTable) {
        drafterRows.addSequenceWithDrafts(s.slot, s.committed, 0, 0, step - 1, 1, s.n - 1 + step);
      } else {
        drafterRows.addSequence(s.slot, s.drafts, step - 1, 1, s.n - 1 + step);
      }
      stepping.add(s);
    }
    return stepping;
  }

  /** One drafter pass over every sequence still drafting; returns false when none was. */
  private boolean draftStep(List<Sequence> seqs, int step) {
    List<Sequence> stepping = draftRows(seqs, step, false);
    if (stepping.isEmpty()) return false;
    Decoder d = drafter.decoder();
    d.forward(drafterRows, drafter.cache(), LogitsMode.LAST);
    totals.drafterRuns++;
    boolean needLogits = blocks.needsLogits() || stepping.stream().anyMatch(s -> !s.request.sampling().isGreedy());
    d.argmaxLogits(drafterArgmax);
    if (needLogits) d.downloadLogits(drafterLogits);
    for (int i = 0; i < stepping.size(); i++) {
      Sequence s = stepping.get(i);
      s.metrics.drafterRuns++;
      SamplingParams params = s.request.sampling();
      int position = s.n + step;  // where this draft would stand
      if (params.isGreedy()) {
        s.drafts[step] = drafterArgmax[i];
      } else {
        sampler.distribution(drafterLogits, i * vocab, params, s.q[step]);
        s.drafts[step] = Sampler.draw(s.q[step],
            Philox.uniform(params.seed(), s.request.sequenceId(), position, RejectionSampler.STREAM_DRAFT));
      }
      boolean more = step + 1 < s.k
          && blocks.continueDrafting(s.slot, step, blocks.needsLogits() ? drafterLogits : null, i * vocab);
      if (!more) {
        s.k = step + 1;
        s.drafting = false;
      }
    }
    return true;
  }

  /**
   * Measures the cost model on an idle engine (no request holds a slot): primary passes of 1 to
   * {@code maxRows} rows of one sequence (with the tandem refresh they bring) and drafter steps of one
   * row for 1 to slots sequences.
   */
  PassCosts measureCosts(int repeats) {
    for (int slot = 0; slot < slots; slot++) {  // idle: whatever the caches hold belongs to nobody
      primaryCache.setLength(slot, 0);
      if (drafter != null) drafter.cache().setLength(slot, 0);
    }
    int maxPrimary = Math.min(primary.maxRows(), contextLength());
    int[] dummy = new int[maxPrimary];
    int[] kept = new int[1];
    java.util.function.IntToLongFunction primaryPass = rows -> {
      primaryRows.clear();
      primaryRows.addSequence(0, dummy, 0, rows, 0);
      long t0 = System.nanoTime();
      primary.forward(primaryRows, primaryCache, LogitsMode.ALL);
      primary.argmaxLogits(primaryTokens);
      if (drafter != null) {
        kept[0] = rows;
        drafter.afterPrimaryPass(primary, primaryRows, kept);
      }
      long t = System.nanoTime() - t0;
      primaryCache.setLength(0, 0);
      if (drafter != null) drafter.cache().setLength(0, 0);
      return t;
    };
    java.util.function.IntToLongFunction drafterStep = drafter == null ? null : rows -> {
      drafterRows.clear();
      for (int s = 0; s < rows; s++) drafterRows.addSequence(s, dummy, 0, 1, 0);
      long t0 = System.nanoTime();
      drafter.decoder().forward(drafterRows, drafter.cache(), LogitsMode.LAST);
      drafter.decoder().argmaxLogits(drafterArgmax);
      long t = System.nanoTime() - t0;
      for (int s = 0; s < rows; s++) drafter.cache().setLength(s, 0);
      return t;
    };
    return PassCosts.measure(maxPrimary, primaryPass, slots, drafterStep, repeats);
  }

  /** Frees both models' buffers and caches. */
  @Override
  public void close() {
    if (draftTable != null) primary.backend().release(draftTable);
    if (qTable != null) primary.backend().release(qTable);
    primaryCache.close();
    primary.close();
    if (drafter != null) drafter.close();
  }
}
