package dev.tandem.benchmark;

import dev.tandem.cli.DeviceOptions;
import dev.tandem.cli.TrainOptions;
import dev.tandem.backend.Backend;
import dev.tandem.backend.BackendProvider;
import dev.tandem.engine.GenerationRequest;
import dev.tandem.sampling.SamplingParams;
import dev.tandem.speculative.BlockLengthPolicy;
import dev.tandem.speculative.DrafterEvaluation;
import dev.tandem.speculative.RouterPolicy;
import dev.tandem.engine.Engine;
import dev.tandem.engine.EngineBuilder;
import dev.tandem.speculative.SpeedMetrics;
import dev.tandem.secondary.RouterConfig;
import dev.tandem.secondary.RouterWeights;
import dev.tandem.tokenizer.Tokenizer;
import dev.tandem.train.data.RecallTask;
import dev.tandem.train.data.TextSplit;
import dev.tandem.util.AtomicFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code tandem bench paper}: the paper's tables in miniature on the demo models, written as a
 * markdown report: Table 1 (accuracy, cross-entropy, relative accuracy, TV distance of the four small
 * models on held-out text), Table 2 (SPEED speedup over the primary alone, greedy, batch 1, held-out
 * prompts, same run) and Tables 4/5 (the router against the best fixed gamma).
 */
@Command(name = "paper", mixinStandardHelpOptions = true,
    description = "The paper's Tables 1, 2, 4 and 5 in miniature on the demo models; writes a markdown report.")
public final class PaperBenchCommand implements Callable<Integer> {
  @Parameters(arity = "1..*", description = "The text files the demo models were trained on (held-out part used); with"
      + " --task recall, held-out recall text (tandem data recall from a seed not used in training).")
  List<Path> files;

  @Option(names = "--task", defaultValue = "text", description = "text (default: the demo models on the held-out part"
      + " of their training text) or recall (models/recall on held-out recall text; Table 1 split into the positions"
      + " the context determines and the rest, prompts that end inside the repeat).")
  String task;

  /** Prompts each configuration runs untimed before its repeats. */
  private static final int WARM_UP_PROMPTS = 4;

  @Option(names = "--models", description = "The demo models' directory (default: models/demo of the project).")
  Path models;

  @Option(names = "--out", description = "The report (default: bench/PAPER.md, with --task recall"
      + " bench/PAPER-RECALL.md).")
  Path out;

  @Option(names = "--eval-positions", defaultValue = "6000", description = "Held-out positions for Table 1.")
  int evalPositions;

  @Option(names = "--prompts", defaultValue = "16", description = "Held-out prompts for Tables 2, 4 and 5 (default: 16).")
  int promptCount;

  @Option(names = "--prompt-tokens", description = "Tokens per prompt (default: 32); recall: words of the repeat in"
      + " the prompt (default: 7), which ends inside the repeat.")
  Integer promptTokensOption;

  @Option(names = "--max-tokens", description = "New tokens per prompt (default: 128; recall: 56, inside the line).")
  Integer maxTokensOption;

  @Option(names = "--gammas", split = ",", description = "Fixed block lengths for Table 2 (default: 3,5,7; recall:"
      + " 2,4,8,12,16).")
  int[] gammas;

  private int promptTokens;
  private int maxTokens;
  private boolean recall;

  @Option(names = "--gamma-max", defaultValue = "17", description = "gamma_max of the router (Tables 4 and 5).")
  int gammaMax;

  @Option(names = "--repeats", defaultValue = "3", description = "Repeats of every SPEED measurement (default: 3).")
  int repeats;

  @Option(names = "--router-thresholds", split = ",", defaultValue = "0.15,0.2,0.25,0.3",
      description = "Stop thresholds tried for the router besides the one it stores (Tables 4 and 5).")
  float[] routerThresholds;

  @Option(names = "--survival-thresholds", split = ",", defaultValue = "0.2,0.3,0.4",
      description = "Thresholds tried for the router's survival rule (Tables 4 and 5).")
  float[] survivalThresholds;

