package dev.tandem.engine;

import java.util.concurrent.CompletableFuture;

/**
 * A submitted request: its result when it completes, and a way to cancel it. Tokens stream to the
 * {@link TokenStream} given at submission.
 */
public final class RequestHandle {
  private final long id;
  private final GenerationRequest request;
  private final Engine engine;
  private final CompletableFuture<GenerationResult> result = new CompletableFuture<>();

  RequestHandle(long id, GenerationRequest request, Engine engine) {
    this.id = id;
    this.request = request;
    this.engine = engine;
  }

  /** The engine's number for this request (in submission order). */
  public long id() { return id; }

  public GenerationRequest request() { return request; }

  /** Completes when the request finishes, for any reason (cancellation gives {@link FinishReason#CANCELLED}). */
  public CompletableFuture<GenerationResult> result() { return result; }

  /** Asks the engine to stop this request; its slot is freed at the next step. Idempotent. */
  public void cancel() {
    engine.cancel(this);
  }

  public boolean isDone() {
    return result.isDone();
  }

  void complete(GenerationResult r) {
    result.complete(r);
  }
}
