package dev.tandem.cli;

import dev.tandem.api.CompletionRequests;
import dev.tandem.backend.Backend;
import dev.tandem.backend.BackendProvider;
import dev.tandem.checkpoint.LoadedModel;
import dev.tandem.engine.Engine;
import dev.tandem.server.ApiServer;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code tandem serve}: the OpenAI-compatible HTTP server on the engine. */
@Command(name = "serve", mixinStandardHelpOptions = true,
    description = "Serve the model over HTTP with the OpenAI API: POST /v1/completions and /v1/chat/completions (with"
        + " stream: true as server-sent events), GET /v1/models, /health, /metrics (Prometheus, vLLM's names under"
        + " tandem:), and a playground page at /. SIGTERM or Ctrl-C stops it gracefully.")
public final class ServeCommand implements Callable<Integer> {
  @Mixin EngineOptions engine;

  @Option(names = "--host", defaultValue = "127.0.0.1",
      description = "Address to listen on (default: ${DEFAULT-VALUE}, this machine only; 0.0.0.0 for every interface).")
  String host;

  @Option(names = "--port", defaultValue = "8000", description = "Port (default: ${DEFAULT-VALUE}; 0: any free one).")
  int port;

  @Option(names = "--served-model-name", description = "The model name clients give (default: the model's directory"
      + " or file name).")
  String modelName;

  @Option(names = "--max-concurrency", defaultValue = "16",
      description = "Requests running at once in the engine's batch (default: ${DEFAULT-VALUE}).")
  int maxConcurrency;

  @Option(names = "--max-queue", defaultValue = "256",
      description = "Requests waiting for a slot at most; beyond that a request gets 429 (default: ${DEFAULT-VALUE}).")
  int maxQueue;

  @Option(names = "--api-key", description = "Require 'Authorization: Bearer KEY' on /v1/* (401 otherwise). Default:"
      + " the TANDEM_API_KEY environment variable, or none.")
  String apiKey;

  @Option(names = "--max-body-bytes", defaultValue = "4194304",
      description = "Largest request body taken; larger ones get 413 (default: ${DEFAULT-VALUE}).")
  long maxBodyBytes;

  @Option(names = "--grace-period", defaultValue = "30",
      description = "Seconds a shutdown (SIGTERM) lets running requests finish before cancelling them (default:"
          + " ${DEFAULT-VALUE}).")
  int graceSeconds;

  @Mixin DeviceOptions device;

  @Override
  public Integer call() throws Exception {
    if (maxConcurrency < 1 || maxConcurrency > 1024) {
      throw new IllegalArgumentException("--max-concurrency must be in [1, 1024], got " + maxConcurrency);
    }
    if (maxQueue < 0) throw new IllegalArgumentException("--max-queue must be >= 0, got " + maxQueue);
    if (graceSeconds < 0) throw new IllegalArgumentException("--grace-period must be >= 0, got " + graceSeconds);
    String key = apiKey != null ? apiKey : System.getenv("TANDEM_API_KEY");
    if (key != null && key.isBlank()) key = null;
    LoadedModel primary = engine.loadPrimary();
    String name = modelName != null ? modelName : engine.defaultModelName();
    Backend backend = device.backend();
    Engine e = engine.builder(primary, maxConcurrency).maxWaiting(maxQueue).backend(backend).build();
    CompletionRequests parser = new CompletionRequests(primary.tokenizer(), primary.defaults(), e.contextLength(), name,
        primary.weights().config().vocabSize());
    ApiServer server = new ApiServer(e, parser, new ApiServer.Options(host, port, key, maxBodyBytes));
    Duration grace = Duration.ofSeconds(graceSeconds);
    server.start();
    // Once listening (a failed start, such as a port in use, exits 1 as usual), SIGTERM and Ctrl-C stop
    // gracefully, then end the process with status 0 (a shutdown hook that returned would leave the
    // JVM's 143).
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      System.err.println("tandem serve: shutting down (grace period " + graceSeconds + " s)");
      server.shutdown(grace);
      backend.close();
      System.err.println("tandem serve: stopped");
      System.err.flush();
      System.out.flush();
      Runtime.getRuntime().halt(0);
    }, "tandem-shutdown"));
    System.err.println("tandem serve: " + e.description() + ", " + BackendProvider.describe(backend) + ", model name '"
        + name + "', " + maxConcurrency + " at once, queue " + maxQueue + (key != null ? ", API key required" : ""));
    System.out.println("tandem serve: listening on " + server.uri() + "  (playground: " + server.uri()
        + ", API: " + server.uri() + "v1)");
    System.out.flush();
    server.join();
    return 0;
  }
}