  @Option(names = "--segment-bytes", defaultValue = "" + TextSplit.DEFAULT_SEGMENT_BYTES,
      description = "The training split's segment size (default: 8192).")
  int segmentBytes;

  @Option(names = "--val-fraction", defaultValue = "" + TextSplit.DEFAULT_VALIDATION_FRACTION,
      description = "The training split's held-out share (default: 0.01).")
  double valFraction;

  @Mixin DeviceOptions device;

  @Spec picocli.CommandLine.Model.CommandSpec spec;

  private static final String[] SMALL = {"drafter", "drafter-distil", "tandem-ce", "tandem-distil"};
  private static final String[] SMALL_NAMES = {"Plain drafter (CE)", "Distilled drafter", "Tandem-CE", "Tandem-Distil"};

  private Path dir;

  @Override
  public Integer call() throws Exception {
    if (!task.equals("text") && !task.equals("recall")) {
      throw new IllegalArgumentException("--task must be text or recall, got " + task);
    }
    recall = task.equals("recall");
    dir = models != null ? models : Path.of(System.getProperty("tandem.home", "."), "models", recall ? "recall" : "demo");
    if (out == null) out = Path.of(recall ? "bench/PAPER-RECALL.md" : "bench/PAPER.md");
    promptTokens = promptTokensOption != null ? promptTokensOption : recall ? 7 : 32;
    maxTokens = maxTokensOption != null ? maxTokensOption : recall ? 56 : 128;
    if (gammas == null) gammas = recall ? new int[] {2, 4, 8, 12, 16} : new int[] {3, 5, 7};
    if (repeats < 1) throw new IllegalArgumentException("--repeats must be at least 1, got " + repeats);
    if (recall) return callRecall();
    for (String name : List.of("primary", "drafter", "drafter-distil", "tandem-ce", "tandem-distil", "router")) {
      if (!Files.isDirectory(dir.resolve(name))) throw new IllegalArgumentException(dir.resolve(name) + " not found");
    }
    TextSplit split = TextSplit.of(files, segmentBytes, valFraction);
    String heldOut = String.join("\n", split.texts(true));
    if (heldOut.isEmpty()) throw new IllegalArgumentException("no held-out text in " + files);
    EngineBuilder[] setups = new EngineBuilder[SMALL.length];
    for (int i = 0; i < SMALL.length; i++) {
      setups[i] = EngineBuilder.load(dir.resolve("primary")).drafter(dir.resolve(SMALL[i])).fixedSpeculation()
          .prefillBudget(64);
    }
    Tokenizer tokenizer = setups[0].tokenizer();
    int[] tokens = tokenizer.encode(heldOut);
    int context = setups[0].contextLength();
    StringBuilder report = new StringBuilder();
    report.append("# The paper's tables in miniature (demo models)\n\n");
    report.append("Made by `").append(commandLine()).append("` on ").append(Instant.now()).append(", ");
    try (Backend backend = device.backend()) {
      report.append(BackendProvider.describe(backend)).append(", ")
          .append(Runtime.getRuntime().availableProcessors()).append(" processors. Held-out text: the validation"
              + " segments of the training split (").append(split.bytes(true)).append(" bytes, ")
          .append(tokens.length).append(" tokens); never seen in training.\n\n");
      table1(report, backend, setups, tokens, context);
      List<GenerationRequest> prompts = prompts(tokens);
      tables2to5(report, backend, setups, prompts, context);
    }
    AtomicFiles.writeString(out, report.toString());
    System.out.print(report);
    System.err.println("wrote " + out);
    return 0;
  }

