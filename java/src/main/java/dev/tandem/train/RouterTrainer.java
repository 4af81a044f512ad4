package dev.tandem.train;

import dev.tandem.backend.cpu.WorkerPool;
import dev.tandem.model.TensorNames;
import dev.tandem.sampling.Sampler;
import dev.tandem.secondary.RouterConfig;
import dev.tandem.secondary.RouterFeatures;
import dev.tandem.secondary.RouterWeights;
import dev.tandem.train.data.PackedSequences;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Trains the SPEED router (a 2-layer MLP, see {@link RouterConfig}) on soft labels: at draft positions
 * of training text the label is the total-variation distance {@code 0.5 sum_v |q(v) - p(v)|} between the
 * secondary's distribution q (training form, two-source attention with the given block length) and the
 * primary's p; the features are {@link RouterFeatures} of q. Loss: binary cross-entropy against the soft
 * label, {@code -(y log s + (1 - y) log(1 - s))}, s = the router's output.
 *
 * <p>Draft positions are those the secondary predicts at inference: {@code p >= b(p)} (every position for
 * a plain drafter). A block length above the secondary's training one covers drafts further from the
 * boundary, as at inference with long blocks.
 */
public final class RouterTrainer {
  /**
   * Features [n][F] and labels [n] of draft positions; offsets [n] (null when unknown): each position's
   * step in its round of drafts (0 = the first draft after the block boundary), so consecutive positions
   * with offsets 0, 1, 2, ... are one round's drafts; argmaxAgrees [n] (null when unknown): whether the
   * secondary's most likely token is the primary's (greedy SPEED accepts exactly those drafts).
   */
  public record Dataset(float[] features, float[] labels, int n, int featureSize, int[] offsets,
      boolean[] argmaxAgrees) {
    public Dataset(float[] features, float[] labels, int n, int featureSize) {
      this(features, labels, n, featureSize, null, null);
    }
  }

  /** How a replayed draft is accepted: with probability 1 - TV (sampling), or when the argmaxes agree (greedy). */
  public enum Acceptance {
    SAMPLING, GREEDY
  }

  /**
   * The survival rule's threshold chosen by {@link #chooseSurvivalThreshold}, its simulated throughput
   * (tokens per unit of cost, the unit one primary pass over one position), the best fixed gamma's, and
   * a clairvoyant stop's: the rate of a policy that knows each round's acceptances in advance and picks
   * its length from them, the most any stop rule can reach on these rounds.
   */
  public record StopChoice(double threshold, double throughput, double meanDrafts, int bestFixedGamma,
      double bestFixedThroughput, double clairvoyantThroughput, int rounds) {
    @Override
    public String toString() {
      return String.format(Locale.ROOT, "survival threshold %.2f: %.3f tokens per primary-pass cost (%.2f drafts per"
          + " round); best fixed gamma %d: %.3f; clairvoyant stop: %.3f (%d simulated rounds)", threshold, throughput,
          meanDrafts, bestFixedGamma, bestFixedThroughput, clairvoyantThroughput, rounds);
    }
  }

  /** Held-out quality: mean BCE, mean absolute error, correlation, mean label and mean prediction. */
  public record Quality(double bce, double mae, double correlation, double meanLabel, double meanPrediction) {
    @Override
    public String toString() {
      return String.format(Locale.ROOT, "BCE %.4f, MAE %.4f, correlation %.3f, mean TV %.3f, mean prediction %.3f",
          bce, mae, correlation, meanLabel, meanPrediction);
    }
  }

  private RouterTrainer() {}

