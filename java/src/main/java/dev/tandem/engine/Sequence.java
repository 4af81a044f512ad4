package dev.tandem.engine;

import dev.tandem.speculative.SpeedMetrics;
import dev.tandem.tokenizer.Tokenizer;

/**
 * One request's state inside the engine, from admission to retirement.
 *
 * <p>Invariant between steps once prefilled (DESIGN.md, "SPEED loop"): committed tokens
 * t_0..t_{n-1}; the primary's cache holds n-1 positions; t_{n-1} is pending (produced by the
 * primary, not yet fed to it). Before that, the primary has processed {@link #processed} of the
 * {@link #prefillTarget()} positions it must process (the prompt, or after a preemption everything
 * committed but the pending token).
 */
final class Sequence {
  final RequestHandle handle;
  final GenerationRequest request;
  final TokenStream stream;
  final OutputText text;
  final SpeedMetrics metrics = new SpeedMetrics();
  final int[] committed;    // [context + 1]: t_0..t_{n-1}
  final int[] drafts;       // [maxDrafts]: this round's drafts
  final float[][] q;        // [maxDrafts][vocab]: the drafter's distributions (sampled requests only)
  final boolean[] draftedToken;  // scratch of commit: which emitted tokens were drafts
  int n;                    // committed tokens
  int generated;            // tokens generated (n - prompt length)
  int processed;            // positions the primary holds (its cache length for this slot)
  int slot = -1;            // KV slot while running, -1 while waiting
  long admitOrder;          // when it was (last) admitted: the newest is preempted first
  int k;                    // drafts this round
  int lastAccepted;         // drafts accepted in the last round
  boolean drafting;         // still drafting in this round
  FinishReason finish;
  volatile boolean cancelRequested;
  final long arrivalNanos;
  long firstTokenNanos;
  long finishNanos;
  int preemptions;

  Sequence(RequestHandle handle, TokenStream stream, Tokenizer tokenizer, int context, int maxDrafts, int vocab) {
    this.handle = handle;
    this.request = handle.request();
    this.stream = stream;
    this.text = new OutputText(tokenizer, request.stopStrings());
    this.committed = new int[context + 1];
    System.arraycopy(request.prompt(), 0, committed, 0, request.prompt().length);
    this.n = request.prompt().length;
    this.drafts = new int[maxDrafts];
    this.q = request.sampling().isGreedy() || maxDrafts == 0 ? null : new float[maxDrafts][vocab];
    this.draftedToken = new boolean[maxDrafts + 1];
    this.arrivalNanos = System.nanoTime();
  }

  boolean active() { return finish == null; }

  /** Positions the primary must hold before decoding rounds: the prompt, or all but the pending token. */
  int prefillTarget() { return generated == 0 ? n : n - 1; }

  boolean prefilling() { return processed < prefillTarget(); }

  int pendingPosition() { return n - 1; }

  /** Draft acceptance so far: accepted / drafted, with {@code prior} drafts at rate {@code priorRate} added. */
  double acceptanceRate(double priorRate, double prior) {
    return (metrics.acceptedTokens + priorRate * prior) / (metrics.draftTokens + prior);
  }
}