  /** {@code --task recall}: Table 1 on held-out recall lines, split; Tables 2 to 5 on prompts inside the repeat. */
  private Integer callRecall() throws Exception {
    StringBuilder text = new StringBuilder();
    for (Path f : files) text.append(new String(TextSplit.read(f), java.nio.charset.StandardCharsets.UTF_8));
    List<String> lines = text.toString().lines().filter(l -> !l.isBlank()).toList();
    if (lines.isEmpty()) throw new IllegalArgumentException("no recall lines in " + files);
    EngineBuilder[] setups = new EngineBuilder[SMALL.length];
    for (int i = 0; i < SMALL.length; i++) {
      setups[i] = EngineBuilder.load(dir.resolve("primary")).drafter(dir.resolve(SMALL[i])).fixedSpeculation()
          .prefillBudget(64);
    }
    Tokenizer tokenizer = setups[0].tokenizer();
    List<int[]> windows = new ArrayList<>();
    for (String line : lines) windows.add(tokenizer.encode(line));
    int context = setups[0].contextLength();
    StringBuilder report = new StringBuilder();
    report.append("# The paper's tables in miniature (recall models)\n\n");
    report.append("Made by `").append(commandLine()).append("` on ").append(Instant.now()).append(", ");
    try (Backend backend = device.backend()) {
      report.append(BackendProvider.describe(backend)).append(", ")
          .append(Runtime.getRuntime().availableProcessors()).append(" processors. Held-out text: ")
          .append(lines.size()).append(" associative-recall sequences (").append(files.stream().map(Path::toString)
              .collect(java.util.stream.Collectors.joining(", "))).append(", `tandem data recall` from a seed never"
              + " used in training; models/recall/MODEL_CARD.md). A position is *determined* when the context fixes"
              + " its token (the repeat after its first key), the *rest* are the random pairs and the repeat's first"
              + " key.\n\n");
      RecallTables.table1(report, backend, dir, setups, SMALL_NAMES, windows, evalPositions);
      List<GenerationRequest> prompts = new ArrayList<>();
      for (int i = 0; i < windows.size() && prompts.size() < promptCount; i++) {
        prompts.add(new GenerationRequest(RecallTask.prompt(windows.get(i), promptTokens), maxTokens,
            SamplingParams.greedy(), -1, i));
      }
      report.append("Tables 2 to 5 use the first ").append(prompts.size()).append(" held-out sequences, each cut after"
          + " the repeat's first ").append(promptTokens).append(" words (inside the repeat), and ").append(maxTokens)
          .append(" new tokens: the primary continues the repeat.\n\n");
      tables2to5(report, backend, setups, prompts, context);
    }
    AtomicFiles.writeString(out, report.toString());
    System.out.print(report);
    System.err.println("wrote " + out);
    return 0;
  }

  private String commandLine() {
    return TrainOptions.invocation(spec);
  }

  private void table1(StringBuilder report, Backend backend, EngineBuilder[] setups, int[] tokens, int context)
      throws IOException {
    report.append("## Table 1: the small models on held-out text\n\nTeacher forced, primary blocks of 2"
        + " (`tandem eval --block-length 2`): each model predicts the token after the first position of every block"
        + " (a tandem secondary with the primary's states of the earlier blocks), ").append(evalPositions)
        .append(" positions at most.\n\n| model | accuracy | cross-entropy | relative accuracy | TV distance |\n"
            + "|---|---|---|---|---|\n");
    double primaryAccuracy = 0, primaryCe = 0;
    for (int i = 0; i < setups.length; i++) {
      DrafterEvaluation.Totals totals = new DrafterEvaluation.Totals();
      int window = Math.min(256, context);
      try (Engine models = setups[i].backend(backend).gamma(2).context(window).prefillBudget(3).build()) {
        DrafterEvaluation evaluation = new DrafterEvaluation(models.primary(), models.drafter(), 2);
        for (int start = 0; start + 3 < tokens.length && totals.positions < evalPositions; start += window) {
          evaluation.window(Arrays.copyOfRange(tokens, start, Math.min(tokens.length, start + window)), totals, null);
        }
      }
      report.append(String.format("| %s | %.2f %% | %.3f | %.2f %% | %.3f |%n", SMALL_NAMES[i], 100 * totals.accuracy(),
          totals.crossEntropy(), 100 * totals.relativeAccuracy(), totals.meanTotalVariation()));
      primaryAccuracy = totals.primaryAccuracy();
      primaryCe = totals.primaryCrossEntropy();
      System.err.printf("table 1: %s done (%d positions)%n", SMALL_NAMES[i], totals.positions);
    }
    report.append(String.format("| (the primary itself) | %.2f %% | %.3f | 100 %% | 0 |%n%n", 100 * primaryAccuracy,
        primaryCe));
  }

