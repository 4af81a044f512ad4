package dev.tandem.speculative;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.backend.BatchRows;
import dev.tandem.backend.KvCache;
import dev.tandem.model.Decoder;
import dev.tandem.model.LogitsMode;
import dev.tandem.sampling.Sampler;
import java.util.function.Consumer;

/**
 * The paper's Table 1 metrics for a drafter (tandem secondary or plain draft model) on text, teacher
 * forced: next-token accuracy against the text, cross-entropy, relative accuracy (agreement with the
 * primary's argmax) and the mean total-variation distance to the primary's distribution.
 *
 * <p>The text is cut into windows. In each window the primary runs in blocks of gamma positions, as
 * in Tandem generation; the drafter predicts the positions p = b .. b + gamma - 2 of each block
 * starting at b, i.e. the tokens the secondary generates between the primary's free tokens (for a
 * tandem secondary: with the primary's states of every earlier block and its own for the block).
 * A plain draft model is evaluated at the same positions, on its own states.
 */
public final class DrafterEvaluation {
  /** One evaluated position. */
  public record Position(int position, int trueToken, int drafterArgmax, int primaryArgmax, double drafterLogProb,
      double primaryLogProb, double totalVariation) {}

  /** Running sums. */
  public static final class Totals {
    public long positions;
    public long drafterCorrect;
    public long primaryCorrect;
    public long agreement;
    public double drafterNll;
    public double primaryNll;
    public double totalVariation;

    void add(Position p) {
      positions++;
      if (p.drafterArgmax() == p.trueToken()) drafterCorrect++;
      if (p.primaryArgmax() == p.trueToken()) primaryCorrect++;
      if (p.drafterArgmax() == p.primaryArgmax()) agreement++;
      drafterNll -= p.drafterLogProb();
      primaryNll -= p.primaryLogProb();
      totalVariation += p.totalVariation();
    }

    public double accuracy() { return (double) drafterCorrect / positions; }
    public double crossEntropy() { return drafterNll / positions; }
    public double relativeAccuracy() { return (double) agreement / positions; }
    public double meanTotalVariation() { return totalVariation / positions; }
    public double primaryAccuracy() { return (double) primaryCorrect / positions; }
    public double primaryCrossEntropy() { return primaryNll / positions; }

    public ObjectNode toJson() {
      ObjectNode n = JsonNodeFactory.instance.objectNode();
      n.put("positions", positions);
      n.put("accuracy", accuracy());
      n.put("cross_entropy", crossEntropy());
      n.put("relative_accuracy", relativeAccuracy());
      n.put("total_variation", meanTotalVariation());
      n.put("primary_accuracy", primaryAccuracy());
      n.put("primary_cross_entropy", primaryCrossEntropy());
      return n;
    }
  }

  private final Decoder primary;
  private final Drafter drafter;
  private final int gamma;
  private final int vocab;
  private final float[] primaryLogits;
  private final float[] drafterLogits;
  private final float[] p;
  private final float[] q;

  /** primary: built with the drafter's capture layers and at least gamma rows; drafter: one slot. */
  public DrafterEvaluation(Decoder primary, Drafter drafter, int gamma) {
    if (gamma < 2) throw new IllegalArgumentException("block length must be >= 2 (the drafter predicts gamma - 1 tokens per block)");
    if (primary.maxRows() < gamma || drafter.decoder().maxRows() < gamma) {
      throw new IllegalArgumentException("both decoders need at least " + gamma + " rows per pass");
    }
    this.primary = primary;
    this.drafter = drafter;
    this.gamma = gamma;
    this.vocab = primary.config().vocabSize();
    this.primaryLogits = new float[primary.maxRows() * vocab];
    this.drafterLogits = new float[drafter.decoder().maxRows() * vocab];
    this.p = new float[vocab];
    this.q = new float[vocab];
  }

  /** Evaluates one window of tokens (its length at most the context length), adding to totals. */
  public void window(int[] tokens, Totals totals, Consumer<Position> dump) {
    KvCache primaryCache = primary.newCache(1);
    KvCache drafterCache = drafter.cache();
    drafterCache.setLength(0, 0);
    BatchRows primaryRows = new BatchRows(primary.maxRows());
    BatchRows drafterRows = new BatchRows(drafter.decoder().maxRows());
    boolean plain = drafter.primaryCaptureLayers().length == 0;
    for (int b = 0; b < tokens.length; b += gamma) {
      int end = Math.min(b + gamma, tokens.length);
      int predicted = Math.min(end, tokens.length - 1) - b;  // positions b.. whose successor is in the window
      predicted = Math.min(predicted, gamma - 1);
      if (predicted > 0) {
        // A plain model may lag (it ran only its own positions): catch it up to b first.
        int seen = drafterCache.length(0);
        if (plain && seen < b) {
          drafterRows.clear();
          drafterRows.addSequence(0, tokens, seen, b - seen, seen);
          drafter.decoder().forward(drafterRows, drafterCache, LogitsMode.NONE);
        }
        drafterRows.clear();
        drafterRows.addSequence(0, tokens, b, predicted, b);
        drafter.decoder().forward(drafterRows, drafterCache, LogitsMode.ALL);
        drafter.decoder().downloadLogits(drafterLogits);
      }
      primaryRows.clear();
      primaryRows.addSequence(0, tokens, b, end - b, b);
      primary.forward(primaryRows, primaryCache, LogitsMode.ALL);
      primary.downloadLogits(primaryLogits);
      for (int i = 0; i < predicted; i++) {
        Position position = score(b + i, tokens[b + i + 1], i);
        totals.add(position);
        if (dump != null) dump.accept(position);
      }
      int[] kept = {end - b};
      drafter.afterPrimaryPass(primary, primaryRows, kept);
    }
    primaryCache.close();
  }

  private Position score(int position, int trueToken, int row) {
    softmax(drafterLogits, row * vocab, q);
    softmax(primaryLogits, row * vocab, p);
    double tv = 0;
    for (int t = 0; t < vocab; t++) tv += Math.abs(p[t] - q[t]);
    return new Position(position, trueToken, Sampler.argmax(drafterLogits, row * vocab, vocab),
        Sampler.argmax(primaryLogits, row * vocab, vocab), logSoftmax(drafterLogits, row * vocab, trueToken),
        logSoftmax(primaryLogits, row * vocab, trueToken), tv / 2);
  }

  private void softmax(float[] logits, int offset, float[] out) {
    double max = Double.NEGATIVE_INFINITY;
    for (int t = 0; t < vocab; t++) max = Math.max(max, logits[offset + t]);
    double sum = 0;
    for (int t = 0; t < vocab; t++) sum += Math.exp(logits[offset + t] - max);
    for (int t = 0; t < vocab; t++) out[t] = (float) (Math.exp(logits[offset + t] - max) / sum);
  }

  private double logSoftmax(float[] logits, int offset, int token) {
    double max = Double.NEGATIVE_INFINITY;
    for (int t = 0; t < vocab; t++) max = Math.max(max, logits[offset + t]);
    double sum = 0;
    for (int t = 0; t < vocab; t++) sum += Math.exp(logits[offset + t] - max);
    return logits[offset + token] - max - Math.log(sum);
  }
}
