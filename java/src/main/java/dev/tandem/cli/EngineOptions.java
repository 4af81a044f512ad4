package dev.tandem.cli;

import dev.tandem.checkpoint.LoadedModel;
import dev.tandem.checkpoint.ModelLoader;
import dev.tandem.engine.EngineBuilder;
import dev.tandem.engine.SpeculationPolicy;
import dev.tandem.speculative.RouterPolicy;
import java.io.IOException;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The models and engine settings of the serving commands (batch, serve, bench serve). */
public final class EngineOptions {
  @Option(names = "--model", required = true, description = "The primary: a model directory or GGUF file.")
  Path model;

  @Option(names = "--drafter", description = "A drafter for SPEED: a tandem secondary or a plain draft model"
      + " (directory or GGUF file). Without one the engine decodes plainly.")
  Path drafter;

  @Option(names = "--gamma", description = "Most drafts per round with a fixed block length (default 4).")
  Integer gamma;

  @Option(names = "--router", description = "A router directory: adaptive block length up to --gamma-max.")
  Path router;

  @Option(names = "--gamma-max", description = "Most drafts per round with --router (default 8).")
  Integer gammaMax;

  @Option(names = "--router-threshold", description = "The router's threshold (default: its stored one).")
  Float routerThreshold;

  @Option(names = "--speculation", defaultValue = "ADAPTIVE", converter = SpeculationModeConverter.class,
      description = "adaptive (default: a cost model of this machine chooses each round's drafts, zero included, so"
          + " speculation never costs throughput) or fixed (every round drafts --gamma or what the router allows).")
  SpeculationPolicy.Mode speculation;

  @Option(names = "--context", description = "Context length (default: the models' maximum, at most 4096).")
  Integer context;

  @Option(names = "--max-num-batched-tokens", defaultValue = "" + EngineBuilder.DEFAULT_PREFILL_BUDGET,
      description = "Prompt tokens prefilled per step: long prompts are cut into chunks of this size between the"
          + " decoding rounds of running requests (default: ${DEFAULT-VALUE}).")
  int prefillBudget;

  @Option(names = "--kv-capacity", description = "KV positions the running requests may hold together (default:"
      + " max concurrency x context); when full, the newest request is preempted and recomputed later.")
  Integer kvCapacity;

  @Option(names = "--dtype", defaultValue = "fp32", description = "How weight matrices are held on the CPU: fp32"
      + " (default: converted at load) or stored (as in the checkpoint: BF16, F16, Q8_0, Q4_0, Q4_K, Q6_K; half or less"
      + " of the memory and faster decoding, but verification blocks cost more).")
  String dtype;

  LoadedModel loadPrimary() throws IOException {
    return ModelLoader.load(model, dev.tandem.model.WeightPrecision.parse(dtype));
  }

  /** A builder for the loaded primary with every option applied ({@code slots} requests at once). */
  EngineBuilder builder(LoadedModel primary, int slots) throws IOException {
    if (prefillBudget < 1 || prefillBudget > 65536) {
      throw new IllegalArgumentException("--max-num-batched-tokens must be in [1, 65536], got " + prefillBudget);
    }
    if (drafter == null && (gamma != null || router != null || gammaMax != null || routerThreshold != null)) {
      throw new IllegalArgumentException("--gamma, --router, --gamma-max and --router-threshold need --drafter");
    }
    EngineBuilder b = EngineBuilder.primary(primary).drafter(drafter, dev.tandem.model.WeightPrecision.parse(dtype))
        .gamma(gamma).context(context).slots(slots)
        .prefillBudget(prefillBudget).kvCapacity(kvCapacity).speculation(speculation);
    if (router != null || gammaMax != null || routerThreshold != null) {
      b.router(router, gammaMax, routerThreshold, (RouterPolicy.Rule) null);
    }
    return b;
  }

  /** The served model's name: the model directory's or file's name. */
  String defaultModelName() {
    return model.toAbsolutePath().normalize().getFileName().toString();
  }
}