  private List<GenerationRequest> prompts(int[] tokens) {
    List<GenerationRequest> prompts = new ArrayList<>();
    int stride = Math.max(promptTokens, tokens.length / Math.max(1, promptCount));
    for (int i = 0; i < promptCount && i * stride + promptTokens <= tokens.length; i++) {
      prompts.add(new GenerationRequest(Arrays.copyOfRange(tokens, i * stride, i * stride + promptTokens), maxTokens,
          SamplingParams.greedy(), -1, i));
    }
    if (prompts.isEmpty()) throw new IllegalArgumentException("the held-out text is too short for one prompt");
    return prompts;
  }

  /**
   * One SPEED configuration measured in {@link #measure}: its decode rate and the primary alone's in each
   * repeat (side by side), the work counts of the first repeat (the tokens are deterministic) and whether
   * every output equalled the primary's.
   */
  private record Measured(double[] rates, double[] primaryRates, SpeedMetrics metrics, boolean identical,
      double predicted) {
    double tokensPerSecond() { return SpeedComparison.median(rates); }

    double speedup() { return medianRatio(rates, primaryRates); }

    /** The speedup's median and its range over the repeats: "1.52x (1.41-1.60)". */
    String speedupWithSpread() {
      double[] r = new double[rates.length];
      for (int i = 0; i < r.length; i++) r[i] = rates[i] / primaryRates[i];
      return String.format("%.2fx (%.2f-%.2f)", speedup(), java.util.Arrays.stream(r).min().orElse(0),
          java.util.Arrays.stream(r).max().orElse(0));
    }

    /** The primary alone's tokens/s in the same repeats: median (range). */
    String primaryRate() {
      return String.format("%.0f (%.0f-%.0f)", SpeedComparison.median(primaryRates),
          java.util.Arrays.stream(primaryRates).min().orElse(0), java.util.Arrays.stream(primaryRates).max().orElse(0));
    }

    /** The median over the repeats of this configuration's rate over {@code other}'s (same repeats). */
    double against(Measured other) { return medianRatio(rates, other.rates); }
  }

  private static double medianRatio(double[] a, double[] b) {
    double[] ratios = new double[a.length];
    for (int r = 0; r < a.length; r++) ratios[r] = a[r] / b[r];
    return SpeedComparison.median(ratios);
  }

  /**
   * Configurations measured side by side, {@code repeats} times: each repeat runs the primary alone and then
   * every configuration over the same prompts (batch 1, each prompt on its own), so every speedup, and every
   * ratio between two configurations, is taken within one repeat (this machine's speed drifts between
   * repeats, not within one); the report gives medians.
   */
  private List<Measured> measure(Engine primary, List<Engine> configs, List<GenerationRequest> prompts,
      List<int[]> reference) {
    int n = configs.size();
    double[][] rates = new double[n][repeats];
    double[] primaryRates = new double[repeats];
    SpeedMetrics[] first = new SpeedMetrics[n];
    boolean[] identical = new boolean[n];
    Arrays.fill(identical, true);
    // Warm-up: every configuration over a few prompts, one at a time as timed, so that no code path is still
    // being compiled in the timed repeats (with one prompt, the first router setting of Tables 4 and 5 came out
    // at 0.92-0.95x the fixed gamma in four runs, mostly below neighbouring settings doing the same work).
    List<GenerationRequest> warmUp = prompts.subList(0, Math.min(WARM_UP_PROMPTS, prompts.size()));
    for (Engine speed : configs) SpeedComparison.runEach(speed, warmUp);
    for (int r = 0; r < repeats; r++) {
      primaryRates[r] = SpeedComparison.runEach(primary, prompts).tokensPerSecond();
      for (int c = 0; c < n; c++) {
        SpeedComparison.Run run = SpeedComparison.runEach(configs.get(c), prompts);
        for (int p = 0; p < prompts.size(); p++) identical[c] &= Arrays.equals(run.tokens().get(p), reference.get(p));
        if (first[c] == null) first[c] = run.metrics();
        rates[c][r] = run.tokensPerSecond();
      }
    }
    List<Measured> measured = new ArrayList<>();
    for (int c = 0; c < n; c++) {
      double predicted = configs.get(c).measurePassCosts().predictedSpeedup(first[c]);
      measured.add(new Measured(rates[c], primaryRates, first[c], identical[c], predicted));
    }
    return measured;
  }

