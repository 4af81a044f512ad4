package dev.tandem.sampling;


/**
 * Speculative sampling (Leviathan et al. 2023; Chen et al. 2023): draft d_i drawn from the drafter's
 * q_i is kept with probability min(1, p_i(d_i) / q_i(d_i)); at the first rejection the token is
 * drawn from norm(max(0, p_i - q_i)); after k acceptances the bonus token is drawn from p_k. The
 * emitted tokens are distributed exactly as the primary's samples (p being the primary's filtered
 * distribution under the same sampling parameters).
 *
 * <p>Random numbers come from the counter-based generator keyed by (seed, sequence, position of
 * the token decided, stream): {@link Philox#STREAM_ACCEPT} for the test, {@link
 * Philox#STREAM_RESIDUAL} for a correction, {@link Philox#STREAM_SAMPLE} for the bonus token; the
 * drafter draws d_i with {@link #STREAM_DRAFT}. Each (position, stream) is used at most once.
 */
public final class RejectionSampler {
  /** The drafter's draws. */
  public static final int STREAM_DRAFT = Philox.STREAM_DRAFT;

  private final Sampler sampler;
  private final float[] p;         // [vocab]: the primary's distribution at one row
  private final float[] residual;  // [vocab]

  public int vocabSize() {
    return sampler.vocabSize();
  }

  public RejectionSampler(int vocabSize) {
    this.sampler = new Sampler(vocabSize);
    this.p = new float[vocabSize];
    this.residual = new float[vocabSize];
  }

  /**
   * @param logits        the primary's logits, row {@code first + i} scoring the position of d_i
   * @param q             q[i] = the drafter's distribution d_i was drawn from
   * @param firstPosition position of d_0 in the sequence
   */
  public Acceptance verify(float[] logits, int first, int[] drafts, float[][] q, int k, SamplingParams params,
      long sequence, int firstPosition) {
    int vocab = sampler.vocabSize();
    for (int i = 0; i < k; i++) {
      int position = firstPosition + i;
      sampler.distribution(logits, (first + i) * vocab, params, p);
      int d = drafts[i];
      float u = Philox.uniform(params.seed(), sequence, position, Philox.STREAM_ACCEPT);
      if (u * q[i][d] < p[d]) continue;  // accept with probability min(1, p/q)
      double mass = 0;
      for (int t = 0; t < vocab; t++) {
        float r = Math.max(0f, p[t] - q[i][t]);
        residual[t] = r;
        mass += r;
      }
      if (mass <= 0) {
        // p == q up to rounding: the rejection had probability ~0; fall back to p itself.
        System.arraycopy(p, 0, residual, 0, vocab);
        mass = 1;
      }
      float inverse = (float) (1.0 / mass);
      for (int t = 0; t < vocab; t++) residual[t] *= inverse;
      int correction = Sampler.draw(residual, Philox.uniform(params.seed(), sequence, position, Philox.STREAM_RESIDUAL));
      return new Acceptance(i, correction);
    }
    sampler.distribution(logits, (first + k) * vocab, params, p);
    int bonus = Sampler.draw(p, Philox.uniform(params.seed(), sequence, firstPosition + k, Philox.STREAM_SAMPLE));
    return new Acceptance(k, bonus);
  }
}
