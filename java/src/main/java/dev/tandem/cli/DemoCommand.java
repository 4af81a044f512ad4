package dev.tandem.cli;

import dev.tandem.backend.Backend;
import dev.tandem.backend.BackendProvider;
import dev.tandem.engine.GenerationRequest;
import dev.tandem.engine.GenerationResult;
import dev.tandem.engine.Generator;
import dev.tandem.engine.TokenListener;
import dev.tandem.model.Decoder;
import dev.tandem.model.LlamaConfig;
import dev.tandem.model.ModelWeights;
import dev.tandem.sampling.SamplingParams;
import dev.tandem.tokenizer.ByteLevelBpeTokenizer;
import dev.tandem.tokenizer.Tokenizer;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code tandem demo}: the main job on the shipped demo models. Until the trained demo models
 * exist, it runs a randomly initialised model and says so.
 */
@Command(name = "demo", mixinStandardHelpOptions = true, description = "Run the demo.")
public final class DemoCommand implements Callable<Integer> {
  @Option(names = "--prompt", defaultValue = "Once upon a time", description = "Prompt text.")
  String prompt;

  @Option(names = "--max-tokens", defaultValue = "48", description = "New tokens (default: 48).")
  int maxTokens;

  @Mixin DeviceOptions device;

  @Override
  public Integer call() throws Exception {
    PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    // A model shaped like a small Llama (about 30 M parameters, 120 MB in fp32) with a byte-level tokenizer.
    LlamaConfig config = new LlamaConfig(260, 512, 1536, 8, 8, 4, 10000.0, 1e-5, 1024, false, "float32");
    out.printf("tandem demo: the trained demo models are not in this build yet, so this runs a model with RANDOM"
        + " weights (%,d parameters, seed 7): its text is noise; the timings are real.%n", config.parameterCount());
    Tokenizer tokenizer = ByteLevelBpeTokenizer.bytes(List.of("<|endoftext|>"));
    ModelWeights weights = ModelWeights.random(config, 7, 0.5);
    int[] ids = tokenizer.encode(prompt);
    try (Backend backend = device.backend();
        Decoder decoder = new Decoder(weights, backend, config.maxPositionEmbeddings(), 64)) {
      Generator generator = new Generator(decoder);
      GenerationResult result = generator.generate(
          new GenerationRequest(ids, maxTokens, SamplingParams.greedy(), -1, 0), TokenListener.NONE);
      out.printf("prompt: %s%n", prompt);
      out.printf("greedy continuation (%d tokens): %s%n", result.tokens().length,
          tokenizer.decode(result.tokens()).replaceAll("\\p{Cntrl}", "?"));
      out.printf("%-26s %s%n", "backend", BackendProvider.describe(backend));
      out.printf("%-26s %.1f ms for %d tokens%n", "prefill", result.prefillNanos() / 1e6, ids.length);
      out.printf("%-26s %.1f tokens/s%n", "decode (primary alone)", result.decodeTokensPerSecond());
      out.println("SPEED with the tandem drafter: not built yet (see the open issues).");
    }
    return 0;
  }
}
