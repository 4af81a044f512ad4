package dev.tandem.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.io.DType;
import dev.tandem.model.ModelWeights;
import dev.tandem.secondary.PrimaryFingerprint;
import dev.tandem.secondary.RouterConfig;
import dev.tandem.secondary.RouterWeights;
import dev.tandem.train.LanguageModelStep;
import dev.tandem.train.PrimaryContinuations;
import dev.tandem.train.Progress;
import dev.tandem.train.RecipeRun;
import dev.tandem.train.RoundCost;
import dev.tandem.train.RouterTrainer;
import dev.tandem.train.TrainModel;
import dev.tandem.train.data.PackedSequences;
import dev.tandem.util.AtomicFiles;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code tandem train router}: the SPEED block-length router, on TV-distance soft labels. */
@Command(name = "router", mixinStandardHelpOptions = true,
    description = "Train the SPEED router (2-layer MLP) to predict the TV distance between the secondary's and the"
        + " primary's distributions from the secondary's entropy, top-k probabilities and top-k token embeddings.")
public final class TrainRouterCommand implements Callable<Integer> {
  @Mixin TrainOptions.DataOpts dataOpts;

  @Option(names = "--primary", required = true, description = "The primary's model directory.")
  Path primaryDir;

  @Option(names = "--secondary", required = true, description = "The secondary (tandem or plain) the router serves.")
  Path secondaryDir;

  @Option(names = "--run", required = true, description = "Run directory (token cache, log).")
  Path run;

  @Option(names = "--out", required = true, description = "Output router directory.")
  Path out;

  @Option(names = "--top-k", defaultValue = "4", description = "Top-k probabilities and embeddings (default: 4).")
  int topK;

  @Option(names = "--hidden", defaultValue = "64", description = "MLP hidden width (default: 64).")
  int hidden;

  @Option(names = "--block-length", defaultValue = "8",
      description = "Block length of the training-form secondary whose drafts give the labels (default: 8).")
  int blockLength;

  @Option(names = "--text", defaultValue = "primary",
      description = "Where the draft positions come from: 'primary' (default): prompts of --prompt-tokens from the"
          + " training (and held-out) text continued by the primary's greedy generation, the text greedy SPEED"
          + " drafts; 'corpus': the text itself.")
  String text;

  @Option(names = "--prompt-tokens", defaultValue = "32",
      description = "With --text primary: tokens of text before each continuation (default: 32; a multiple of the"
          + " block length).")
  int promptTokens;

  @Option(names = "--positions", defaultValue = "65536", description = "Training positions (default: 65536).")
  int positions;

  @Option(names = "--val-positions", defaultValue = "8192", description = "Held-out positions (default: 8192).")
  int valPositions;

  @Option(names = "--steps", defaultValue = "3000", description = "Adam updates (default: 3000).")
  int steps;

  @Option(names = "--batch", defaultValue = "256", description = "Positions per update (default: 256).")
  int batch;

  @Option(names = "--forward-batch", defaultValue = "8", description = "Sequences per forward pass (default: 8).")
  int forwardBatch;

  @Option(names = "--lr", defaultValue = "1e-3", description = "Peak learning rate (default: 1e-3).")
  double lr;

  // The router regresses the total-variation distance, and a regression shrinks its predictions toward the mean:
  // a fixed threshold such as 0.5 is then rarely crossed. "mean" stores the token rule with the mean label of the
  // training positions: drafting stops where the secondary looks less reliable than it usually is. "cost" (the
  // default) stores the survival rule with the threshold that makes SPEED fastest when the training positions'
  // rounds are replayed under --draft-cost and --row-cost (RouterTrainer.chooseSurvivalThreshold). Both are
  // chosen from training text only.
  @Option(names = "--threshold", defaultValue = "cost",
      description = "The stop rule and threshold stored in the config: 'cost' (default): the survival rule with the"
          + " threshold that maximises tokens per cost over the training positions' rounds; 'mean': the token rule"
          + " with the mean total-variation distance of the training positions; a number in (0, 1]: the token rule"
          + " with that threshold.")
  String threshold;

  @Option(names = "--draft-cost", defaultValue = "0.06",
      description = "For --threshold cost: one drafter step (router included) as a fraction of the primary's pass over"
          + " one position (default: 0.06; `tandem bench decode` on both models measures it).")
  double draftCost;

