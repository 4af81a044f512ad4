package dev.tandem.server;

import dev.tandem.engine.GenerationResult;
import dev.tandem.engine.TokenStream;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Carries one HTTP request's output from the engine's thread to the thread that writes the response:
 * the engine's {@link TokenStream} callbacks only enqueue (they must be quick, a slow one delays the
 * whole batch), and the response thread takes what has arrived and writes it in one go.
 */
final class ResponseStream {
  /** Something for choice {@code index}: a token (id -1: text released at the end) or the finish. */
  sealed interface Event permits Token, Finish {
    int index();
  }

  record Token(int index, int id, boolean drafted, String text) implements Event {}

  record Finish(int index, GenerationResult result) implements Event {}

  private final LinkedBlockingQueue<Event> queue = new LinkedBlockingQueue<>();
  final ServerMetrics.ServedRequest served = new ServerMetrics.ServedRequest();

  /** The engine stream of choice {@code index}. */
  TokenStream choice(int index) {
    return new TokenStream() {
      @Override
      public void onToken(int token, boolean drafted, String text) {
        if (token >= 0) served.gotTokens = true;
        queue.add(new Token(index, token, drafted, text));
      }

      @Override
      public void onFinish(GenerationResult result) {
        queue.add(new Finish(index, result));
      }
    };
  }

  /** Waits up to {@code millis} for events and moves every one that has arrived to {@code into}. */
  void take(List<Event> into, long millis) throws InterruptedException {
    Event first = queue.poll(millis, TimeUnit.MILLISECONDS);
    if (first == null) return;
    into.add(first);
    queue.drainTo(into);
  }
}
