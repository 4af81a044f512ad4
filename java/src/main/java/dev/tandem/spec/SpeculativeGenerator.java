package dev.tandem.spec;

import dev.tandem.backend.Backend;
import dev.tandem.backend.BatchRows;
import dev.tandem.backend.KvCache;
import dev.tandem.backend.Tensor;
import dev.tandem.engine.GenerationRequest;
import dev.tandem.engine.GenerationResult.FinishReason;
import dev.tandem.engine.TokenListener;
import dev.tandem.model.Decoder;
import dev.tandem.model.LogitsMode;
import dev.tandem.sampling.Acceptance;
import dev.tandem.sampling.Philox;
import dev.tandem.sampling.RejectionSampler;
import dev.tandem.sampling.Sampler;
import dev.tandem.sampling.SamplingParams;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * SPEED: the drafter proposes a block, the primary scores it in one pass, the verifier accepts a
 * prefix and adds one primary token, and the drafter is brought back in line (DESIGN.md, "SPEED
 * loop"). Batches of sequences run together with ragged acceptance; each sequence's output is the
 * same as when it runs alone.
 *
 * <p>Invariant per sequence, between rounds: committed tokens t_0..t_{n-1}; the primary's cache
 * holds n-1 positions; t_{n-1} is pending (produced by the primary, not yet fed to it). A round:
 * <ol>
 *   <li>draft: the drafter is fed every committed token it has not seen (for the tandem secondary
 *       only the pending one; a plain draft model may also owe its last accepted draft), then its
 *       own drafts, one per step, until the block-length policy stops;
 *   <li>verify: one primary pass over [t_{n-1}, d_0..d_{k-1}], logits for every row;
 *   <li>accept: greedy prefix match or rejection sampling ({@link GreedyVerifier},
 *       {@link RejectionSampler}), giving a accepted drafts and one primary token x;
 *   <li>commit: the primary's cache is cut to n+a positions and the drafter is told which rows of
 *       the pass stand ({@link Drafter#afterPrimaryPass}); d_0..d_{a-1}, x are emitted.
 * </ol>
 *
 * <p>Rounds with a block length that does not read the drafter's logits (fixed gamma), for batches
 * that are all greedy or all sampled, keep the drafts on the backend ({@link #deviceRound}): each
 * draft step's token (the argmax, or a draw from the drafter's filtered distribution, which is kept
 * in a q table) goes into a draft table that the next step's rows and the verification pass read
 * there, and the acceptance (greedy, or rejection sampling) is computed where the primary's logits
 * are, so a round waits for the device once (on a GPU the host queues a whole round ahead). The
 * router and mixed batches read logits on the host every step ({@link #round}).
 */
public final class SpeculativeGenerator implements AutoCloseable {
  private final Decoder primary;
  private final Drafter drafter;
  private final BlockLengthPolicy policy;
  private final int slots;
  private final int vocab;
  private final KvCache primaryCache;
  private final BatchRows primaryRows;
  private final BatchRows drafterRows;
  private final int catchUpChunk;          // most rows one sequence feeds the drafter in a batched step
  private final float[] primaryLogits;     // [primary maxRows][vocab], host copy (sampling only)
  private final float[] drafterLogits;     // [drafter maxRows][vocab], host copy (sampling / router only)
  private final int[] primaryArgmax;       // [primary maxRows]
  private final int[] drafterArgmax;       // [drafter maxRows]
  private final int[] block;               // [maxDrafts + 1]: a verification block (host loop)
  private final Sampler sampler;
  private final RejectionSampler rejection;
  private final boolean standalone;
  // Greedy fixed-gamma rounds keep the drafts on the backend; TANDEM_SPEED_ROUNDS=host turns it off
  // (comparisons).
  private boolean deviceRounds = !"host".equalsIgnoreCase(System.getenv("TANDEM_SPEED_ROUNDS"));
  private Tensor draftTable;               // [slots][maxDrafts] token ids as floats (device rounds)
  private Tensor qTable;                   // [slots * maxDrafts][vocab] the drafter's distributions (sampled)
  private int[] acceptance;                // [slots][2 + maxDrafts] (device rounds)

  /** SPEED. */
  public SpeculativeGenerator(Decoder primary, Drafter drafter, BlockLengthPolicy policy) {
    this(primary, drafter, policy, false);
  }

  /**
   * @param primary the primary, built with {@code drafter.primaryCaptureLayers()} as its capture
   *                layers and at least slots x (maxDrafts + 1) rows per pass
   * @param drafter the drafter, with one cache slot per sequence of a batch
   * @param standalone Tandem generation as in the paper instead of SPEED: every draft is kept and
   *                   the primary only adds its own ("free") token after each block, so the output
   *                   is the tandem model's, not the primary's
   */
  public SpeculativeGenerator(Decoder primary, Drafter drafter, BlockLengthPolicy policy, boolean standalone) {
    this.standalone = standalone;
    this.primary = primary;
    this.drafter = drafter;
    this.policy = policy;
    this.vocab = primary.config().vocabSize();
    if (drafter.decoder().config().vocabSize() != vocab) {
      throw new IllegalArgumentException("the drafter's vocabulary has " + drafter.decoder().config().vocabSize()
          + " tokens, the primary's " + vocab + ": they must share one vocabulary");
    }
    if (!Arrays.equals(primary.captureLayers(), drafter.primaryCaptureLayers())) {
      throw new IllegalArgumentException("the primary captures layers " + Arrays.toString(primary.captureLayers())
          + " but the drafter reads " + Arrays.toString(drafter.primaryCaptureLayers()));
    }
    this.slots = drafter.cache().slots();
    int neededRows = slots * (policy.maxDrafts() + 1);
    if (primary.maxRows() < neededRows) {
      throw new IllegalArgumentException("the primary needs " + neededRows + " rows per pass for " + slots
          + " sequences and blocks of " + policy.maxDrafts() + " drafts; it has " + primary.maxRows());
    }
    if (drafter.primaryCaptureLayers().length > 0 && drafter.decoder().maxRows() < primary.maxRows()) {
      throw new IllegalArgumentException("a tandem drafter refreshes whole primary passes: it needs "
          + primary.maxRows() + " rows per pass, like the primary; it has " + drafter.decoder().maxRows());
    }
    if (drafter.decoder().maxRows() < 2 * slots) {
      throw new IllegalArgumentException("the drafter needs at least " + 2 * slots + " rows per pass");
    }
    this.catchUpChunk = drafter.decoder().maxRows() / slots;
    this.primaryCache = primary.newCache(slots);
    this.primaryRows = new BatchRows(primary.maxRows());
    this.drafterRows = new BatchRows(drafter.decoder().maxRows());
    this.primaryLogits = new float[primary.maxRows() * vocab];
    this.drafterLogits = new float[drafter.decoder().maxRows() * vocab];
    this.primaryArgmax = new int[primary.maxRows()];
    this.drafterArgmax = new int[drafter.decoder().maxRows()];
    this.block = new int[policy.maxDrafts() + 1];
    this.sampler = new Sampler(vocab);
    this.rejection = new RejectionSampler(vocab);
  }

  /**
   * Whether greedy rounds with a fixed block length keep the drafts on the backend (default true);
   * false runs every round through the host loop (comparisons and tests: both give the same tokens).
   */
  public void useDeviceRounds(boolean on) { this.deviceRounds = on; }

  public Drafter drafter() { return drafter; }
  public Decoder primary() { return primary; }
  public boolean standalone() { return standalone; }
  public BlockLengthPolicy policy() { return policy; }

  /** One sequence's state during a run. */
  private static final class Sequence {
    final int slot;
    final GenerationRequest request;
    final int[] committed;    // t_0..t_{n-1}
    int n;                    // committed tokens
    int generated;
    FinishReason finish;
    final int[] drafts;       // [maxDrafts]
    final float[][] q;        // [maxDrafts][vocab] (sampling only)
    int k;                    // drafts this round
    boolean drafting;
    final SpeedMetrics metrics = new SpeedMetrics();
    long decodeStart;

    Sequence(int slot, GenerationRequest request, int capacity, int maxDrafts, int vocab) {
      this.slot = slot;
      this.request = request;
      this.committed = new int[capacity + 1];
      System.arraycopy(request.prompt(), 0, committed, 0, request.prompt().length);
      this.n = request.prompt().length;
      this.drafts = new int[maxDrafts];
      this.q = request.sampling().isGreedy() ? null : new float[maxDrafts][vocab];
    }

    boolean active() { return finish == null; }
    int pendingPosition() { return n - 1; }
  }

  public List<SpeedResult> generate(List<GenerationRequest> requests, TokenListener listener) {
    return generate(requests, listener, new SpeedMetrics());
  }

  /** Runs the requests as one batch; batch-level times are added to {@code totals}. */
  public List<SpeedResult> generate(List<GenerationRequest> requests, TokenListener listener, SpeedMetrics totals) {
    validate(requests);
    int context = Math.min(primary.contextLength(), drafter.decoder().contextLength());
    List<Sequence> seqs = new ArrayList<>();
    for (int r = 0; r < requests.size(); r++) {
      seqs.add(new Sequence(r, requests.get(r), context, policy.maxDrafts(), vocab));
      primaryCache.setLength(r, 0);
      drafter.cache().setLength(r, 0);
    }
    for (Sequence s : seqs) prefill(s, listener, totals);
    boolean allGreedy = requests.stream().allMatch(r -> r.sampling().isGreedy());
    boolean allSampled = requests.stream().noneMatch(r -> r.sampling().isGreedy());
    boolean onDevice = deviceRounds && !standalone && !policy.needsLogits() && (allGreedy || allSampled)
        && drafter.decoder().backend() == primary.backend();
    if (onDevice) prepareDeviceRounds(requests, allSampled);
    long start = System.nanoTime();
    while (seqs.stream().anyMatch(Sequence::active)) {
      if (onDevice) deviceRound(seqs, context, listener, totals, allSampled);
      else round(seqs, context, listener, totals);
    }
    totals.decodeNanos += System.nanoTime() - start;
    List<SpeedResult> results = new ArrayList<>();
    for (Sequence s : seqs) {
      s.metrics.emittedTokens = s.generated;
      s.metrics.sequences = 1;
      totals.emittedTokens += s.generated;
      totals.sequences++;
      results.add(new SpeedResult(Arrays.copyOfRange(s.committed, s.request.prompt().length, s.n), s.finish,
          s.metrics));
    }
    return results;
  }

  private void validate(List<GenerationRequest> requests) {
    if (requests.isEmpty()) throw new IllegalArgumentException("no requests");
    if (requests.size() > slots) {
      throw new IllegalArgumentException(requests.size() + " requests exceed the " + slots + " sequences per batch");
    }
    int context = Math.min(primary.contextLength(), drafter.decoder().contextLength());
    for (int r = 0; r < requests.size(); r++) {
      GenerationRequest req = requests.get(r);
      if (req.prompt().length >= context) {
        throw new IllegalArgumentException("request " + r + ": the prompt has " + req.prompt().length
            + " tokens; the context length is " + context + " (the smaller of the primary's "
            + primary.contextLength() + " and the drafter's " + drafter.decoder().contextLength()
            + "), which leaves no room for a new token");
      }
      for (int token : req.prompt()) {
        if (token < 0 || token >= vocab) {
          throw new IllegalArgumentException("request " + r + ": token id " + token + " outside the vocabulary [0, "
              + vocab + ")");
        }
      }
    }
  }

  /** The primary processes the prompt (in chunks), the drafter follows, the primary picks the first token. */
  private void prefill(Sequence s, TokenListener listener, SpeedMetrics totals) {
    long start = System.nanoTime();
    int[] prompt = s.request.prompt();
    if (s.request.maxTokens() == 0) {
      s.finish = FinishReason.LENGTH;
      return;
    }
    int[] kept = new int[1];
    for (int done = 0; done < prompt.length; ) {
      int chunk = Math.min(primary.maxRows(), prompt.length - done);
      boolean last = done + chunk == prompt.length;
      primaryRows.clear();
      primaryRows.addSequence(s.slot, prompt, done, chunk, done);
      primary.forward(primaryRows, primaryCache, last ? LogitsMode.LAST : LogitsMode.NONE);
      s.metrics.primaryRuns++;
      kept[0] = chunk;
      long refreshStart = System.nanoTime();
      drafter.afterPrimaryPass(primary, primaryRows, kept);
      totals.refreshNanos += System.nanoTime() - refreshStart;
      done += chunk;
    }
    int token;
    if (s.request.sampling().isGreedy()) {
      primary.argmaxLogits(primaryArgmax);
      token = primaryArgmax[0];
    } else {
      primary.downloadLogits(primaryLogits);
      token = sampler.sample(primaryLogits, 0, s.request.sampling(), s.request.sequenceId(), prompt.length);
    }
    s.metrics.prefillNanos = System.nanoTime() - start;
    totals.prefillNanos += s.metrics.prefillNanos;
    s.decodeStart = System.nanoTime();
    emit(s, token, listener);
  }

  /** Sets each active sequence's most drafts this round; returns the largest. */
  private int planDrafts(List<Sequence> seqs, int context) {
    int maxK = 0;
    for (Sequence s : seqs) {
      if (!s.active()) continue;
      int remaining = s.request.maxTokens() - s.generated;
      s.k = Math.max(0, Math.min(policy.maxDrafts(), Math.min(remaining - 1, context - s.n)));
      s.drafting = s.k > 0;
      maxK = Math.max(maxK, s.k);
    }
    return maxK;
  }

  /** The draft table (and, for sampling, the q table and the per-slot parameters) on the backend. */
  private void prepareDeviceRounds(List<GenerationRequest> requests, boolean sampled) {
    Backend backend = primary.backend();
    if (draftTable == null) {
      draftTable = backend.allocate("SPEED draft table", slots, policy.maxDrafts());
      acceptance = new int[slots * (2 + policy.maxDrafts())];
      primaryRows.useDraftTable(draftTable);
      drafterRows.useDraftTable(draftTable);
    }
    if (sampled) {
      if (qTable == null) qTable = backend.allocate("SPEED draft distributions", slots * policy.maxDrafts(), vocab);
      SamplingParams[] params = new SamplingParams[requests.size()];
      long[] sequences = new long[requests.size()];
      for (int r = 0; r < requests.size(); r++) {  // request r holds cache slot r
        params[r] = requests.get(r).sampling();
        sequences[r] = requests.get(r).sequenceId();
      }
      backend.setSlotSampling(params, sequences, requests.size());
    }
  }

  /**
   * A round with the drafts kept on the backend: the draft steps (argmax, or a draw from the
   * drafter's filtered distribution, which stays on the backend too) and the verification pass are
   * queued without waiting, and {@link Decoder#greedyAccept} or {@link Decoder#rejectionAccept}
   * brings back, in one read, each sequence's accepted count, the primary's token and the drafts.
   */
  private void deviceRound(List<Sequence> seqs, int context, TokenListener listener, SpeedMetrics totals,
      boolean sampled) {
    long draftStart = System.nanoTime();
    int maxK = planDrafts(seqs, context);
    if (maxK > 0) {
      catchUp(seqs, totals);
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
          if (!(step + 1 < s.k && policy.continueDrafting(s.slot, step, null, 0))) {
            s.k = step + 1;
            s.drafting = false;
          }
        }
      }
    }
    totals.draftNanos += System.nanoTime() - draftStart;

    long verifyStart = System.nanoTime();
    List<Sequence> verified = verificationRows(seqs, true);
    primary.forward(primaryRows, primaryCache, LogitsMode.ALL);
    totals.primaryRuns++;
    if (sampled) primary.rejectionAccept(primaryRows, draftTable, qTable, acceptance);  // the round's one wait
    else primary.greedyAccept(primaryRows, draftTable, acceptance);
    int stride = 2 + policy.maxDrafts();
    int[] kept = new int[verified.size()];
    Acceptance[] verdicts = new Acceptance[verified.size()];
    for (int i = 0; i < verified.size(); i++) {
      Sequence s = verified.get(i);
      System.arraycopy(acceptance, i * stride + 2, s.drafts, 0, s.k);
      verdicts[i] = new Acceptance(acceptance[i * stride], acceptance[i * stride + 1]);
      kept[i] = settle(s, verdicts[i]);
    }
    totals.verifyNanos += System.nanoTime() - verifyStart;
    commit(verified, verdicts, kept, listener, totals);
  }

  private void round(List<Sequence> seqs, int context, TokenListener listener, SpeedMetrics totals) {
    long draftStart = System.nanoTime();
    int maxK = planDrafts(seqs, context);
    if (maxK > 0) {
      catchUp(seqs, totals);
      for (int step = 0; step < maxK; step++) {
        if (!draftStep(seqs, step, totals)) break;
      }
    }
    totals.draftNanos += System.nanoTime() - draftStart;

    long verifyStart = System.nanoTime();
    List<Sequence> verified = verificationRows(seqs, false);
    primary.forward(primaryRows, primaryCache, LogitsMode.ALL);
    totals.primaryRuns++;
    boolean anySampled = verified.stream().anyMatch(s -> !s.request.sampling().isGreedy());
    primary.argmaxLogits(primaryArgmax);
    if (anySampled) primary.downloadLogits(primaryLogits);
    int[] kept = new int[verified.size()];
    Acceptance[] verdicts = new Acceptance[verified.size()];
    for (int i = 0; i < verified.size(); i++) {
      Sequence s = verified.get(i);
      int first = primaryRows.sequenceStart(i);
      if (standalone) {
        verdicts[i] = new Acceptance(s.k, s.request.sampling().isGreedy() ? primaryArgmax[first + s.k]
            : sampler.sample(primaryLogits, (first + s.k) * vocab, s.request.sampling(), s.request.sequenceId(),
                s.n + s.k));
      } else {
        verdicts[i] = s.request.sampling().isGreedy()
            ? GreedyVerifier.verify(s.drafts, s.k, primaryArgmax, first)
            : rejection.verify(primaryLogits, first, s.drafts, s.q, s.k, s.request.sampling(), s.request.sequenceId(),
                s.n);
      }
      kept[i] = settle(s, verdicts[i]);
    }
    totals.verifyNanos += System.nanoTime() - verifyStart;
    commit(verified, verdicts, kept, listener, totals);
  }

  /**
   * Fills the primary's rows for the verification pass of every active sequence and returns those
   * sequences: the pending token, then the round's drafts, from the sequence's drafts on the host or,
   * with {@code fromTable}, from the draft table on the backend.
   */
  private List<Sequence> verificationRows(List<Sequence> seqs, boolean fromTable) {
    primaryRows.clear();
    List<Sequence> verified = new ArrayList<>();
    for (Sequence s : seqs) {
      if (!s.active()) continue;
      if (fromTable) {
        primaryRows.addSequenceWithDrafts(s.slot, s.committed, s.n - 1, 1, 0, s.k, s.pendingPosition());
      } else {
        block[0] = s.committed[s.n - 1];
        System.arraycopy(s.drafts, 0, block, 1, s.k);
        primaryRows.addSequence(s.slot, block, 0, s.k + 1, s.pendingPosition());
      }
      verified.add(s);
    }
    return verified;
  }

  /** Cuts the primary's cache to the sequence's kept rows and records the round; returns the kept rows. */
  private int settle(Sequence s, Acceptance verdict) {
    int kept = verdict.accepted() + 1;
    primaryCache.setLength(s.slot, s.pendingPosition() + kept);
    s.metrics.primaryRuns++;
    s.metrics.recordRound(s.k, verdict.accepted());
    return kept;
  }

  /** The drafter follows the verification pass; the accepted drafts and the primary's token are emitted. */
  private void commit(List<Sequence> verified, Acceptance[] verdicts, int[] kept, TokenListener listener,
      SpeedMetrics totals) {
    long refreshStart = System.nanoTime();
    drafter.afterPrimaryPass(primary, primaryRows, kept);
    totals.refreshNanos += System.nanoTime() - refreshStart;

    for (int i = 0; i < verified.size(); i++) {
      Sequence s = verified.get(i);
      totals.recordRound(s.k, verdicts[i].accepted());
      for (int d = 0; d < verdicts[i].accepted() && s.active(); d++) emit(s, s.drafts[d], listener);
      if (s.active()) emit(s, verdicts[i].next(), listener);
    }
  }

  /** Feeds the drafter, in chunks, the committed tokens it lags behind by more than one batched step can take. */
  private void catchUp(List<Sequence> seqs, SpeedMetrics totals) {
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
  private boolean draftStep(List<Sequence> seqs, int step, SpeedMetrics totals) {
    List<Sequence> stepping = draftRows(seqs, step, false);
    if (stepping.isEmpty()) return false;
    Decoder d = drafter.decoder();
    d.forward(drafterRows, drafter.cache(), LogitsMode.LAST);
    totals.drafterRuns++;
    boolean needLogits = policy.needsLogits()
        || stepping.stream().anyMatch(s -> !s.request.sampling().isGreedy());
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
          && policy.continueDrafting(s.slot, step, policy.needsLogits() ? drafterLogits : null, i * vocab);
      if (!more) {
        s.k = step + 1;
        s.drafting = false;
      }
    }
    return true;
  }

  /** Frees both models' buffers and caches. */
  @Override
  public void close() {
    if (draftTable != null) primary.backend().release(draftTable);
    if (qTable != null) primary.backend().release(qTable);
    primaryCache.close();
    primary.close();
    drafter.close();
  }

  private void emit(Sequence s, int token, TokenListener listener) {
    s.committed[s.n++] = token;
    s.generated++;
    listener.onToken(s.slot, token);
    if (token == s.request.stopToken()) {
      s.finish = FinishReason.STOP;
    } else if (s.generated >= s.request.maxTokens()) {
      s.finish = FinishReason.LENGTH;
    } else if (s.n - 1 >= Math.min(primary.contextLength(), drafter.decoder().contextLength())) {
      s.finish = FinishReason.CONTEXT;  // the new pending token has no position left
    }
    if (s.finish != null) s.metrics.decodeNanos = System.nanoTime() - s.decodeStart;
  }
}