  @Option(names = "--row-cost", defaultValue = "0.12",
      description = "For --threshold cost: what one more position adds to the primary's verification pass, the same"
          + " unit (default: 0.12; near 0 on a GPU). On a CPU the cost is not linear: prefer --pass-costs.")
  double rowCost;

  @Option(names = "--pass-costs", split = ",",
      description = "For --threshold cost, in place of --row-cost: the primary's verification pass over 1, 2, 3, ..."
          + " positions relative to one, as `tandem bench decode --blocks 1,2,3,...` measures it on the target machine"
          + " (e.g. 1,1.05,1.1,1.2,1.4); past the list each position adds its last step.")
  double[] passCosts;

  @Option(names = "--acceptance", defaultValue = "greedy",
      description = "For --threshold cost: how a replayed draft is accepted: 'greedy' (default): when the secondary's"
          + " most likely token is the primary's, as in greedy SPEED; 'sampling': with probability 1 - TV, as in"
          + " sampled SPEED.")
  String acceptance;

  @Option(names = "--seed", defaultValue = "1", description = "Seed (default: 1).")
  long seed;

  @Option(names = "--threads", defaultValue = "0", description = "CPU threads (default: all cores).",
      converter = ThreadCount.class)
  int threads;

  @Spec CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    long start = System.nanoTime();
    RoundCost cost;
    try {
      cost = passCosts != null ? RoundCost.measured(draftCost, passCosts) : RoundCost.linear(draftCost, rowCost);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("--draft-cost, --row-cost, --pass-costs: " + e.getMessage());
    }
    if (!text.equals("primary") && !text.equals("corpus")) {
      throw new IllegalArgumentException("--text must be 'primary' or 'corpus', got '" + text + "'");
    }
    boolean generated = text.equals("primary");
    RouterTrainer.Acceptance accept = switch (acceptance) {
      case "greedy" -> RouterTrainer.Acceptance.GREEDY;
      case "sampling" -> RouterTrainer.Acceptance.SAMPLING;
      default -> throw new IllegalArgumentException("--acceptance must be 'greedy' or 'sampling', got '" + acceptance
          + "'");
    };
    if (generated && (promptTokens < blockLength || promptTokens % blockLength != 0
        || promptTokens >= dataOpts.seqLen)) {
      throw new IllegalArgumentException("--prompt-tokens must be a multiple of the block length " + blockLength
          + " below --seq-len " + dataOpts.seqLen + ", got " + promptTokens);
    }
    ModelWeights pw = ModelWeights.load(primaryDir);
    Path tok = primaryDir.resolve("tokenizer.json");
    try (RecipeRun r = new RecipeRun(run, dataOpts.data(Files.isRegularFile(tok) ? tok : null), threads)) {
      PrimaryFingerprint fp = PrimaryFingerprint.of(pw.config(), PrimaryFingerprint.vocabularyHash(r.tokenizer));
      TrainModel secondary = SecondaryLoader.load(secondaryDir, fp);
      TrainModel primary = TrainModel.plain(pw);
      LanguageModelStep step = new LanguageModelStep(r.gemm, secondary, primary, 1f, 0f, forwardBatch,
          dataOpts.seqLen, false);
      System.err.printf("router: collecting %d + %d draft positions (block length %d)%n", positions, valPositions,
          blockLength);
      PackedSequences trainText = r.trainSequences(seed), valText = r.validationSequences();
      int firstPosition = 0;
      boolean shuffled = true;
      if (generated) {
        trainText = continuations(pw, trainText, positions, secondary.isTandem(), "router: the primary continues "
            + "training text");
        valText = continuations(pw, valText, valPositions, secondary.isTandem(), "router: the primary continues "
            + "held-out text");
        firstPosition = promptTokens;
        shuffled = false;  // already in the training text's shuffled order
      }
      RouterTrainer.Dataset train = RouterTrainer.collect(step, trainText, blockLength, topK, positions, seed,
          shuffled, firstPosition);
      RouterTrainer.Dataset val = RouterTrainer.collect(step, valText, blockLength, topK, valPositions, seed, false,
          firstPosition);
      boolean costRule = threshold.equals("cost");
      double stop = costRule ? 0.5 : stopThreshold(threshold, train);  // "cost": chosen after training, below
      RouterConfig config = new RouterConfig(topK, secondary.config.hiddenSize(), hidden, stop,
          secondary.config.vocabSize());
      RouterWeights weights = RouterTrainer.train(r.pool, config, train, val, steps, batch, lr, seed,
          System.err::println, Math.max(1, steps / 10));
      RouterTrainer.StopChoice choice = null;
      if (costRule) {
        choice = RouterTrainer.chooseSurvivalThreshold(weights, train, cost, accept);
        stop = choice.threshold();
        weights = weights.withStop(RouterConfig.SURVIVAL_RULE, stop);
        System.err.println("router: replayed training rounds (" + acceptance + " acceptance, " + cost + "): " + choice);
      }
      RouterTrainer.Quality q = RouterTrainer.quality(weights, val);
      weights.save(out, DType.BF16);
      ObjectMapper json = new ObjectMapper();
      ObjectNode n = json.createObjectNode();
      n.put("recipe", "router");
      n.put("command", TrainOptions.invocation(spec));
      n.put("secondary", secondaryDir.toString());
      n.put("training_positions", train.n());
      n.put("validation_positions", val.n());
      n.put("block_length", blockLength);
      n.put("text", generated ? "the primary's greedy continuations of " + promptTokens + "-token prompts" : "corpus");
      n.put("updates", steps);
      n.put("validation_bce", q.bce());
      n.put("validation_mae", q.mae());
      n.put("validation_correlation", q.correlation());
      n.put("validation_mean_tv", q.meanLabel());
      n.put("threshold", stop);
      n.put("stop_rule", weights.config().stopRule());
      n.put("threshold_rule", costRule ? "the survival threshold that maximises tokens per cost over the training"
          + " positions' rounds replayed (RouterTrainer.chooseSurvivalThreshold)"
          : threshold.equals("mean") ? "mean total-variation distance of the training positions" : "given");
      if (choice != null) {
        n.put("replay_acceptance", acceptance);
        n.put("draft_cost", draftCost);
        if (passCosts != null) {
          var curve = n.putArray("pass_costs");
          for (int positions = 1; positions <= passCosts.length; positions++) curve.add(cost.pass(positions));
        } else {
          n.put("row_cost", rowCost);
        }
        n.put("replayed_rounds", choice.rounds());
        n.put("replayed_throughput", choice.throughput());
        n.put("replayed_mean_drafts", choice.meanDrafts());
        n.put("replayed_best_fixed_gamma", choice.bestFixedGamma());
        n.put("replayed_best_fixed_throughput", choice.bestFixedThroughput());
        n.put("replayed_clairvoyant_throughput", choice.clairvoyantThroughput());
      }
      n.put("wall_seconds", Math.round((System.nanoTime() - start) / 1e9));
      AtomicFiles.writeString(out.resolve("training.json"), json.writerWithDefaultPrettyPrinter().writeValueAsString(n) + "\n");
      System.err.println("router: held out " + q + "; wrote " + out);
    }
    return 0;
  }

  /** Enough of the primary's continuations of {@code source} for {@code positions} draft positions. */
  private PackedSequences continuations(ModelWeights primary, PackedSequences source, int positions, boolean tandem,
      String label) {
    int perSequence = dataOpts.seqLen - promptTokens;
    if (tandem) perSequence = perSequence / blockLength * (blockLength - 1);  // the primary's turns are not drafts
    int count = Math.min(source.count(), (positions + perSequence - 1) / perSequence);
    System.err.printf("%s: %d prompts of %d tokens, %d new tokens each%n", label, count, promptTokens,
        dataOpts.seqLen - promptTokens);
    return PrimaryContinuations.generate(primary, source, count, promptTokens, threads,
        Progress.stderr("generate", count));
  }

  /** The stored token-rule threshold: a number in (0, 1], or "mean" (the training labels' mean). */
  static double stopThreshold(String option, RouterTrainer.Dataset train) {
    if (option.equals("mean")) {
      double sum = 0;
      for (int i = 0; i < train.n(); i++) sum += train.labels()[i];
      if (train.n() == 0) throw new IllegalArgumentException("no training positions to take the mean threshold from");
      return Math.max(1e-3, sum / train.n());
    }
    double t;
    try {
      t = Double.parseDouble(option);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("--threshold must be 'cost', 'mean' or a number in (0, 1], got '" + option
          + "'");
    }
    if (!(t > 0 && t <= 1)) throw new IllegalArgumentException("--threshold must be in (0, 1], got " + option);
    return t;
  }
}
