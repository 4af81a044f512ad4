package dev.tandem.train.data;

import java.util.SplittableRandom;

/**
 * A token stream packed into training sequences: sequence i is tokens [i*T, i*T + T] (T + 1 tokens: the
 * inputs are the first T, the targets the last T), so consecutive sequences tile the stream without
 * overlap of targets. Batches are drawn epoch by epoch in a shuffled order: epoch e visits the sequences
 * in a permutation seeded by (seed, e). The whole state of the draw is one number, the <b>cursor</b> (how
 * many sequences have been handed out), which a checkpoint stores; a resumed run continues exactly.
 */
public final class PackedSequences {
  private final int[] stream;
  private final int seqLen;
  private final int count;
  private final long seed;
  private int[] order;     // the permutation of the current epoch
  private long orderEpoch = -1;

  public PackedSequences(int[] stream, int seqLen, long seed) {
    if (seqLen < 1) throw new IllegalArgumentException("sequence length must be >= 1");
    this.stream = stream;
    this.seqLen = seqLen;
    this.count = Math.max(0, (stream.length - 1) / seqLen);
    this.seed = seed;
  }

  /** Number of sequences. */
  public int count() {
    return count;
  }

  public int seqLen() {
    return seqLen;
  }

  /** Tokens covered by the sequences (count * seqLen targets). */
  public long tokens() {
    return (long) count * seqLen;
  }

  /** Copies sequence i: inputs into {@code inputs[at..at+T)}, targets into {@code targets[at..at+T)}. */
  public void copy(int i, int[] inputs, int[] targets, int at) {
    System.arraycopy(stream, i * seqLen, inputs, at, seqLen);
    System.arraycopy(stream, i * seqLen + 1, targets, at, seqLen);
  }

  /** The sequence index that the cursor position {@code c} draws. */
  public int sequenceAt(long c) {
    if (count == 0) throw new IllegalStateException("the text is too short for one sequence of " + seqLen + " tokens");
    long epoch = c / count;
    if (epoch != orderEpoch) {
      order = permutation(count, seed * 0x9E3779B97F4A7C15L + epoch);
      orderEpoch = epoch;
    }
    return order[(int) (c % count)];
  }

  /** Fills a batch of {@code batch} sequences from cursor position {@code cursor}; returns the new cursor. */
  public long fill(long cursor, int batch, int[] inputs, int[] targets) {
    for (int b = 0; b < batch; b++) copy(sequenceAt(cursor + b), inputs, targets, b * seqLen);
    return cursor + batch;
  }

  static int[] permutation(int n, long seed) {
    int[] p = new int[n];
    for (int i = 0; i < n; i++) p[i] = i;
    SplittableRandom random = new SplittableRandom(seed);
    for (int i = n - 1; i > 0; i--) {
      int j = random.nextInt(i + 1);
      int t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }
}
