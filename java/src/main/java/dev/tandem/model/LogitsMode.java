package dev.tandem.model;

/** Which rows of a forward pass get logits. */
public enum LogitsMode {
  /** No logits (a prefill chunk that is not the last). */
  NONE,
  /** The last row of each sequence: logits row s belongs to sequence s (prefill, plain decoding). */
  LAST,
  /** Every row: logits row i belongs to batch row i (verification blocks). */
  ALL
}
