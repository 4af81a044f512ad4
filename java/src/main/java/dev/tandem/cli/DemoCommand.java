package dev.tandem.cli;

import dev.tandem.backend.Backend;
import dev.tandem.backend.BackendProvider;
import dev.tandem.engine.GenerationRequest;
import dev.tandem.sampling.SamplingParams;
import dev.tandem.spec.BlockLengthPolicy;
import dev.tandem.spec.SpeculativeGenerator;
import dev.tandem.tokenizer.Tokenizer;
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

  @Option(names = "--max-tokens", defaultValue = "64", description = "New tokens per prompt (default: 64).")
  int maxTokens;

  @Option(names = "--gamma", defaultValue = "4", description = "Drafts per round for SPEED (default: 4).")
  int gamma;

  @Mixin DeviceOptions device;

  @Override
  public Integer call() throws Exception {
    if (maxTokens < 2) throw new IllegalArgumentException("--max-tokens must be >= 2");
    Path dir = models != null ? models : Path.of(System.getProperty("tandem.home", "."), "models", "demo");
    for (String name : new String[] {"primary", "drafter-distil", "tandem-distil"}) {
      if (!Files.isDirectory(dir.resolve(name))) {
        throw new IllegalArgumentException("the demo models are missing: " + dir.resolve(name) + " does not exist"
            + " (models/demo is part of the repository; see models/demo/MODEL_CARD.md to rebuild them)");
      }
    }
    PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    SpeedSetup distilled = SpeedSetup.load(dir.resolve("primary"), dir.resolve("drafter-distil"));
    SpeedSetup tandem = SpeedSetup.load(dir.resolve("primary"), dir.resolve("tandem-distil"));
    Tokenizer tokenizer = distilled.primary.tokenizer();
    if (tokenizer == null) throw new IllegalArgumentException(dir.resolve("primary") + " has no tokenizer.json");
    int context = distilled.contextLength(null, 4096);
    List<GenerationRequest> requests = new ArrayList<>();
    for (int i = 0; i < PROMPTS.length; i++) {
      String text = i == 0 && prompt != null ? prompt : PROMPTS[i];
      requests.add(new GenerationRequest(tokenizer.encode(text), maxTokens, SamplingParams.greedy(), -1, i));
    }
    try (Backend backend = device.backend()) {
      out.printf("tandem demo: models from %s (trained by this project: see %s), %s%n", dir,
          dir.resolve("MODEL_CARD.md"), BackendProvider.describe(backend));
      SpeedComparison.Run primary = SpeedComparison.primaryAlone(backend, distilled.primary.weights(), context,
          requests);
      out.printf("%nprompt: %s%nprimary, greedy: %s%n", tokenizer.decode(requests.getFirst().prompt()),
          tokenizer.decode(primary.tokens().getFirst()).strip());
      BlockLengthPolicy policy = BlockLengthPolicy.fixed(gamma);
      SpeedComparison.Run withDrafter, withTandem;
      try (SpeculativeGenerator speed = distilled.generator(backend, policy, context, requests.size(), 64, false)) {
        withDrafter = SpeedComparison.speed(speed, requests);
      }
      try (SpeculativeGenerator speed = tandem.generator(backend, policy, context, requests.size(), 64, false)) {
        withTandem = SpeedComparison.speed(speed, requests);
      }
      out.printf("%n%d prompts x %d new tokens, greedy, batch of %d, gamma %d; decode tokens/s measured in this run%n",
          requests.size(), maxTokens, requests.size(), gamma);
      out.printf("%-36s %12s %9s %15s %10s%n", "", "tokens/s", "speedup", "mean accepted", "identical");
      out.printf("%-36s %12.1f %9s %15s %10s%n", "primary alone", primary.tokensPerSecond(), "1.00x", "-", "-");
      row(out, "SPEED, distilled drafter", withDrafter, primary);
      row(out, "SPEED, Tandem-Distil secondary", withTandem, primary);
    }
    return 0;
  }

  private static void row(PrintStream out, String name, SpeedComparison.Run run, SpeedComparison.Run primary) {
    out.printf("%-36s %12.1f %8.2fx %15.2f %10s%n", name, run.tokensPerSecond(),
        run.tokensPerSecond() / primary.tokensPerSecond(), run.metrics().meanAcceptedLength(),
        SpeedComparison.identical(run, primary) ? "yes" : "NO");
  }
}
