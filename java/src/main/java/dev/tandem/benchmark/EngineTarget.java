package dev.tandem.benchmark;

import dev.tandem.engine.Engine;
import dev.tandem.engine.GenerationRequest;
import dev.tandem.engine.GenerationResult;
import dev.tandem.engine.TokenStream;
import java.util.concurrent.CompletableFuture;

/** The serving benchmark's requests to an engine in this process (its own thread runs the steps). */
public final class EngineTarget implements ServeBenchmark.Target {
  private final Engine engine;

  public EngineTarget(Engine engine) {
    this.engine = engine;
    engine.start();
  }

  @Override
  public CompletableFuture<ServeBenchmark.Outcome> send(GenerationRequest request, ServeBenchmark.TokenTimes onTokens) {
    TokenStream stream = (token, drafted, text) -> {
      if (token >= 0) onTokens.arrived(1, System.nanoTime());
    };
    return engine.submit(request, stream).result()
        .thenApply((GenerationResult r) -> new ServeBenchmark.Outcome(r.promptTokens(), r.tokens().length, r.metrics()));
  }
}
