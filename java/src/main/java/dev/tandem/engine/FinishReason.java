package dev.tandem.engine;

/** Why a request stopped generating. */
public enum FinishReason {
  /** max tokens reached */
  LENGTH,
  /** a stop token or a stop string was generated */
  STOP,
  /** the context (KV cache) is full */
  CONTEXT,
  /** the client cancelled the request */
  CANCELLED;

  /** The OpenAI API's finish_reason for this reason. */
  public String openAiName() {
    return switch (this) {
      case LENGTH, CONTEXT -> "length";
      case STOP -> "stop";
      case CANCELLED -> "abort";
    };
  }
}
