package dev.tandem.sampling;

import java.util.Arrays;
import java.util.Comparator;

/**
 * The sampling procedure written again, in double precision and without {@link Sampler}'s code, from
 * its definition: z = logits / T; top-k keeps the k largest z (lower id first on ties); softmax over
 * the kept; top-p keeps the smallest prefix, by descending probability, whose mass reaches topP;
 * renormalise. Tests compare the engine against this.
 */
public final class ReferenceSampling {
  private ReferenceSampling() {}

  public static double[] distribution(float[] logits, int offset, int vocab, double temperature, int topK, double topP) {
    double[] z = new double[vocab];
    for (int i = 0; i < vocab; i++) z[i] = logits[offset + i] / temperature;
    Integer[] ids = new Integer[vocab];
    for (int i = 0; i < vocab; i++) ids[i] = i;
    Arrays.sort(ids, Comparator.<Integer>comparingDouble(i -> -z[i]).thenComparingInt(i -> i));
    int kept = topK > 0 ? Math.min(topK, vocab) : vocab;
    double[] p = new double[vocab];
    double sum = 0;
    for (int r = 0; r < kept; r++) {
      p[ids[r]] = Math.exp(z[ids[r]] - z[ids[0]]);
      sum += p[ids[r]];
    }
    if (topP < 1) {
      double mass = 0;
      int nucleus = 0;
      while (nucleus < kept && mass < topP * sum) mass += p[ids[nucleus++]];
      for (int r = nucleus; r < kept; r++) p[ids[r]] = 0;
      sum = mass;
    }
    for (int i = 0; i < vocab; i++) p[i] /= sum;
    return p;
  }

  /** The first id, in id order, at which the running sum of p exceeds u (the last positive one otherwise). */
  public static int draw(double[] p, double u) {
    double running = 0;
    int last = -1;
    for (int i = 0; i < p.length; i++) {
      if (p[i] > 0) {
        running += p[i];
        last = i;
        if (running > u) return i;
      }
    }
    return last;
  }
}