  private String row(String name, String gamma, Measured m, String versus) {
    return String.format("| %s | %s | %.1f | %s | %s | %s | %.2fx | %.2f | %d | %d | %s |%n", name, gamma,
        m.tokensPerSecond(), m.primaryRate(), m.speedupWithSpread(), versus, m.predicted(),
        m.metrics().meanAcceptedLength(), m.metrics().primaryRuns, m.metrics().drafterRuns,
        m.identical() ? "yes" : "NO");
  }

  private void tables2to5(StringBuilder report, Backend backend, EngineBuilder[] setups, List<GenerationRequest> prompts,
      int context) throws Exception {
    try (Engine primary = SpeedComparison.primaryEngine(backend, setups[0].primaryWeights(), context, 1)) {
      tables2to5(report, backend, setups, prompts, context, primary);
    }
  }

  /** A fixed-gamma engine (router null) or a router engine for one configuration, batch 1. */
  private Engine engine(EngineBuilder setup, Backend backend, Integer gamma, Path router, Float threshold,
      RouterPolicy.Rule rule, int context) throws IOException {
    return setup.backend(backend).context(context).prefillBudget(64).gamma(gamma)
        .router(router, router == null ? null : gammaMax, threshold, rule).build();
  }

  private void tables2to5(StringBuilder report, Backend backend, EngineBuilder[] setups, List<GenerationRequest> prompts,
      int context, Engine primary) throws Exception {
    // The primary alone: warm-up, and the reference tokens every SPEED run must reproduce.
    SpeedComparison.Run primaryRun = SpeedComparison.runEach(primary, prompts);
    List<int[]> reference = primaryRun.tokens();
    double primaryRate = primaryRun.tokensPerSecond();
    System.err.printf("primary alone: %.1f tokens/s%n", primaryRate);
    String header = "| %s | gamma | tokens/s | primary alone tokens/s | speedup (range) | %s | cost-model speedup"
        + " | mean accepted length | primary runs | %s runs | identical |\n"
        + "|---|---|---|---|---|---|---|---|---|---|---|\n";
    report.append("## Table 2: SPEED speedup over the primary alone\n\nGreedy, batch 1, ").append(prompts.size())
        .append(recall ? " held-out prompts ending " + promptTokens + " words into the repeat, "
            : " held-out prompts of " + promptTokens + " tokens, ").append(maxTokens)
        .append(" new tokens each; decode tokens/s (prefill excluded). Each gamma is measured ").append(repeats)
        .append(" times; a repeat runs the primary alone, then SPEED with the distilled drafter, then SPEED with"
            + " Tandem-Distil, over the same prompts. Speedups and the Tandem-Distil / distilled ratio are medians of"
            + " the per-repeat ratios (the primary alone ran at ").append(String.format("%.1f", primaryRate))
        .append(" tokens/s in the first measurement). The range is the lowest and highest of the per-repeat"
            + " speedups: this machine's speed drifts, and a difference between two rows is a result only where"
            + " their ranges do not overlap. The cost-model speedup is what the pass costs measured on the same"
            + " models (`PassCosts`: primary pass against rows, drafter step) predict for the run's work (its"
            + " rounds, drafts and accepted tokens, which do not depend on the machine); primary and drafter runs"
            + " are exact counts.\n\n")
        .append(String.format(header, "drafter", "vs distilled drafter", "drafter"));
    List<String> distilledRows = new ArrayList<>(), tandemRows = new ArrayList<>();
    double bestTandem = 0, bestDistilled = 0;
    int bestGamma = gammas[0];
    String bestRow = "";
    for (int gamma : gammas) {
      try (Engine distilled = engine(setups[1], backend, gamma, null, null, null, context);
          Engine tandem = engine(setups[3], backend, gamma, null, null, null, context)) {
        List<Measured> m = measure(primary, List.of(distilled, tandem), prompts, reference);
        Measured d = m.get(0), t = m.get(1);
        distilledRows.add(row(SMALL_NAMES[1], String.valueOf(gamma), d, "-"));
        tandemRows.add(row(SMALL_NAMES[3], String.valueOf(gamma), t, String.format("%.2fx", t.against(d))));
        bestDistilled = Math.max(bestDistilled, d.speedup());
        if (t.speedup() > bestTandem) {
          bestTandem = t.speedup();
          bestGamma = gamma;
          bestRow = row("fixed gamma", String.valueOf(gamma), t, "1.00x");
        }
        System.err.printf("table 2: gamma %d done (distilled %.2fx, Tandem-Distil %.2fx)%n", gamma, d.speedup(),
            t.speedup());
      }
    }
    distilledRows.forEach(report::append);
    tandemRows.forEach(report::append);
    report.append(String.format("%nBest against best: Tandem-Distil %.2fx, the distilled drafter %.2fx (%.2fx).%n",
        bestTandem, bestDistilled, bestTandem / bestDistilled));

    report.append("\n## Tables 4 and 5: the router against the best fixed gamma\n\nTandem-Distil secondary, same"
        + " prompts; each router setting is measured ").append(repeats).append(" times, a repeat running the primary"
        + " alone, then Tandem-Distil at the best fixed gamma of Table 2 (").append(bestGamma).append("), then with the"
        + " router, so the router's ratio to the fixed gamma is taken side by side (median of the per-repeat ratios)."
        + " The paper's rule stops drafting when the predicted disagreement (total-variation distance to the primary)"
        + " exceeds the threshold; gamma_max ").append(gammaMax).append(". The first router row uses the rule and"
        + " threshold stored with the router (`tandem train router` chooses them). The survival rule (ours) stops when"
        + " the product of (1 - predicted disagreement) over the round's drafts falls below its threshold.\n\n")
        .append(String.format(header, "policy", "vs fixed gamma " + bestGamma, "secondary"));
    report.append(bestRow);
    RouterConfig storedConfig = RouterWeights.load(dir.resolve("router")).config();
    float stored = (float) storedConfig.threshold();
    RouterPolicy.Rule storedRule = RouterPolicy.storedRule(storedConfig);
    record Setting(String name, float threshold, RouterPolicy.Rule rule) {}
    List<Setting> settings = new ArrayList<>();
    settings.add(new Setting(String.format("router as stored (%s rule, threshold %.3f)", storedConfig.stopRule(), stored),
        stored, storedRule));
    for (float t : routerThresholds) {
      if (t != stored || storedRule != RouterPolicy.Rule.TOKEN) {
        settings.add(new Setting(String.format("router, threshold %.2f", t), t, RouterPolicy.Rule.TOKEN));
      }
    }
    for (float t : survivalThresholds) {
      if (t != stored || storedRule != RouterPolicy.Rule.SURVIVAL) {
        settings.add(new Setting(String.format("router, survival rule, threshold %.2f", t), t, RouterPolicy.Rule.SURVIVAL));
      }
    }
    try (Engine fixed = engine(setups[3], backend, bestGamma, null, null, null, context)) {
      for (Setting setting : settings) {
        try (Engine speed = engine(setups[3], backend, null, dir.resolve("router"), setting.threshold(), setting.rule(),
            context)) {
          List<Measured> m = measure(primary, List.of(fixed, speed), prompts, reference);
          Measured router = m.get(1);
          report.append(row(setting.name(), "<= " + gammaMax, router,
              String.format("%.2fx", router.against(m.get(0)))));
          System.err.printf("tables 4/5: %s done (%.2fx the fixed gamma)%n", setting.name(), router.against(m.get(0)));
        }
      }
    }
  }
}
