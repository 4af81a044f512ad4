package dev.tandem.cli;

import dev.tandem.benchmark.SpeedComparison;
import dev.tandem.backend.Backend;
import dev.tandem.backend.BackendProvider;
import dev.tandem.engine.GenerationRequest;
import dev.tandem.sampling.SamplingParams;
import dev.tandem.engine.Engine;
import dev.tandem.engine.EngineBuilder;
import dev.tandem.engine.SpeculationPolicy;
import dev.tandem.tokenizer.Tokenizer;
import dev.tandem.train.data.RecallTask;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code tandem demo}: the main job on the shipped demo models (models/demo, trained by the
 * project's own recipes): the primary continues a prompt, then the primary alone, SPEED with the
 * distilled drafter and SPEED with the Tandem-Distil secondary run on the same prompts in this
 * process, side by side.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
    description = "Generate with the demo models, then compare the primary alone with SPEED (same run).")
public final class DemoCommand implements Callable<Integer> {
  static final String[] PROMPTS = {
      "It is a truth universally acknowledged, that",
      "And God said unto Moses,",
      "Mr. Speaker, the state of the Union",
      "Emma was not sorry to",
  };

  @Option(names = "--models", description = "The demo models' directory (default: models/demo of the project).")
  Path models;

  @Option(names = "--prompt", description = "Prompt for the generated sample (default: the first demo prompt).")
  String prompt;

  @Option(names = "--task", defaultValue = "text", description = "text (default: the demo models of models/demo) or"
      + " recall (the associative-recall models of models/recall on held-out recall prompts that end inside the"
      + " repeat, where the one-layer Tandem secondary reads what the primary knows; models/recall/MODEL_CARD.md).")
  String task;

  @Option(names = "--max-tokens", description = "New tokens per prompt (default: 64; recall: 56).")
  Integer maxTokensOption;

  private int maxTokens;

  @Option(names = "--repeats", defaultValue = "3", description = "Measured rounds after one warm-up round (default: 3).")
  int repeats;

  @Option(names = "--batch", description = "Run the prompts as one batch (default: one at a time, batch 1, where"
      + " speculation pays most).")
  boolean batch;

  @Option(names = "--speculation", defaultValue = "ADAPTIVE", converter = SpeculationModeConverter.class,
      description = "adaptive (default: the engine's cost model chooses each round's drafts, zero included) or fixed"
          + " (every round drafts --gamma; the default with --task recall).")
  SpeculationPolicy.Mode speculation;

  @Option(names = "--gamma", description = "Drafts per round for SPEED (default: 4).")
  Integer gammaOption;

  private int gamma;

  @Mixin DeviceOptions device;

