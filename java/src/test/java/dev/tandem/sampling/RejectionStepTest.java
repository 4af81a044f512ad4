package dev.tandem.sampling;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * Issue 18, item 11: one verification step of {@link RejectionSampler}, checked directly. The drafts'
 * chi-square over whole SPEED runs let through an acceptance of min(1, 1.25 p/q) and a residual of
 * max(0, p - 0.5 q). Here:
 *
 * <ol>
 *   <li><b>Exact, by enumeration of the random stream.</b> The random numbers are a function of (seed,
 *       sequence, position, stream), so for each of {@value #TRIALS} trials (sequence = trial) the test
 *       computes from {@link ReferenceSampling} (its own p, in double) what the step must return: the
 *       draft is accepted iff u_accept q(d) < p(d); else the correction is the draw of norm(max(0, p - q))
 *       at u_residual; after an acceptance the bonus is the draw of p at the next position. Every trial
 *       must agree. A change of the rule that alters the outcome for a fraction e of the random numbers
 *       goes unseen with probability (1 - e)^N: for e = 0.01 % and N = {@value #TRIALS}, e^-20.
 *   <li><b>Against the theory, by frequency.</b> With d drawn from q, the acceptance rate of each draft
 *       is min(1, p(d)/q(d)) and the first emitted token is distributed as p exactly. Each frequency must
 *       lie within 4.5 standard errors (sqrt(x (1 - x) / n)) of its expectation (a false alarm about
 *       once in 150,000 checks). With N = {@value #TRIALS}: a draft drawn with q = 0.35 (70,000 draws)
 *       whose acceptance should be 0.5 fails when off by 0.0085 (1.7 % relative); the share of a token
 *       with p = 0.25 fails when off by 0.0044 (1.7 % relative). The planted bugs shift acceptance by
 *       up to 25 % relative and the emitted distribution by several percent.
 * </ol>
 */
class RejectionStepTest {
  private static final int VOCAB = 6;
  private static final int TRIALS = 200_000;
  private static final long SEED = 2024;
  private static final int POSITION = 41;

  /** Primary logits for the draft's row and the bonus row, and the drafter's distribution q. */
  private static final float[] LOGITS = {1.2f, 0.3f, -0.4f, 0.9f, 0.0f, -1.5f, /* bonus row */ 0.2f, 1.1f, -0.3f,
      0.4f, 0.8f, -0.9f};
  private static final float[] Q = {0.10f, 0.30f, 0.05f, 0.35f, 0.15f, 0.05f};

  @Test
  void oneStepAgreesWithTheRuleForEveryRandomNumberAndWithTheTheoryInFrequency() {
    for (SamplingParams params : new SamplingParams[] {new SamplingParams(0.8f, 0, 1f, SEED),
        new SamplingParams(1.3f, 5, 0.95f, SEED)}) {
      double[] p = ReferenceSampling.distribution(LOGITS, 0, VOCAB, params.temperature(), params.topK(), params.topP());
      double[] pBonus = ReferenceSampling.distribution(LOGITS, VOCAB, VOCAB, params.temperature(), params.topK(),
          params.topP());
      double[] residual = new double[VOCAB];
      double mass = 0;
      for (int t = 0; t < VOCAB; t++) mass += residual[t] = Math.max(0, p[t] - Q[t]);
      for (int t = 0; t < VOCAB; t++) residual[t] /= mass;
      double[] qDouble = new double[VOCAB];
      for (int t = 0; t < VOCAB; t++) qDouble[t] = Q[t];

      RejectionSampler sampler = new RejectionSampler(VOCAB);
      long[] drafted = new long[VOCAB], accepted = new long[VOCAB], emitted = new long[VOCAB];
      int mismatches = 0;
      String firstMismatch = null;
      for (int trial = 0; trial < TRIALS; trial++) {
        int d = ReferenceSampling.draw(qDouble, Philox.uniform(SEED, trial, POSITION, Philox.STREAM_DRAFT));
        Acceptance a = sampler.verify(LOGITS, 0, new int[] {d}, new float[][] {Q}, 1, params, trial, POSITION);

        float uAccept = Philox.uniform(SEED, trial, POSITION, Philox.STREAM_ACCEPT);
        boolean accept = uAccept * (double) Q[d] < p[d];
        int next = accept
            ? ReferenceSampling.draw(pBonus, Philox.uniform(SEED, trial, POSITION + 1, Philox.STREAM_SAMPLE))
            : ReferenceSampling.draw(residual, Philox.uniform(SEED, trial, POSITION, Philox.STREAM_RESIDUAL));
        if (a.accepted() != (accept ? 1 : 0) || a.next() != next) {
          if (mismatches++ == 0) {
            firstMismatch = "trial " + trial + ": draft " + d + ", got " + a + ", expected accepted " + (accept ? 1 : 0)
                + " next " + next;
          }
        }
        drafted[d]++;
        if (a.accepted() == 1) accepted[d]++;
        emitted[a.accepted() == 1 ? d : a.next()]++;
      }
      assertThat(mismatches).as("%s: trials that differ from the rule (first: %s)", params, firstMismatch).isZero();

      for (int d = 0; d < VOCAB; d++) {
        if (drafted[d] == 0) continue;
        double expected = Math.min(1, p[d] / Q[d]);
        double rate = accepted[d] / (double) drafted[d];
        double bound = 4.5 * Math.sqrt(Math.max(expected * (1 - expected), 1e-4) / drafted[d]);
        assertThat(rate).as("%s: acceptance of draft %d over %d draws (expected min(1, p/q) = %.4f +- %.4f)", params,
            d, drafted[d], expected, bound).isCloseTo(expected, org.assertj.core.data.Offset.offset(bound));
      }
      for (int t = 0; t < VOCAB; t++) {
        double freq = emitted[t] / (double) TRIALS;
        double bound = 4.5 * Math.sqrt(Math.max(p[t] * (1 - p[t]), 1e-5) / TRIALS);
        assertThat(freq).as("%s: share of token %d emitted first (expected p = %.4f +- %.4f)", params, t, p[t], bound)
            .isCloseTo(p[t], org.assertj.core.data.Offset.offset(bound));
      }
    }
  }
}