  /**
   * Runs the primary and the secondary over sequences of {@code data} (in cursor order from {@code seed})
   * and collects up to {@code maxPositions} draft positions, from position {@code firstPosition} of each
   * sequence on (a multiple of the block length; above 0 for {@link PrimaryContinuations}, whose prompts
   * are human text).
   */
  public static Dataset collect(LanguageModelStep step, PackedSequences data, int blockLength, int topK,
      int maxPositions, long seed, boolean shuffled, int firstPosition) {
    if (firstPosition < 0 || firstPosition % blockLength != 0 || firstPosition >= data.seqLen()) {
      throw new IllegalArgumentException("the first position must be a multiple of the block length " + blockLength
          + " below the sequence length " + data.seqLen() + ", got " + firstPosition);
    }
    TrainModel secondary = step.student;
    int vocab = secondary.config.vocabSize(), d = secondary.config.hiddenSize();
    float[] embeddings = secondary.find(TensorNames.EMBEDDING).value;
    int featureSize = 1 + topK + topK * d;
    var a = step.activations();
    int batch = a.batch(), seqLen = a.seqLen();
    int perBatch = 0;
    for (int p = firstPosition; p < seqLen; p++) {
      if (!secondary.isTandem() || p >= AttentionOp.boundary(p, blockLength)) perBatch++;
    }
    perBatch *= batch;
    if (data.count() == 0) throw new IllegalArgumentException("no sequences to collect draft positions from");
    int wanted = (maxPositions + perBatch - 1) / perBatch;
    // Shuffled: whole batches drawn by the cursor. In order: every sequence once, the last batch partial.
    int batches = shuffled ? Math.max(1, Math.min(wanted, data.count() / batch))
        : Math.min(wanted, (data.count() + batch - 1) / batch);
    int n = Math.min(maxPositions, batches * perBatch);
    float[] features = new float[n * featureSize];
    float[] labels = new float[n];
    int[] offsets = new int[n];
    boolean[] agrees = new boolean[n];
    int[] topIds = new int[topK];
    int got = 0;
    long cursor = 0;
    PackedSequences source = data;
    for (int bi = 0; bi < batches && got < n; bi++) {
      int filled = shuffled ? batch : Math.min(batch, source.count() - bi * batch);  // slots past it: padding
      for (int b = 0; b < batch; b++) {
        int seq = shuffled ? source.sequenceAt(cursor++) : b < filled ? bi * batch + b : 0;
        source.copy(seq, step.inputs(), step.targets(), b * seqLen);
        step.gammas()[b] = blockLength;
      }
      step.forwardOnly();
      float[] q = step.studentLogits(), pLogits = step.primaryLogits();
      for (int row = 0; row < filled * seqLen && got < n; row++) {
        int p = row % seqLen;
        if (p < firstPosition || secondary.isTandem() && p < AttentionOp.boundary(p, blockLength)) continue;
        RouterFeatures.compute(q, row * vocab, vocab, topK, embeddings, d, features, got * featureSize, topIds);
        labels[got] = (float) totalVariation(q, pLogits, row * vocab, vocab);
        agrees[got] = Sampler.argmax(q, row * vocab, vocab) == Sampler.argmax(pLogits, row * vocab, vocab);
        offsets[got] = secondary.isTandem() ? p - AttentionOp.boundary(p, blockLength) : p % blockLength;
        got++;
      }
    }
    return new Dataset(features, labels, got, featureSize, offsets, agrees);
  }

  private static double thresholdAt(int index) {
    return (index + 1) / 50.0;
  }

