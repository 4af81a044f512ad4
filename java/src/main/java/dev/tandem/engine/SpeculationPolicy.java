package dev.tandem.engine;

import java.util.List;

/**
 * Chooses, each round, how many drafts each running request gets (zero included), so that
 * speculation never makes a round slower than plain decoding.
 *
 * <p>A round's value is the tokens it is expected to emit divided by what it costs: with drafts
 * k_s for request s, each accepted with the request's rate a_s so far (drafts stand or fall as a
 * prefix, so E[accepted] = a + a^2 + ... + a^k), the round emits sum_s (1 + E_s) tokens and costs
 * one primary pass over sum_s (1 + k_s) rows plus one drafter step per draft index
 * ({@link PassCosts}). Plain decoding (every k_s = 0) is one of the choices, so the chosen round is
 * never worse than plain decoding under the cost model.
 *
 * <p>Greedy requests share one draft cap K chosen for the whole batch: their tokens do not depend
 * on how many drafts they get. A sampled request's tokens do (rejection sampling draws differently
 * after a draft than without one), so it always drafts what the block-length policy allows: its output
 * depends neither on what else runs nor on the costs measured on this machine (the cost model still
 * counts its rows when choosing K for the greedy ones).
 */
public final class SpeculationPolicy {
  /** How the draft counts are chosen. */
  public enum Mode {
    /** from the cost model (default) */
    ADAPTIVE,
    /** every speculating request drafts up to the block-length policy's maximum each round */
    FIXED
  }

  private static final double PRIOR_DRAFTS = 4;  // weight of the engine-wide rate in a request's estimate

  private final Mode mode;
  private final int maxDrafts;
  private final PassCosts costs;  // null in FIXED mode
  private long drafted;           // engine-wide draft tokens so far
  private long accepted;          // engine-wide accepted tokens so far

  SpeculationPolicy(Mode mode, int maxDrafts, PassCosts costs) {
    if (mode == Mode.ADAPTIVE && costs == null && maxDrafts > 0) {
      throw new IllegalArgumentException("the adaptive speculation policy needs pass costs");
    }
    this.mode = mode;
    this.maxDrafts = maxDrafts;
    this.costs = costs;
  }

  Mode mode() { return mode; }
  PassCosts costs() { return costs; }

  /** Records a verified round of the engine (the prior of requests with little history). */
  void recordRound(int drafts, int acceptedDrafts) {
    drafted += drafts;
    accepted += acceptedDrafts;
  }

  /**
   * Sets {@code s.k} of every decoding sequence, each at most {@code limits[i]} (its remaining
   * tokens and context, or 0 when it may not speculate).
   */
  void assign(List<Sequence> decoding, int[] limits) {
    int count = decoding.size();
    if (mode == Mode.FIXED || maxDrafts == 0) {
      for (int i = 0; i < count; i++) decoding.get(i).k = Math.min(maxDrafts, limits[i]);
      return;
    }
    double prior = (accepted + 0.5 * 8) / (drafted + 8.0);  // engine-wide rate, starting from 1/2
    double[] rate = new double[count];
    int[] fixedK = new int[count];  // sampled requests' own choice; -1 for greedy ones
    for (int i = 0; i < count; i++) {
      Sequence s = decoding.get(i);
      // A sampled request's tokens depend on its draft counts: it drafts what the block-length policy
      // allows, every round, so its output depends on nothing but itself (not the batch, not the
      // measured costs of this machine).
      rate[i] = s.acceptanceRate(prior, PRIOR_DRAFTS);
      fixedK[i] = s.request.sampling().isGreedy() ? -1 : limits[i];
    }
    int bestCap = 0;
    double bestValue = -1;
    int[] k = new int[count];
    for (int cap = 0; cap <= maxDrafts; cap++) {
      for (int i = 0; i < count; i++) k[i] = fixedK[i] >= 0 ? fixedK[i] : Math.min(cap, limits[i]);
      double value = value(k, rate);
      if (value > bestValue * (1 + 1e-9)) {
        bestValue = value;
        bestCap = cap;
      }
    }
    for (int i = 0; i < count; i++) decoding.get(i).k = fixedK[i] >= 0 ? fixedK[i] : Math.min(bestCap, limits[i]);
  }

  /** Expected tokens per second of a round with draft counts {@code k}. */
  private double value(int[] k, double[] rate) {
    double tokens = 0;
    int rows = 0, longest = 0;
    for (int i = 0; i < k.length; i++) {
      tokens += 1 + expectedAccepted(rate[i], k[i]);
      rows += 1 + k[i];
      longest = Math.max(longest, k[i]);
    }
    double seconds = costs.primary(rows);
    for (int step = 0; step < longest; step++) {
      int drafting = 0;
      for (int kk : k) if (kk > step) drafting++;
      seconds += costs.drafter(drafting);
    }
    return tokens / seconds;
  }

  /** a + a^2 + ... + a^k: the expected accepted drafts of k when each stands with probability a given the ones before. */
  static double expectedAccepted(double a, int k) {
    double sum = 0, term = 1;
    for (int i = 0; i < k; i++) {
      term *= a;
      sum += term;
    }
    return sum;
  }
}
