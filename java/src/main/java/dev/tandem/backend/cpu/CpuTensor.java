package dev.tandem.backend.cpu;

import dev.tandem.backend.Tensor;

/**
 * A tensor of the CPU backend: a float array holding {@code [rows][cols]}, either row-major or,
 * for weight matrices of the fast path, packed in column panels ({@link VectorOps#packPanels}:
 * the matrix products stream it front to back).
 */
public record CpuTensor(String name, float[] data, int rows, int cols, boolean packed) implements Tensor {
  public CpuTensor {
    if (!packed && (long) rows * cols > data.length) {
      throw new IllegalArgumentException(name + ": " + rows + "x" + cols + " does not fit " + data.length + " floats");
    }
  }

  /** Element (row, col), whatever the layout. */
  float get(int row, int col) {
    return packed ? VectorOps.packedElement(data, cols, row, col) : data[row * cols + col];
  }

  /** The row-major data of an activation (packed tensors are weights, never read this way). */
  float[] rowMajor() {
    if (packed) throw new IllegalStateException(name + " is packed in panels; it has no row-major data");
    return data;
  }

  static CpuTensor of(Tensor t) {
    if (t instanceof CpuTensor c) return c;
    throw new IllegalArgumentException("tensor " + t.name() + " does not belong to the CPU backend");
  }
}