  /**
   * Chooses the survival rule's threshold that makes SPEED fastest on the dataset's rounds, a cost-aware
   * stop: each round (consecutive draft positions of training text, offsets 0, 1, ...) is replayed with
   * the router's predictions r, stopping after the draft where the product of (1 - r) falls below the
   * threshold. Draft j is accepted with probability a_j, so a round of k drafts yields
   * {@code 1 + sum_{i<=k} prod_{j<=i} a_j} tokens and costs {@link RoundCost#round}(k): k drafter steps
   * and the verification pass over k + 1 positions (the text stands in for the drafts). a_j is 1 - TV_j
   * for {@link Acceptance#SAMPLING} (the rejection rule's acceptance) and 1 or 0 for
   * {@link Acceptance#GREEDY} (the argmaxes agree or not; on the primary's own greedy text, as
   * {@link PrimaryContinuations} writes it, exactly what greedy SPEED accepts). The threshold maximises
   * tokens per cost over thresholds 0.02, 0.04, ..., 0.98; fixed gamma 1..L is replayed the same way for
   * comparison, and so is a clairvoyant stop (each round's length chosen knowing its expected tokens, by
   * Dinkelbach's iteration: the length maximising tokens - rate * cost, rate updated until it settles).
   */
  public static StopChoice chooseSurvivalThreshold(RouterWeights router, Dataset raw, RoundCost cost,
      Acceptance acceptance) {
    if (raw.offsets() == null) throw new IllegalArgumentException("the dataset has no round offsets");
    if (acceptance == Acceptance.GREEDY && raw.argmaxAgrees() == null) {
      throw new IllegalArgumentException("the dataset does not record whether the argmaxes agree");
    }
    int f = raw.featureSize();
    List<int[]> rounds = new ArrayList<>();  // {start, length}
    for (int i = 0; i < raw.n(); ) {
      int length = 1;
      while (i + length < raw.n() && raw.offsets()[i + length] == raw.offsets()[i + length - 1] + 1) length++;
      if (raw.offsets()[i] == 0) rounds.add(new int[] {i, length});
      i += length;
    }
    if (rounds.isEmpty()) throw new IllegalArgumentException("no round of drafts starts in the dataset");
    int maxLength = rounds.stream().mapToInt(r -> r[1]).max().orElseThrow();
    rounds.removeIf(r -> r[1] < maxLength);  // a round cut short (the end of the data) would bias the fixed gammas
    int thresholds = 49;
    double[] tokens = new double[thresholds], drafts = new double[thresholds], costs = new double[thresholds];
    double[] fixedTokens = new double[maxLength + 1];
    List<double[]> expectedPerRound = new ArrayList<>();
    float[] scratch = new float[f];  // [F] the router's standardised features
    for (int[] round : rounds) {
      int start = round[0], length = round[1];
      double[] expected = new double[length + 1];  // [k] expected tokens of a round of k drafts
      double[] predicted = new double[length];     // [j] prod_{m<=j} (1 - r_m)
      double alive = 1, survival = 1;
      expected[0] = 1;
      for (int j = 0; j < length; j++) {
        alive *= acceptance == Acceptance.GREEDY ? (raw.argmaxAgrees()[start + j] ? 1 : 0)
            : 1 - raw.labels()[start + j];
        expected[j + 1] = expected[j] + alive;
        survival *= 1 - router.forward(raw.features(), (start + j) * f, scratch);
        predicted[j] = survival;
      }
      for (int t = 0; t < thresholds; t++) {
        double threshold = thresholdAt(t);
        int k = 1;
        while (k < length && !(predicted[k - 1] < threshold)) k++;
        tokens[t] += expected[k];
        drafts[t] += k;
        costs[t] += cost.round(k);
      }
      for (int g = 1; g <= length; g++) fixedTokens[g] += expected[g];
      expectedPerRound.add(expected);
    }
    int n = rounds.size();
    int best = 0;
    double bestRate = -1;
    for (int t = 0; t < thresholds; t++) {
      double rate = tokens[t] / costs[t];
      if (rate > bestRate) {
        bestRate = rate;
        best = t;
      }
    }
    int bestGamma = 1;
    double bestFixed = -1;
    for (int g = 1; g <= maxLength; g++) {
      double rate = fixedTokens[g] / (n * cost.round(g));
      if (rate > bestFixed) {
        bestFixed = rate;
        bestGamma = g;
      }
    }
    return new StopChoice(thresholdAt(best), bestRate, drafts[best] / n, bestGamma, bestFixed,
        clairvoyantRate(expectedPerRound, cost, bestFixed), n);
  }

  /**
   * The best tokens per cost over rounds whose lengths are chosen one by one knowing each round's expected
   * tokens ({@code expected[k]} for k = 1..L drafts): Dinkelbach's iteration from a feasible rate.
   */
  private static double clairvoyantRate(List<double[]> expectedPerRound, RoundCost cost, double startRate) {
    double rate = startRate;
    for (int iteration = 0; iteration < 100; iteration++) {
      double tokens = 0, spent = 0;
      for (double[] expected : expectedPerRound) {
        int bestK = 1;
        for (int k = 2; k < expected.length; k++) {
          if (expected[k] - rate * cost.round(k) > expected[bestK] - rate * cost.round(bestK)) bestK = k;
        }
        tokens += expected[bestK];
        spent += cost.round(bestK);
      }
      double next = tokens / spent;
      if (next <= rate * (1 + 1e-12)) return Math.max(rate, next);
      rate = next;
    }
    return rate;
  }

  /** 0.5 * sum |softmax(a) - softmax(b)| over one row. */
  public static double totalVariation(float[] a, float[] b, int at, int vocab) {
    float la = CrossEntropyOp.logSumExp(a, at, vocab), lb = CrossEntropyOp.logSumExp(b, at, vocab);
    double tv = 0;
    for (int v = 0; v < vocab; v++) tv += Math.abs(Math.exp(a[at + v] - la) - Math.exp(b[at + v] - lb));
    return tv / 2;
  }