  @picocli.CommandLine.Spec picocli.CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    if (!task.equals("text") && !task.equals("recall")) {
      throw new IllegalArgumentException("--task must be text or recall, got " + task);
    }
    boolean recall = task.equals("recall");
    maxTokens = maxTokensOption != null ? maxTokensOption : recall ? 56 : 64;
    gamma = gammaOption != null ? gammaOption : 4;
    // Recall: fixed speculation unless asked otherwise (on these small models the adaptive policy's cost model
    // drafts nothing, which would hide what the secondary predicts; bench/PAPER-RECALL.md measures fixed gamma).
    if (recall && !spec.commandLine().getParseResult().hasMatchedOption("--speculation")) {
      speculation = SpeculationPolicy.Mode.FIXED;
    }
    if (maxTokens < 2) throw new IllegalArgumentException("--max-tokens must be >= 2");
    if (repeats < 1) throw new IllegalArgumentException("--repeats must be >= 1");
    if (gamma < 1) throw new IllegalArgumentException("--gamma must be >= 1");
    Path dir = models != null ? models
        : Path.of(System.getProperty("tandem.home", "."), "models", recall ? "recall" : "demo");
    for (String name : new String[] {"primary", "drafter-distil", "tandem-distil"}) {
      if (!Files.isDirectory(dir.resolve(name))) {
        throw new IllegalArgumentException("the demo models are missing: " + dir.resolve(name) + " does not exist"
            + " (" + (recall ? "models/recall" : "models/demo") + " is part of the repository; see its MODEL_CARD.md to"
            + " rebuild them)");
      }
    }
    PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    EngineBuilder distilled = EngineBuilder.load(dir.resolve("primary")).drafter(dir.resolve("drafter-distil"));
    EngineBuilder tandem = EngineBuilder.load(dir.resolve("primary")).drafter(dir.resolve("tandem-distil"));
    Tokenizer tokenizer = distilled.tokenizer();
    if (tokenizer == null) throw new IllegalArgumentException(dir.resolve("primary") + " has no tokenizer.json");
    int context = distilled.contextLength();
    List<GenerationRequest> requests = new ArrayList<>();
    if (recall) {
      // Held-out sequences (a seed never used in training), cut inside the repeat: the marker, the pairs and the
      // repeat's first 7 words; the primary continues the repeat from there (within the line's 128 tokens).
      List<String> lines = RecallTask.generate(RecallTask.DEFAULTS, RecallTask.PROMPT_SEED, PROMPTS.length);
      for (int i = 0; i < lines.size(); i++) {
        int[] line = tokenizer.encode(i == 0 && prompt != null ? prompt : lines.get(i));
        requests.add(new GenerationRequest(i == 0 && prompt != null ? line : RecallTask.prompt(line, 7), maxTokens,
            SamplingParams.greedy(), -1, i));
      }
    } else {
      for (int i = 0; i < PROMPTS.length; i++) {
        String text = i == 0 && prompt != null ? prompt : PROMPTS[i];
        requests.add(new GenerationRequest(tokenizer.encode(text), maxTokens, SamplingParams.greedy(), -1, i));
      }
    }
    try (Backend backend = device.backend()) {
      out.printf("tandem demo: models from %s (trained by this project: see %s), %s%n", dir,
          dir.resolve("MODEL_CARD.md"), BackendProvider.describe(backend));
      // One warm-up round (compilation, first allocations), then `repeats` rounds of the three runs side by
      // side; each figure is the median over the rounds, each speedup the median of the per-round ratios.
      double[][] rates = new double[3][repeats];
      SpeedComparison.Run[] first = new SpeedComparison.Run[3];
      int slots = batch ? requests.size() : 1;
      try (Engine primaryAlone = SpeedComparison.primaryEngine(backend, distilled.primaryWeights(), context, slots);
           Engine withDrafter = distilled.gamma(gamma).speculation(speculation).backend(backend).slots(slots).build();
           Engine withTandem = tandem.gamma(gamma).speculation(speculation).backend(backend).slots(slots).build()) {
        for (int round = -1; round < repeats; round++) {
          SpeedComparison.Run[] runs = {run(primaryAlone, requests), run(withDrafter, requests),
              run(withTandem, requests)};
          if (round < 0) continue;
          for (int i = 0; i < 3; i++) {
            rates[i][round] = runs[i].tokensPerSecond();
            if (round == 0) first[i] = runs[i];
          }
        }
      }
      SpeedComparison.Run primary = first[0];
      out.printf("%nprompt: %s%nprimary, greedy: %s%n", tokenizer.decode(requests.getFirst().prompt()),
          tokenizer.decode(primary.tokens().getFirst()).strip());
      out.printf("%n%d prompts x %d new tokens, greedy, %s, gamma %d (%s); decode tokens/s, median of %d rounds measured in"
          + " this run (after a warm-up round)%n", requests.size(), maxTokens,
          batch ? "as one batch of " + requests.size() : "one at a time (batch 1)", gamma,
          speculation == SpeculationPolicy.Mode.ADAPTIVE ? "at most, adaptive" : "fixed", repeats);
      out.printf("%-36s %12s %9s %15s %10s%n", "", "tokens/s", "speedup", "mean accepted", "identical");
      out.printf("%-36s %12.1f %9s %15s %10s%n", "primary alone", SpeedComparison.median(rates[0]), "1.00x", "-", "-");
      row(out, "SPEED, distilled drafter", first[1], rates[1], rates[0], primary);
      row(out, "SPEED, Tandem-Distil secondary", first[2], rates[2], rates[0], primary);
      if (!recall) {
        out.printf("%nAlso: ./tandem demo --task recall, the same table on associative recall, where a one-layer Tandem"
            + " secondary reads what the primary knows (models/recall/MODEL_CARD.md)%n");
      }
    }
    return 0;
  }

  private static void row(PrintStream out, String name, SpeedComparison.Run run, double[] rates, double[] primaryRates,
      SpeedComparison.Run primary) {
    double[] ratios = new double[rates.length];
    for (int r = 0; r < rates.length; r++) ratios[r] = rates[r] / primaryRates[r];
    out.printf("%-36s %12.1f %8.2fx %15.2f %10s%n", name, SpeedComparison.median(rates), SpeedComparison.median(ratios),
        run.metrics().meanAcceptedLength(), SpeedComparison.identical(run, primary) ? "yes" : "NO");
  }

  /** An engine over the requests: together (--batch) or one at a time; metrics and tokens/s over all. */
  private SpeedComparison.Run run(Engine engine, List<GenerationRequest> requests) {
    return batch ? SpeedComparison.run(engine, requests) : SpeedComparison.runEach(engine, requests);
  }
}
