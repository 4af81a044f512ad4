package dev.tandem.cli;

import dev.tandem.api.CompletionRequests;
import dev.tandem.backend.Backend;
import dev.tandem.backend.BackendProvider;
import dev.tandem.batch.BatchRunner;
import dev.tandem.checkpoint.LoadedModel;
import dev.tandem.engine.Engine;
import dev.tandem.train.Progress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code tandem batch}: offline batch inference over a JSONL file in the OpenAI Batch API's format. */
@Command(name = "batch", mixinStandardHelpOptions = true,
    description = "Run a JSONL file of OpenAI Batch API requests (custom_id, body with prompt or messages) through the"
        + " engine; one result line per request, in input order. Killed and run again with the same --output, it"
        + " goes on where it stopped.")
public final class BatchCommand implements Callable<Integer> {
  @Mixin EngineOptions engine;

  @Option(names = "--input", required = true, description = "Requests, one JSON object per line.")
  Path input;

  @Option(names = "--output", required = true, description = "Results, one JSON object per line (appended to on resume).")
  Path output;

  @Option(names = "--concurrency", defaultValue = "8", description = "Requests running at once (default: 8).")
  int concurrency;

  @Option(names = "--served-model-name", description = "The model name requests may give (default: the model's"
      + " directory or file name).")
  String modelName;

  @Mixin DeviceOptions device;

  @Override
  public Integer call() throws Exception {
    if (concurrency < 1 || concurrency > 1024) {
      throw new IllegalArgumentException("--concurrency must be in [1, 1024], got " + concurrency);
    }
    if (!Files.isRegularFile(input)) throw new IllegalArgumentException("input file not found: " + input);
    if (Files.isDirectory(output)) throw new IllegalArgumentException("--output " + output + " is a directory");
    Path parent = output.toAbsolutePath().getParent();
    if (parent != null && !Files.isDirectory(parent)) {
      throw new IllegalArgumentException("the directory of --output does not exist: " + parent);
    }
    LoadedModel primary = engine.loadPrimary();
    String name = modelName != null ? modelName : engine.defaultModelName();
    try (Backend backend = device.backend();
        Engine e = engine.builder(primary, concurrency).backend(backend).build()) {
      System.err.println("tandem batch: " + e.description() + ", " + BackendProvider.describe(backend));
      CompletionRequests parser = new CompletionRequests(primary.tokenizer(), primary.defaults(), e.contextLength(), name,
          primary.weights().config().vocabSize());
      BatchRunner runner = new BatchRunner(e, parser, 2 * concurrency);
      int lines = BatchRunner.countRequests(input);
      BatchRunner.Summary s = runner.run(input, output, Progress.stderr("batch", lines));
      System.err.printf(Locale.ROOT, "tandem batch: %d requests (%d already in %s), %d succeeded, %d failed; %d tokens in"
          + " %.1f s (%.1f tokens/s), mean accepted length %.2f%n", s.lines(), s.resumedAfter(), output,
          s.succeeded(), s.failed(), s.completionTokens(), s.seconds(),
          s.completionTokens() / Math.max(s.seconds(), 1e-9), s.speculation().meanAcceptedLength());
    }
    return 0;
  }
}
