package dev.tandem.backend.cpu;

import dev.tandem.backend.StoredMatrix;
import dev.tandem.backend.Tensor;

/**
 * A weight matrix of the CPU backend kept in its stored format (BF16, F16, Q8_0, Q4_0, Q4_K, Q6_K):
 * the matrix products read the packed bytes ({@link StoredOps}), the embedding lookup dequantizes one
 * row. No fp32 copy exists.
 */
record CpuStoredTensor(StoredMatrix matrix) implements Tensor {
  @Override public int rows() { return matrix.rows(); }
  @Override public int cols() { return matrix.cols(); }
  @Override public String name() { return matrix.name(); }
}
