package dev.tandem.backend;

/**
 * A row-major matrix {@code [rows][cols]} owned by a {@link Backend}: a weight matrix, a norm gain
 * ({@code [1][cols]}) or an activation buffer. Activation buffers are allocated once with a row
 * capacity; an operation works on their first {@code n} rows.
 */
public interface Tensor {
  int rows();

  int cols();

  /** A short name for error messages and profiles, e.g. {@code layers.3.wq}. */
  String name();
}