  /** The MLP in training form: parameters and the forward/backward of one batch. */
  static final class Mlp {
    final int features, hidden;
    final Param w1, b1, w2, b2;  // [H][F], [1][H], [1][H], [1][1]
    final float[] mean, std;    // [F]

    Mlp(int features, int hidden, float[] mean, float[] std, long seed) {
      this.features = features;
      this.hidden = hidden;
      this.mean = mean;
      this.std = std;
      SplittableRandom r = new SplittableRandom(seed);
      float[] w = new float[hidden * features];
      double s1 = Math.sqrt(2.0 / features);
      for (int i = 0; i < w.length; i++) w[i] = (float) (r.nextGaussian() * s1);
      float[] v = new float[hidden];
      double s2 = Math.sqrt(1.0 / hidden);
      for (int i = 0; i < v.length; i++) v[i] = (float) (r.nextGaussian() * s2);
      w1 = new Param("router.fc1.weight", hidden, features, w);
      b1 = new Param("router.fc1.bias", 1, hidden, new float[hidden]);
      w2 = new Param("router.fc2.weight", 1, hidden, v);
      b2 = new Param("router.fc2.bias", 1, 1, new float[1]);
    }

    List<Param> params() {
      return List.of(w1, b1, w2, b2);
    }

    /**
     * Forward (and with {@code labels}, the BCE loss and backward, adding to the gradients) over rows
     * [0, n) of standardised features x [n][F]. Returns the mean loss (NaN without labels); out: [n].
     */
    double run(Gemm gemm, float[] x, int n, float[] labels, float[] out, float[] act) {
      gemm.linearForward(x, n, features, w1.value, hidden, act);
      for (int i = 0; i < n; i++) {
        double z = b2.value[0];
        for (int j = 0; j < hidden; j++) {
          float a = act[i * hidden + j] + b1.value[j];
          a = a > 0 ? a : 0;
          act[i * hidden + j] = a;
          z += (double) w2.value[j] * a;
        }
        out[i] = (float) (1 / (1 + Math.exp(-z)));
        if (labels != null) out[i] = (float) z;  // keep the logit for the loss
      }
      if (labels == null) return Double.NaN;
      double loss = 0;
      // dz = (sigmoid(z) - y) / n; reuse act as dA after the per-row gradient of w2 and b2.
      for (int i = 0; i < n; i++) {
        double z = out[i];
        double s = 1 / (1 + Math.exp(-z));
        double y = labels[i];
        // Stable BCE with logits: max(z, 0) - z y + log(1 + exp(-|z|)).
        loss += Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));
        float dz = (float) ((s - y) / n);
        b2.grad[0] += dz;
        for (int j = 0; j < hidden; j++) {
          float a = act[i * hidden + j];
          w2.grad[j] += dz * a;
          act[i * hidden + j] = a > 0 ? dz * w2.value[j] : 0f;
        }
        out[i] = (float) s;
      }
      for (int i = 0; i < n; i++) for (int j = 0; j < hidden; j++) b1.grad[j] += act[i * hidden + j];
      gemm.linearBackwardWeight(act, n, hidden, x, features, w1.grad);
      return loss / n;
    }

    RouterWeights weights(RouterConfig c) {
      return new RouterWeights(c, mean.clone(), std.clone(), w1.value.clone(), b1.value.clone(), w2.value.clone(),
          b2.value[0]);
    }
  }

  /** The mean and std of each feature over a dataset (std floored at 1e-3). */
  static float[][] statistics(Dataset data) {
    float[] mean = null, std = null;
    int f = data.featureSize(), n = data.n();
    {
      mean = new float[f];
      std = new float[f];
      double[] s = new double[f], ss = new double[f];
      for (int i = 0; i < n; i++) {
        for (int j = 0; j < f; j++) {
          double v = data.features()[i * f + j];
          s[j] += v;
          ss[j] += v * v;
        }
      }
      for (int j = 0; j < f; j++) {
        double m = s[j] / n;
        mean[j] = (float) m;
        std[j] = (float) Math.max(1e-3, Math.sqrt(Math.max(0, ss[j] / n - m * m)));
      }
    }
    return new float[][] {mean, std};
  }

  /** A standardised copy of a dataset. */
  static Dataset standardised(Dataset data, float[] mean, float[] std) {
    int f = data.featureSize(), n = data.n();
    float[] x = new float[n * f];
    for (int i = 0; i < n; i++) {
      for (int j = 0; j < f; j++) x[i * f + j] = (data.features()[i * f + j] - mean[j]) / std[j];
    }
    return new Dataset(x, data.labels(), n, f);
  }

  /**
   * Trains the router on {@code train} (a standardised copy) for {@code steps} Adam updates of
   * {@code batch} random rows; returns the weights. {@code validation} is standardised (a copy) with
   * the training statistics and scored every {@code evalEvery} updates through {@code report}.
   */
  public static RouterWeights train(WorkerPool pool, RouterConfig config, Dataset train, Dataset validation,
      int steps, int batch, double lr, long seed, java.util.function.Consumer<String> report, int evalEvery) {
    Gemm gemm = new Gemm(pool);
    float[][] stats = statistics(train);
    train = standardised(train, stats[0], stats[1]);
    if (validation != null) validation = standardised(validation, stats[0], stats[1]);
    Mlp mlp = new Mlp(train.featureSize(), config.hiddenSize(), stats[0], stats[1], seed);
    AdamW adam = new AdamW(mlp.params(), 0.9, 0.999, 1e-8, 0.0);
    LearningRate schedule = new LearningRate(lr, lr / 10, Math.min(50, steps / 10), steps);
    int f = train.featureSize();
    float[] x = new float[batch * f], y = new float[batch], out = new float[batch], act = new float[batch * mlp.hidden];
    SplittableRandom r = new SplittableRandom(seed);
    double running = Double.NaN;
    for (int step = 0; step < steps; step++) {
      for (int i = 0; i < batch; i++) {
        int row = r.nextInt(train.n());
        System.arraycopy(train.features(), row * f, x, i * f, f);
        y[i] = train.labels()[row];
      }
      for (Param p : mlp.params()) p.zeroGrad();
      double loss = mlp.run(gemm, x, batch, y, out, act);
      adam.update(pool, schedule.at(step), 1.0);
      running = Double.isNaN(running) ? loss : 0.98 * running + 0.02 * loss;
      if (report != null && ((step + 1) % evalEvery == 0 || step + 1 == steps)) {
        String v = validation == null ? "" : "; held out: " + quality(gemm, mlp, validation);
        report.accept(String.format(Locale.ROOT, "router %d/%d: train BCE %.4f%s", step + 1, steps, running, v));
      }
    }
    return mlp.weights(config);
  }

  /** Quality of the MLP on a standardised dataset. */
  static Quality quality(Gemm gemm, Mlp mlp, Dataset data) {
    int f = data.featureSize(), chunk = 1024;
    float[] out = new float[chunk], act = new float[chunk * mlp.hidden], x = new float[chunk * f];
    QualitySums sums = new QualitySums();
    for (int start = 0; start < data.n(); start += chunk) {
      int m = Math.min(chunk, data.n() - start);
      System.arraycopy(data.features(), start * f, x, 0, m * f);
      mlp.run(gemm, x, m, null, out, act);
      for (int i = 0; i < m; i++) sums.add(out[i], data.labels()[start + i]);
    }
    return sums.quality(data.n());
  }

  /** Quality of finished router weights on raw (unstandardised) features. */
  public static Quality quality(RouterWeights w, Dataset raw) {
    int f = raw.featureSize();
    QualitySums sums = new QualitySums();
    for (int i = 0; i < raw.n(); i++) sums.add(w.forward(raw.features(), i * f), raw.labels()[i]);
    return sums.quality(raw.n());
  }

  /** Running sums of (prediction, label) pairs for {@link Quality}; predictions clamped away from 0 and 1. */
  private static final class QualitySums {
    private double bce, mae, sy, sp, syy, spp, syp;

    void add(double prediction, double y) {
      double p = Math.min(1 - 1e-7, Math.max(1e-7, prediction));
      bce -= y * Math.log(p) + (1 - y) * Math.log(1 - p);
      mae += Math.abs(p - y);
      sy += y;
      sp += p;
      syy += y * y;
      spp += p * p;
      syp += y * p;
    }

    Quality quality(int n) {
      double cov = syp / n - sy / n * sp / n;
      double corr = cov / Math.sqrt(Math.max(1e-12, (syy / n - sy * sy / n / n) * (spp / n - sp * sp / n / n)));
      return new Quality(bce / n, mae / n, corr, sy / n, sp / n);
    }
  }
}
