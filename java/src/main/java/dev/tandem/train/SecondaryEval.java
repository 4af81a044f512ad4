package dev.tandem.train;

import dev.tandem.sampling.Sampler;
import dev.tandem.train.data.PackedSequences;
import java.util.Locale;

/**
 * Held-out quality of a small model against its primary, in training form (what Table 1 of the paper
 * reports), on the draft positions {@code p >= b(p)} of block length gamma (the positions a tandem
 * secondary predicts at inference; plain drafters are scored on the same positions):
 * <ul>
 *   <li>accuracy: argmax of the small model = the next token;</li>
 *   <li>cross-entropy: -log q(next token), nats;</li>
 *   <li>relative accuracy: argmax of the small model = argmax of the primary (agreement);</li>
 *   <li>TV distance: 0.5 sum_v |q(v) - p(v)|, averaged;</li>
 *   <li>and the primary's own accuracy and cross-entropy on the same positions.</li>
 * </ul>
 * A later {@code tandem eval} compares these with the inference form (incremental, refreshed caches).
 */
public final class SecondaryEval {
  private SecondaryEval() {}

  public record Metrics(long positions, double accuracy, double crossEntropy, double relativeAccuracy,
      double tvDistance, double primaryAccuracy, double primaryCrossEntropy) {
    @Override
    public String toString() {
      return String.format(Locale.ROOT, "accuracy %.2f%%, CE %.4f, relative accuracy %.2f%%, TV %.4f (primary: accuracy"
          + " %.2f%%, CE %.4f; %d positions)", 100 * accuracy, crossEntropy, 100 * relativeAccuracy, tvDistance,
          100 * primaryAccuracy, primaryCrossEntropy, positions);
    }
  }

  /** Scores the step's student against its primary on the first {@code maxSequences} sequences. */
  public static Metrics evaluate(LanguageModelStep step, PackedSequences data, int maxSequences, int blockLength) {
    if (step.primary == null) throw new IllegalArgumentException("evaluation against the primary needs the primary");
    var a = step.activations();
    return evaluateAll(step.gemm(), step.primary, java.util.List.of(step.student), data, maxSequences, a.batch(),
        new int[] {blockLength})[0][0];
  }

  /**
   * Scores several small models against one primary, for several block lengths, sharing the primary's
   * forward pass: result[g][s] for blockLengths[g] and secondaries[s]. A plain model's forward does not
   * depend on gamma (only the scored positions do), a tandem model runs once per gamma.
   */
  public static Metrics[][] evaluateAll(Gemm gemm, TrainModel primary, java.util.List<TrainModel> secondaries,
      PackedSequences data, int maxSequences, int batch, int[] blockLengths) {
    int seqLen = data.seqLen(), rows = batch * seqLen, vocab = primary.config.vocabSize();
    Activations pa = new Activations(primary.config, false, batch, seqLen, false);
    float[][] hP = new float[primary.config.numHiddenLayers() + 1][];
    Activations[] sa = new Activations[secondaries.size()];
    for (int s = 0; s < sa.length; s++) {
      TrainModel m = secondaries.get(s);
      if (m.config.vocabSize() != vocab) throw new IllegalArgumentException("a secondary's vocabulary differs");
      sa[s] = new Activations(m.config, m.isTandem(), batch, seqLen, false);
      if (m.isTandem()) for (int l : m.primaryLayersRead()) if (hP[l] == null) hP[l] = new float[rows * primary.config.hiddenSize()];
    }
    long[][] positions = new long[blockLengths.length][sa.length], correct = new long[blockLengths.length][sa.length];
    long[][] agree = new long[blockLengths.length][sa.length], primaryCorrect = new long[blockLengths.length][sa.length];
    double[][] ce = new double[blockLengths.length][sa.length], tv = new double[blockLengths.length][sa.length];
    double[][] primaryCe = new double[blockLengths.length][sa.length];
    int[] targets = new int[rows];
    int n = Math.min(maxSequences, data.count());
    for (int start = 0; start < n; start += batch) {
      int used = Math.min(batch, n - start);
      for (int b = 0; b < batch; b++) data.copy(start + Math.min(b, used - 1), pa.tokens, targets, b * seqLen);
      primary.forward(gemm, pa, null, hP);
      float[] p = pa.logits;
      for (int s = 0; s < sa.length; s++) {
        TrainModel m = secondaries.get(s);
        System.arraycopy(pa.tokens, 0, sa[s].tokens, 0, rows);
        for (int g = 0; g < blockLengths.length; g++) {
          if (m.isTandem() || g == 0) {
            java.util.Arrays.fill(sa[s].gammas, blockLengths[g]);
            m.forward(gemm, sa[s], hP, null);
          }
          float[] q = sa[s].logits;
          for (int row = 0; row < used * seqLen; row++) {
            int pos = row % seqLen;
            if (pos < AttentionOp.boundary(pos, blockLengths[g])) continue;
            int at = row * vocab, target = targets[row];
            int qArg = Sampler.argmax(q, at, vocab), pArg = Sampler.argmax(p, at, vocab);
            positions[g][s]++;
            if (qArg == target) correct[g][s]++;
            if (pArg == target) primaryCorrect[g][s]++;
            if (qArg == pArg) agree[g][s]++;
            ce[g][s] += CrossEntropyOp.logSumExp(q, at, vocab) - q[at + target];
            primaryCe[g][s] += CrossEntropyOp.logSumExp(p, at, vocab) - p[at + target];
            tv[g][s] += RouterTrainer.totalVariation(q, p, at, vocab);
          }
        }
      }
    }
    Metrics[][] out = new Metrics[blockLengths.length][sa.length];
    for (int g = 0; g < blockLengths.length; g++) {
      for (int s = 0; s < sa.length; s++) {
        double k = positions[g][s];
        out[g][s] = new Metrics(positions[g][s], correct[g][s] / k, ce[g][s] / k, agree[g][s] / k, tv[g][s] / k,
            primaryCorrect[g][s] / k, primaryCe[g][s] / k);
      }
    }
    return out;
  }
}
