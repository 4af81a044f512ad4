package dev.tandem.engine;

/** Receives tokens as they are generated (streaming output). */
@FunctionalInterface
public interface TokenListener {
  void onToken(int request, int token);

  TokenListener NONE = (request, token) -> {};
}
