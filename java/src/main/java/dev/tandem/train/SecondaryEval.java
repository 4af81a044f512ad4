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
    int batch = a.batch(), seqLen = a.seqLen(), vocab = step.student.config.vocabSize();
    int n = Math.min(maxSequences, data.count());
    long positions = 0, correct = 0, agree = 0, primaryCorrect = 0;
    double ce = 0, tv = 0, primaryCe = 0;
    for (int start = 0; start < n; start += batch) {
      int used = Math.min(batch, n - start);
      for (int b = 0; b < batch; b++) {
        data.copy(start + Math.min(b, used - 1), step.inputs(), step.targets(), b * seqLen);
        step.gammas()[b] = blockLength;
      }
      step.forwardOnly();
      float[] q = step.studentLogits(), p = step.primaryLogits();
      int[] targets = step.targets();
      for (int row = 0; row < used * seqLen; row++) {
        int pos = row % seqLen;
        if (pos < AttentionOp.boundary(pos, blockLength)) continue;
        int at = row * vocab, target = targets[row];
        int qArg = Sampler.argmax(q, at, vocab), pArg = Sampler.argmax(p, at, vocab);
        positions++;
        if (qArg == target) correct++;
        if (pArg == target) primaryCorrect++;
        if (qArg == pArg) agree++;
        ce += CrossEntropyOp.logSumExp(q, at, vocab) - q[at + target];
        primaryCe += CrossEntropyOp.logSumExp(p, at, vocab) - p[at + target];
        tv += RouterTrainer.totalVariation(q, p, at, vocab);
      }
    }
    return new Metrics(positions, (double) correct / positions, ce / positions, (double) agree / positions,
        tv / positions, (double) primaryCorrect / positions, primaryCe / positions);
  }
}
