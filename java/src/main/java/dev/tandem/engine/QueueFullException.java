package dev.tandem.engine;

/** The engine's waiting queue is full: the request was not taken (HTTP 429). */
public final class QueueFullException extends RuntimeException {
  public QueueFullException(int limit) {
    super("the engine's queue is full (" + limit + " requests waiting); try again later");
  }
}
