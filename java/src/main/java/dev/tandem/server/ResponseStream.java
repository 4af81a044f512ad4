package dev.tandem.server;

import dev.tandem.engine.GenerationResult;
import dev.tandem.engine.TokenStream;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/**
 * Carries one HTTP request's output from the engine's thread to the thread that writes the response.
 * The engine's {@link TokenStream} callbacks only enqueue (they must be quick: a slow one delays the
 * whole batch) and wake the response thread once per engine step ({@link #stepEnded}), not per token:
 * on a machine whose cores all compute, every wake-up of a response thread (and of its client) takes
 * a core from the engine's workers in the middle of a pass. A request's first token and its finish
 * wake it at once (time to first token, and a finish may come without a step end).
 */
final class ResponseStream {
  /** Something for choice {@code index}: a token (id -1: text released at the end) or the finish. */
  sealed interface Event permits Token, Finish {
    int index();
  }

  record Token(int index, int id, boolean drafted, String text) implements Event {}

  record Finish(int index, GenerationResult result) implements Event {}

  private final ConcurrentLinkedQueue<Event> queue = new ConcurrentLinkedQueue<>();
  private final Semaphore ready = new Semaphore(0);
  private volatile boolean pending;     // tokens queued since the last wake-up
  private volatile boolean anyToken;
  final ServerMetrics.ServedRequest served = new ServerMetrics.ServedRequest();

  /** The engine stream of choice {@code index}. */
  TokenStream choice(int index) {
    return new TokenStream() {
      @Override
      public void onToken(int token, boolean drafted, String text) {
        if (token >= 0) served.gotTokens = true;
        queue.add(new Token(index, token, drafted, text));
        if (!anyToken) {
          anyToken = true;
          wake();
        } else {
          pending = true;
        }
      }

      @Override
      public void onFinish(GenerationResult result) {
        queue.add(new Finish(index, result));
        wake();
      }
    };
  }

  /** The engine finished a step: wake the response thread if tokens came. Engine thread. */
  void stepEnded() {
    if (pending) {
      pending = false;
      wake();
    }
  }

  private void wake() {
    if (ready.availablePermits() == 0) ready.release();
  }

  /** Waits up to {@code millis} for a wake-up and moves every event that has arrived to {@code into}. */
  void take(List<Event> into, long millis) throws InterruptedException {
    ready.tryAcquire(millis, TimeUnit.MILLISECONDS);
    ready.drainPermits();
    for (Event e; (e = queue.poll()) != null; ) into.add(e);
  }
}
